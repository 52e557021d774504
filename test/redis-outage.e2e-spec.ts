import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Worker } from 'bullmq';
import { ProducerQueue, producerQueueOptions, workerConnection } from '../src/scheduler/redis-connection.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A loopback port nothing listens on: taken from the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const prefix = () => `iva-outage-${randomBytes(4).toString('hex')}`;

describe('Redis connections', () => {
  const closers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  it('rejects a producer’s add while Redis is down, instead of holding it for the whole outage', async () => {
    const queue = new ProducerQueue('turns', producerQueueOptions({ REDIS_URL: `redis://127.0.0.1:${await closedPort()}`, REDIS_PREFIX: prefix() }));
    queue.on('error', () => undefined); // connection errors are expected here
    closers.push(() => queue.close());

    // With the options the bridge used before, this add would stay pending until Redis came back.
    await expect(queue.add('turn', { conversationId: 'c1' })).rejects.toThrow();
    expect(await queue.waitForConnection(10_000)).toBe(false);
    // Still failing at once while the client keeps reconnecting in the background.
    await expect(queue.add('turn', { conversationId: 'c2' })).rejects.toThrow();
  }, 30_000);

  it('closes a producer while Redis is down', async () => {
    const queue = new ProducerQueue('turns', producerQueueOptions({ REDIS_URL: `redis://127.0.0.1:${await closedPort()}`, REDIS_PREFIX: prefix() }));
    queue.on('error', () => undefined);
    await queue.waitForConnection(10_000); // the first attempt has failed: the client is reconnecting

    // BullMQ's own close() rejects here (QUIT cannot be sent without the offline queue) and leaves
    // the client reconnecting for ever, which keeps the process alive.
    await expect(queue.close()).resolves.toBeUndefined();
  }, 30_000);

  it('adds through a producer and runs the job on a worker when Redis is up', async () => {
    const env = { REDIS_URL, REDIS_PREFIX: prefix() };
    const queue = new ProducerQueue('turns', producerQueueOptions(env));
    closers.push(async () => {
      await queue.obliterate({ force: true });
      await queue.close();
    });

    expect(await queue.waitForConnection(10_000)).toBe(true);
    const job = await queue.add('turn', { conversationId: 'c1' });
    expect(await queue.getJob(job.id!)).toMatchObject({ name: 'turn', data: { conversationId: 'c1' } });

    const worker = new Worker('turns', async (j) => j.data, { connection: workerConnection(env), prefix: env.REDIS_PREFIX });
    closers.push(() => worker.close());
    const result = await new Promise((resolve) => worker.on('completed', (_, value) => resolve(value)));
    expect(result).toEqual({ conversationId: 'c1' });
  }, 30_000);
});
