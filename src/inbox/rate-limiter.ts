/**
 * A process-wide limit of `perSecond` request starts, as a sliding window: at most `capacity`
 * starts in any window. (A token bucket lets up to twice the limit through across a window
 * boundary; the platform counts per second.) Slots are reserved synchronously, so order is kept.
 */
export class SlidingWindowLimiter {
  private readonly starts: number[] = [];
  private readonly capacity: number;
  private readonly windowMs: number;

  constructor(
    perSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.capacity = Math.max(1, Math.round(perSecond));
    this.windowMs = (this.capacity / perSecond) * 1000;
  }

  async acquire(): Promise<void> {
    const wait = this.reserve();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }

  /** Reserves the next free start time and returns how many milliseconds away it is. */
  reserve(): number {
    const now = this.now();
    const oldest = this.starts.length >= this.capacity ? this.starts[this.starts.length - this.capacity] : undefined;
    const at = oldest === undefined ? now : Math.max(now, oldest + this.windowMs);
    this.starts.push(at);
    if (this.starts.length > this.capacity) this.starts.shift();
    return at - now;
  }
}
