import { Queue, type QueueOptions, type RedisOptions } from 'bullmq';
import type { Env } from '../config/env.schema.js';

/**
 * How long a producer's command may wait for an answer, for when Redis stops answering without
 * closing the socket (a network partition): ioredis would otherwise wait for the OS to notice.
 */
const PRODUCER_COMMAND_TIMEOUT_MS = 5000;

/** Never gives up (a client that did would stay down after Redis came back): 1 s, 2 s, 4 s … 20 s apart. */
const reconnectDelay = (attempt: number): number => Math.min(1000 * 2 ** Math.max(0, attempt - 1), 20_000);

/**
 * For producers (every `Queue`: intake's and the sweep's adds, the readiness probe). Redis is only
 * the trigger and Postgres has the work, so an add that cannot reach Redis must fail at once and
 * leave it to the sweep, not wait in memory for the whole outage (BullMQ, "Failing fast when Redis
 * is down"): no offline queue, and a command in flight when the connection drops fails after one retry.
 *
 * `skipVersionCheck`: with `skipWaitingForReady` (see `producerQueueOptions`) the version check
 * would run while Redis is down, fail, and leave the queue broken after Redis came back. Workers
 * still check the version.
 */
export function producerConnection(env: Pick<Env, 'REDIS_URL'>): RedisOptions {
  return {
    url: env.REDIS_URL,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
    skipVersionCheck: true,
  };
}

/**
 * A producer queue's options. Without `skipWaitingForReady`, a queue created while Redis is down
 * holds every add until its first connection succeeds, whatever the connection options say.
 */
export function producerQueueOptions(env: Pick<Env, 'REDIS_URL' | 'REDIS_PREFIX'>): QueueOptions {
  return { connection: producerConnection(env), prefix: env.REDIS_PREFIX, skipWaitingForReady: true };
}

/**
 * For workers, which wait out an outage and carry on: BullMQ wants `maxRetriesPerRequest: null` on a
 * worker's connections (it forces it on the blocking one, with a warning), and the offline queue
 * stays on so that finishing a job survives a short blip.
 */
export function workerConnection(env: Pick<Env, 'REDIS_URL'>): RedisOptions {
  return { url: env.REDIS_URL, maxRetriesPerRequest: null, retryStrategy: reconnectDelay };
}

/** A `Queue` made with `producerQueueOptions`, with the two things those options need on top. */
export class ProducerQueue extends Queue {
  /**
   * Adds fail while the connection is still opening, as they do while Redis is down: at boot, wait
   * for the first attempt to end before the first add. True when connected; false when the attempt
   * failed or took longer than `timeoutMs` (adds then fail until Redis answers). Never rejects.
   */
  async waitForConnection(timeoutMs: number): Promise<boolean> {
    const client = await this.getBackend().client;
    if (client.status === 'ready') return true;
    return new Promise<boolean>((resolve) => {
      const settle = (connected: boolean) => () => {
        clearTimeout(timer);
        client.off('ready', onReady);
        client.off('close', onClose);
        resolve(connected);
      };
      const onReady = settle(true);
      const onClose = settle(false);
      const timer = setTimeout(onClose, timeoutMs);
      client.once('ready', onReady);
      client.once('close', onClose);
    });
  }

  /**
   * Also closes while Redis is down. Without the offline queue, BullMQ's `close()` cannot send QUIT:
   * it throws, and leaves the client reconnecting for ever (the process would not exit).
   */
  override async close(): Promise<void> {
    try {
      await super.close();
    } catch {
      (await this.getBackend().client).disconnect();
    }
  }
}
