import { Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Worker, type Job } from 'bullmq';
import { safeError } from '../common/safe-error.js';
import type { AppConfig } from '../config/app-config.js';
import { workerConnection } from '../scheduler/redis-connection.js';

/**
 * A queue's inbound adapter: a BullMQ worker built from the validated environment, whose jobs carry
 * a conversation id (the service re-reads Postgres). Built here rather than by `@Processor`: a worker
 * needs its own connection (it waits out a Redis outage, where producers fail fast), and its lock
 * settings must be given at construction (set afterwards, the lock renewer never sees them, and a
 * lock shorter than the default renewal let a running job be taken for stalled and run twice).
 */
export abstract class QueueProcessor<T extends { conversationId: string }> implements OnApplicationBootstrap, OnApplicationShutdown {
  protected readonly logger = new Logger(this.constructor.name);
  private worker?: Worker<T>;

  protected constructor(
    private readonly queue: string,
    private readonly jobName: string,
    private readonly config: AppConfig,
    private readonly concurrency: (config: AppConfig) => number,
  ) {}

  /** Does the job's work; an error fails the attempt, and BullMQ retries it. */
  protected abstract handle(data: T): Promise<void>;

  onApplicationBootstrap(): void {
    const { env } = this.config;
    this.worker = new Worker<T>(this.queue, (job) => this.process(job), {
      connection: workerConnection(env),
      prefix: env.REDIS_PREFIX,
      concurrency: this.concurrency(this.config),
      lockDuration: env.WORKER_LOCK_DURATION,
      lockRenewTime: env.WORKER_LOCK_DURATION / 2,
      stalledInterval: env.WORKER_LOCK_DURATION,
    });
    this.worker.on('failed', (job, err) =>
      this.logger.error({ conversationId: job?.data.conversationId, attempt: job?.attemptsMade, err: safeError(err), msg: `${this.queue} job failed` }),
    );
    this.worker.on('error', (err) => this.logger.error({ err: safeError(err), msg: `${this.queue} worker error` }));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.worker?.close();
  }

  process(job: Job<T>): Promise<void> {
    if (job.name !== this.jobName) throw new Error(`unknown job "${job.name}" on queue ${this.queue}`);
    return this.handle(job.data);
  }
}
