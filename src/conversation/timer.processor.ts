import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import { safeError } from '../common/safe-error.js';
import { AppConfig } from '../config/app-config.js';
import { TimerService } from './timer.service.js';
import { JOBS, QUEUES, type TimerJobData } from '../scheduler/queues.js';
import { configureWorker } from './turn.processor.js';

@Processor(QUEUES.timers, { autorun: false })
export class TimerProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(TimerProcessor.name);

  constructor(
    private readonly timers: TimerService,
    private readonly config: AppConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    configureWorker(this.worker, this.config.env.TIMER_CONCURRENCY, this.config.env.WORKER_LOCK_DURATION);
  }

  async process(job: Job<TimerJobData>): Promise<void> {
    switch (job.name) {
      case JOBS.timer:
        return this.timers.fire(job.data.conversationId, job.data.dueAt);
      default:
        throw new Error(`unknown job "${job.name}" on queue ${QUEUES.timers}`);
    }
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job<TimerJobData> | undefined, err: Error): void {
    this.logger.error({ conversationId: job?.data.conversationId, attempt: job?.attemptsMade, err: safeError(err), msg: 'timer failed' });
  }
}
