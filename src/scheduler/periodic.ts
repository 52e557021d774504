/**
 * A round of work every `everyMs`, and one at start: never two at once in this process (a round
 * that outlasts the interval skips the next tick), a failing round reported and tried again at the
 * next tick, and `stop()` waits for the round in progress. Replicas keep to one round at a time
 * with an advisory lock of their own (the sweep, retention).
 */
export class Periodic {
  private interval?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly round: () => Promise<unknown>,
    private readonly failed: (err: unknown) => void,
  ) {}

  start(everyMs: number): void {
    this.interval = setInterval(() => this.trigger(), everyMs);
    this.interval.unref();
    this.trigger();
  }

  async stop(): Promise<void> {
    clearInterval(this.interval);
    this.interval = undefined;
    await this.running;
  }

  private trigger(): void {
    if (this.running) return;
    this.running = this.round()
      .catch(this.failed)
      .finally(() => (this.running = undefined));
  }
}
