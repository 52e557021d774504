import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Job, Worker } from 'bullmq';
import { AppConfig } from '../config/app-config.js';
import { JOBS, QUEUES, type TimerJobData } from '../scheduler/queues.js';
import { TimerService } from './timer.service.js';
import { startWorker } from './worker.js';

/** The timers queue's inbound adapter: a job carries a conversation id, the service re-reads Postgres. */
@Injectable()
export class TimerProcessor implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(TimerProcessor.name);
  private worker?: Worker<TimerJobData>;

  constructor(
    private readonly timers: TimerService,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.worker = startWorker(QUEUES.timers, this.config.env, this.config.env.TIMER_CONCURRENCY, (job) => this.process(job), this.logger);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.worker?.close();
  }

  async process(job: Job<TimerJobData>): Promise<void> {
    switch (job.name) {
      case JOBS.timer:
        return this.timers.fire(job.data.conversationId, job.data.dueAt);
      default:
        throw new Error(`unknown job "${job.name}" on queue ${QUEUES.timers}`);
    }
  }
}
