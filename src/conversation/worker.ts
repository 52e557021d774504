import { Logger } from '@nestjs/common';
import { Worker, type Job } from 'bullmq';
import { safeError } from '../common/safe-error.js';
import type { Env } from '../config/env.schema.js';
import { workerConnection } from '../scheduler/redis-connection.js';

/**
 * A BullMQ worker built from the validated environment. Built here rather than by `@Processor`:
 * a worker needs its own connection (it waits out a Redis outage, where producers fail fast), and
 * its lock settings must be given at construction (set afterwards, the lock renewer never sees
 * them, and a lock shorter than the default renewal let a running job be taken for stalled).
 */
export function startWorker<T extends { conversationId: string }>(
  queue: string,
  env: Env,
  concurrency: number,
  handle: (job: Job<T>) => Promise<void>,
  logger: Logger,
): Worker<T> {
  const worker = new Worker<T>(queue, handle, {
    connection: workerConnection(env),
    prefix: env.REDIS_PREFIX,
    concurrency,
    lockDuration: env.WORKER_LOCK_DURATION,
    lockRenewTime: env.WORKER_LOCK_DURATION / 2,
    stalledInterval: env.WORKER_LOCK_DURATION,
  });
  worker.on('failed', (job, err) =>
    logger.error({ conversationId: job?.data.conversationId, attempt: job?.attemptsMade, err: safeError(err), msg: `${queue} job failed` }),
  );
  worker.on('error', (err) => logger.error({ err: safeError(err), msg: `${queue} worker error` }));
  return worker;
}
