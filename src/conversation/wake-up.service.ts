import { Injectable, Logger } from '@nestjs/common';
import { TimerQueue } from '../scheduler/timer-queue.js';
import { TurnQueue } from '../scheduler/turn-queue.js';

export interface WakeUp {
  /** The conversation's next deadline, for its timer job. */
  nextDeadline?: Date | null;
  /** The database's clock when `nextDeadline` was read. */
  now?: Date;
  /** When set, the conversation wants a turn after this many milliseconds. */
  turnDelay?: number;
}

/** How long a caller waits for Redis before going on anyway: what matters is safe in Postgres. */
const ENQUEUE_TIMEOUT_MS = 1000;

/**
 * The one post-commit wake-up: after a transaction commits, arm the conversation's next deadline
 * and ask for its turn. Redis is only the trigger; if it is slow or down, the scheduler's sweep
 * finds the same work in Postgres, so a failure here is logged and never thrown.
 */
@Injectable()
export class WakeUpService {
  private readonly logger = new Logger(WakeUpService.name);

  constructor(
    private readonly timers: TimerQueue,
    private readonly turns: TurnQueue,
  ) {}

  async after(conversationId: string, w: WakeUp): Promise<void> {
    if (!w.nextDeadline && w.turnDelay === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ENQUEUE_TIMEOUT_MS}ms`)), ENQUEUE_TIMEOUT_MS);
    });
    const work = Promise.all([
      w.nextDeadline ? this.timers.arm(conversationId, w.nextDeadline, { now: w.now }) : undefined,
      w.turnDelay !== undefined ? this.turns.requestTurn(conversationId, w.turnDelay) : undefined,
    ]);
    try {
      await Promise.race([work, timeout]);
    } catch (err) {
      this.logger.error({ conversationId, err: (err as Error).message, msg: 'could not enqueue; the sweep will re-arm from Postgres' });
    } finally {
      clearTimeout(timer);
    }
  }
}
