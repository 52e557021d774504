import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import { safeError } from '../common/safe-error.js';
import { AppConfig } from '../config/app-config.js';
import { TurnService } from './turn.service.js';
import { JOBS, QUEUES, type TurnJobData } from '../scheduler/queues.js';

@Processor(QUEUES.turns, { autorun: false })
export class TurnProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(TurnProcessor.name);

  constructor(
    private readonly turns: TurnService,
    private readonly config: AppConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    configureWorker(this.worker, this.config.env.TURN_CONCURRENCY, this.config.env.WORKER_LOCK_DURATION);
  }

  async process(job: Job<TurnJobData>): Promise<void> {
    switch (job.name) {
      case JOBS.turn:
        return this.turns.run(job.data.conversationId);
      default:
        throw new Error(`unknown job "${job.name}" on queue ${QUEUES.turns}`);
    }
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job<TurnJobData> | undefined, err: Error): void {
    this.logger.error({ conversationId: job?.data.conversationId, attempt: job?.attemptsMade, err: safeError(err), msg: 'turn failed' });
  }
}

/**
 * Concurrency and stall detection come from the validated environment, which decorators cannot
 * see; so workers are created with `autorun: false`, configured here, then started.
 */
export function configureWorker(
  worker: { concurrency: number; opts: { lockDuration?: number; lockRenewTime?: number; stalledInterval?: number }; run(): Promise<void> },
  concurrency: number,
  lockMs: number,
): void {
  worker.concurrency = concurrency;
  worker.opts.lockDuration = lockMs;
  worker.opts.lockRenewTime = lockMs / 2;
  worker.opts.stalledInterval = lockMs;
  worker.run().catch((err: Error) => new Logger('Worker').error({ err: safeError(err), msg: 'worker stopped' }));
}
