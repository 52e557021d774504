import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { JOBS, QUEUES, type TimerJobData } from '../scheduler/queues.js';
import { TimerService } from './timer.service.js';
import { QueueProcessor } from './worker.js';

@Injectable()
export class TimerProcessor extends QueueProcessor<TimerJobData> {
  constructor(
    private readonly timers: TimerService,
    config: AppConfig,
  ) {
    super(QUEUES.timers, JOBS.timer, config, (c) => c.env.TIMER_CONCURRENCY);
  }

  protected handle(data: TimerJobData): Promise<void> {
    return this.timers.fire(data.conversationId, data.dueAt);
  }
}
