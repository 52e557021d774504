import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { JOBS, QUEUES, timerJobOptions, type TimerJobData } from './queues.js';

/** Wakes the conversation's worker at a deadline; the worker re-reads the row and acts only on what is due. */
export abstract class TimerQueue {
  abstract arm(conversationId: string, dueAt: Date): Promise<void>;
  abstract armMany(timers: Array<{ conversationId: string; dueAt: Date }>): Promise<void>;
}

@Injectable()
export class BullTimerQueue extends TimerQueue {
  constructor(@InjectQueue(QUEUES.timers) private readonly queue: Queue<TimerJobData>) {
    super();
  }

  async arm(conversationId: string, dueAt: Date): Promise<void> {
    await this.queue.add(JOBS.timer, { conversationId }, timerJobOptions(conversationId, dueAt));
  }

  async armMany(timers: Array<{ conversationId: string; dueAt: Date }>): Promise<void> {
    if (timers.length === 0) return;
    await this.queue.addBulk(timers.map((t) => ({ name: JOBS.timer, data: { conversationId: t.conversationId }, opts: timerJobOptions(t.conversationId, t.dueAt) })));
  }
}
