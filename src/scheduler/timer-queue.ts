import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import type { Queue } from 'bullmq';
import { JOBS, QUEUES, timerJobOptions, type TimerJobData } from './queues.js';

/**
 * How far ahead the scheduler's sweep arms deadlines. The sweep runs every interval and arms all that
 * falls due within two, so each deadline gets its job at least one interval before it is due.
 */
export const sweepHorizonMs = (sweepIntervalMs: number) => 2 * sweepIntervalMs;

/** Wakes the conversation's worker at a deadline; the worker re-reads the row and acts only on what is due. */
export abstract class TimerQueue {
  /**
   * Arms a job for a deadline just written to Postgres when it is due within the sweep's horizon;
   * a later one is left to the sweep. Redis then holds only the near future: 100 000 contact
   * deadlines an hour away cost nothing there (bench/RESULTS.md, timers).
   */
  abstract arm(conversationId: string, dueAt: Date): Promise<void>;
  /** Arms every deadline given (the sweep has chosen them already). */
  abstract armMany(timers: Array<{ conversationId: string; dueAt: Date }>): Promise<void>;
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

  async arm(conversationId: string, dueAt: Date): Promise<void> {
    if (dueAt.getTime() - Date.now() > this.horizonMs) return;
    await this.queue.add(JOBS.timer, { conversationId }, timerJobOptions(conversationId, dueAt));
  }

  async armMany(timers: Array<{ conversationId: string; dueAt: Date }>): Promise<void> {
    if (timers.length === 0) return;
    await this.queue.addBulk(timers.map((t) => ({ name: JOBS.timer, data: { conversationId: t.conversationId }, opts: timerJobOptions(t.conversationId, t.dueAt) })));
  }
}
