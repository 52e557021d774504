import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { AppConfig } from '../config/app-config.js';
import { JOBS, QUEUES, timerJobId, timerJobOptions, type TimerJobData } from './queues.js';

/**
 * How far ahead the scheduler's sweep arms deadlines. The sweep runs every interval and arms all that
 * falls due within two, so each deadline gets its job at least one interval before it is due.
 */
export const sweepHorizonMs = (sweepIntervalMs: number) => 2 * sweepIntervalMs;

export interface ArmOptions {
  /** The database's clock when `dueAt` was read: delays count on it, not on this process's clock. */
  now?: Date;
  /** A suffix for a job armed for the same deadline from inside that deadline's own job. */
  again?: string;
}

/** Wakes the conversation's worker at a deadline; the worker re-reads the row and acts only on what is due. */
export abstract class TimerQueue {
  /**
   * Arms a job for a deadline just written to Postgres when it is due within the sweep's horizon;
   * a later one is left to the sweep. Redis then holds only the near future: 100 000 contact
   * deadlines an hour away cost nothing there (bench/RESULTS.md, timers).
   */
  abstract arm(conversationId: string, dueAt: Date, options?: ArmOptions): Promise<void>;
  /**
   * Arms every deadline given (the sweep has chosen them). A deadline already due whose job failed
   * all its attempts (PostgreSQL away too long) has that job retried: adding it again under the
   * same id would be ignored.
   */
  abstract armMany(timers: Array<{ conversationId: string; dueAt: Date }>, now: Date): Promise<void>;
}

@Injectable()
export class BullTimerQueue extends TimerQueue {
  private readonly horizonMs: number;

  constructor(
    @InjectQueue(QUEUES.timers) private readonly queue: Queue<TimerJobData>,
    config: AppConfig,
  ) {
    super();
    this.horizonMs = sweepHorizonMs(config.env.SCHEDULER_SWEEP_INTERVAL);
  }

  async arm(conversationId: string, dueAt: Date, options: ArmOptions = {}): Promise<void> {
    const now = options.now ?? new Date();
    if (dueAt.getTime() - now.getTime() > this.horizonMs) return;
    await this.queue.add(JOBS.timer, { conversationId, dueAt: dueAt.getTime() }, timerJobOptions(conversationId, dueAt, now, options.again));
  }

  async armMany(timers: Array<{ conversationId: string; dueAt: Date }>, now: Date): Promise<void> {
    if (timers.length === 0) return;
    const overdue = timers.filter((t) => t.dueAt <= now);
    for (const t of overdue) {
      const job = await this.queue.getJob(timerJobId(t.conversationId, t.dueAt));
      if (job && (await job.isFailed())) await job.retry('failed');
    }
    await this.queue.addBulk(
      timers.map((t) => ({ name: JOBS.timer, data: { conversationId: t.conversationId, dueAt: t.dueAt.getTime() }, opts: timerJobOptions(t.conversationId, t.dueAt, now) })),
    );
  }
}
