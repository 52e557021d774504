import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { DecisionEngine } from '../src/agent/decision.engine.js';
import type { TranscriptEntry } from '../src/agent/decision.js';
import { planFold } from '../src/agent/memory.js';
import { parseAgents } from '../src/config/agents.loader.js';
import type { AppConfig } from '../src/config/app-config.js';
import { dataSourceOptions } from '../src/database/data-source.options.js';
import { runMigrationsLocked } from '../src/database/migrate.js';
import { OpenAiLlmClient } from '../src/llm/openai-llm.client.js';
import { QUEUES, timerJobOptions } from '../src/scheduler/queues.js';
import { BullTimerQueue } from '../src/scheduler/timer-queue.js';
import { FakeInbox } from '../test/fakes/fake-inbox.js';
import { FakeLlm, type ChatRequest } from '../test/fakes/fake-llm.js';
import { envelope, signedBody } from '../test/fakes/signing.js';
import { REDIS_URL, freshDatabase, progress, randomPrefix, runJson, sleep, startProcess, stopProcess, writeTemp } from './harness.js';
import { summarize, type Summary } from './stats.js';

export const SECRET = 'b3nchb3nchb3nchb3nchb3nchb3nch00'.replace(/[^0-9a-f]/g, 'a');
const MAIN = 'dist/src/main.js';

export const BENCH_AGENTS = `
agents:
  - id: bench
    name: Acme Support
    mode: inception
    secretEnv: BENCH_SECRET
    llm: { model: bench-model }
    prompt: |
      You are the first-line assistant of Acme, an online shop for outdoor gear.
      Answer questions about orders, shipping and returns briefly and kindly.
      Resolve the conversation once the contact confirms they have what they need.
      Hand over to a human for refunds over 100 EUR, complaints, or anything you are unsure of.
      Shipping inside the EU takes 2 to 4 working days; elsewhere 5 to 10. Returns are free within 30 days.
    topics: [Billing, Shipping, Returns]
    contactAttributes:
      order_number: The order number, like A-12345
      email: The contact's e-mail address
    timeouts: { turnDebounce: 0s, virtualAgent: 5m, contact: 1h, onContactTimeout: resolve }
`;

function bridgeEnv(o: { db: string; prefix: string; port: number; role: string; inbox?: FakeInbox; llmUrl?: string }): Record<string, string> {
  return {
    DATABASE_URL: o.db,
    REDIS_URL,
    REDIS_PREFIX: o.prefix,
    AGENTS_FILE: writeTemp('agents.yaml', BENCH_AGENTS),
    PORT: String(o.port),
    ROLE: o.role,
    ...(o.inbox?.env() ?? { INBOX_API_URL: 'http://127.0.0.1:9', INBOX_CLIENT_ID: 'x', INBOX_CLIENT_SECRET: 'x', INBOX_ORGANIZATION_ID: 'x' }),
    OPENAI_BASE_URL: o.llmUrl ?? 'http://127.0.0.1:9/v1',
    OPENAI_API_KEY: 'bench',
    BENCH_SECRET: SECRET,
    // The default, 20 requests/s (Hootsuite's general REST limit), caps a process at 10 turns/s
    // (typing + reply); lifted here to measure the bridge itself.
    INBOX_RATE_LIMIT: '100000',
    ...(process.env.BENCH_EXTRA ? Object.fromEntries(process.env.BENCH_EXTRA.split(',').map((kv) => kv.split('='))) : {}),
    LOG_LEVEL: 'info', // as in production; stdout goes nowhere
  };
}

async function obliterate(prefix: string): Promise<void> {
  for (const name of Object.values(QUEUES)) {
    const q = new Queue(name, { connection: { url: REDIS_URL }, prefix });
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();
  }
}

// ---- 1. Intake -------------------------------------------------------------------------------

export interface LoadResult {
  requests: number;
  rps: number;
  statuses: Record<string, number>;
  latency: Summary;
}

export interface IntakeResult {
  concurrency: number[];
  bridge: LoadResult[];
  baseline: LoadResult[];
  rate: number;
  bridgeAtRate: LoadResult;
  baselineAtRate: LoadResult;
}

export async function intake(): Promise<IntakeResult> {
  const db = await freshDatabase('iva_bench_intake');
  const prefix = randomPrefix('intake');
  const bridge = await startProcess(MAIN, [], bridgeEnv({ db: db.url, prefix, port: 3911, role: 'web' }), 'http://127.0.0.1:3911/health/ready');
  const baseline = await startProcess('dist/bench/baseline-intake.js', ['--port', '3912', '--db', db.url, '--secret', SECRET], {}, 'http://127.0.0.1:3912/');
  const load = (port: number, path: string, args: string[]) =>
    runJson<LoadResult>('dist/bench/load.js', ['--url', `http://127.0.0.1:${port}${path}`, '--secret', SECRET, ...args]);
  const concurrency = [1, 16, 64];
  const result: IntakeResult = { concurrency, bridge: [], baseline: [], rate: 200 } as unknown as IntakeResult;
  try {
    for (const c of concurrency) {
      progress(`intake: ${c} concurrent, bridge`);
      result.bridge.push(await load(3911, '/webhooks/bench', ['--concurrency', String(c), '--seconds', '6']));
      progress(`intake: ${c} concurrent, baseline`);
      result.baseline.push(await load(3912, '/', ['--concurrency', String(c), '--seconds', '6']));
    }
    progress('intake: 200 requests/s open loop, bridge');
    result.bridgeAtRate = await load(3911, '/webhooks/bench', ['--mode', 'open', '--rate', '200', '--seconds', '8']);
    progress('intake: 200 requests/s open loop, baseline');
    result.baselineAtRate = await load(3912, '/', ['--mode', 'open', '--rate', '200', '--seconds', '8']);
  } finally {
    await Promise.all([stopProcess(bridge), stopProcess(baseline)]);
    await obliterate(prefix);
    await db.drop();
  }
  return result;
}

// ---- 2. Turn overhead -------------------------------------------------------------------------

export interface TurnRun {
  firstCall: Summary;
  reply: Summary;
  turnsPerSecond: number;
  throughputTurns: number;
}

export interface TurnResult {
  bridge: TurnRun;
  baseline: TurnRun;
}

/** Sends `count` messages (each its own conversation) and measures send → first call and send → reply. */
async function turnRun(url: string, inbox: FakeInbox, tag: string): Promise<TurnRun> {
  const sentAt = new Map<string, number>();
  const send = async (id: string) => {
    const { body, signature } = signedBody(SECRET, envelope('INBOUND_MESSAGE_RECEIVED', { conversationId: id, message: { messageId: randomUUID(), text: 'Where is my order A-12345?' } }));
    sentAt.set(id, Date.now());
    const res = await fetch(url, { method: 'POST', headers: { 'x-hootsuite-signature': signature, 'content-type': 'application/json' }, body });
    await res.text();
  };
  const replied = (id: string) => inbox.calls(id).find((c) => c.body.sendMessage);

  // Latency, unloaded: 20 messages a second for 10 s.
  const latencyIds: string[] = [];
  for (let i = 0; i < 200; i++) {
    const id = `${tag}-lat-${i}`;
    latencyIds.push(id);
    void send(id);
    await sleep(50);
  }
  const until = Date.now() + 30_000;
  while (latencyIds.some((id) => !replied(id)) && Date.now() < until) await sleep(50);
  const firstCall = latencyIds.map((id) => inbox.calls(id)[0]?.at - sentAt.get(id)!).filter(Number.isFinite);
  const reply = latencyIds.map((id) => replied(id)?.at! - sentAt.get(id)!).filter(Number.isFinite);

  // Throughput: 2000 conversations as fast as 32 concurrent senders go.
  const n = 2000;
  const ids = Array.from({ length: n }, (_, i) => `${tag}-tp-${i}`);
  const started = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < n) await send(ids[next++]);
  }));
  const deadline = Date.now() + 120_000;
  let done = 0;
  while (Date.now() < deadline) {
    done = ids.filter((id) => replied(id)).length;
    if (done === n) break;
    await sleep(100);
  }
  const lastReply = Math.max(...ids.map((id) => replied(id)?.at ?? 0));
  return { firstCall: summarize(firstCall), reply: summarize(reply), turnsPerSecond: done / ((lastReply - started) / 1000), throughputTurns: done };
}

export async function turns(): Promise<TurnResult> {
  const inbox = new FakeInbox({ autoOpen: true });
  const llm = new FakeLlm();
  await Promise.all([inbox.start(), llm.start()]);
  const db = await freshDatabase('iva_bench_turns');
  const prefix = randomPrefix('turns');
  const bridge = await startProcess(MAIN, [], bridgeEnv({ db: db.url, prefix, port: 3913, role: 'all', inbox, llmUrl: llm.url }), 'http://127.0.0.1:3913/health/ready');
  const baseline = await startProcess(
    'dist/bench/baseline-turn.js',
    ['--port', '3914', '--secret', SECRET, '--llm', llm.url, '--inbox', inbox.url, '--client', `${inbox.clientId}:${inbox.clientSecret}`],
    {},
    'http://127.0.0.1:3914/',
  );
  try {
    progress('turns: bridge (200 messages at 20/s, then 2000 as fast as they go)');
    const b = await turnRun('http://127.0.0.1:3913/webhooks/bench', inbox, 'bridge');
    progress('turns: baseline');
    const base = await turnRun('http://127.0.0.1:3914/', inbox, 'baseline');
    return { bridge: b, baseline: base };
  } finally {
    await Promise.all([stopProcess(bridge), stopProcess(baseline)]);
    await obliterate(prefix);
    await db.drop();
    await Promise.all([inbox.stop(), llm.stop()]);
  }
}

// ---- 3. Timers --------------------------------------------------------------------------------

export interface TimerRun {
  armed: number;
  armPerSecond: number;
  redisBytes: number;
  lateness: number[];
  fired: number;
  sample: number;
  /** Deadlines falling due per second in the sample. */
  rate: number;
}

export interface TimerResult {
  /** The product's path: deadlines in Postgres, the worker's sweep arming only what falls due within its horizon. */
  product: { jobs: number; redisBytes: number };
  /** Every one of the 100 000 deadlines armed as a job (the mechanism's cost). */
  bridge: TimerRun;
  baseline: TimerRun;
}

const TOTAL_TIMERS = 100_000;
const SAMPLE = 1000;
const SAMPLE_SPREAD_MS = 20_000;

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
}

export async function timers(): Promise<TimerResult> {
  const redis = new Redis(REDIS_URL);
  const inbox = new FakeInbox({ autoOpen: true });
  await inbox.start();
  const db = await freshDatabase('iva_bench_timers');
  const prefix = randomPrefix('timers');
  const dataSource = await new DataSource(dataSourceOptions(db.url)).initialize();
  await runMigrationsLocked(dataSource);
  const queue = new Queue(QUEUES.timers, { connection: { url: REDIS_URL }, prefix });
  let worker;
  let product: TimerResult['product'];
  let bridgeRun: TimerRun;
  try {
    progress(`timers: ${TOTAL_TIMERS} conversations with a contact deadline in PostgreSQL`);
    await db.pool.query(
      `INSERT INTO conversations (agent_id, inbox_conversation_id, mode, state, contact_deadline_at)
       SELECT 'bench', 'timer-' || g, 'inception', 'active', now() + interval '2 hours' + g * interval '1 millisecond'
         FROM generate_series(1, $1) g`,
      [TOTAL_TIMERS],
    );

    // The mechanism first, on a scratch queue no worker reads, so it cannot disturb the firing below.
    progress('timers: the mechanism, every deadline armed as a job through the bridge’s TimerQueue.armMany');
    const scratch = new Queue(QUEUES.timers, { connection: { url: REDIS_URL }, prefix: `${prefix}-scratch` });
    const armer = new BullTimerQueue(scratch, { env: { SCHEDULER_SWEEP_INTERVAL: 60_000 } } as AppConfig);
    const all = (await db.pool.query(`SELECT id, next_deadline_at FROM conversations`)).rows as Array<{ id: string; next_deadline_at: Date }>;
    let before = await usedMemory(redis);
    const started = performance.now();
    for (let i = 0; i < all.length; i += 1000) {
      await armer.armMany(all.slice(i, i + 1000).map((r) => ({ conversationId: r.id, dueAt: r.next_deadline_at })), new Date());
    }
    const armSeconds = (performance.now() - started) / 1000;
    const mechanismBytes = (await usedMemory(redis)) - before;
    await scratch.obliterate({ force: true });
    await scratch.close();

    progress(`timers: ${SAMPLE} of them now fall due over ${SAMPLE_SPREAD_MS / 1000} s; a worker starts, its sweep arms what is due within its horizon`);
    const sample = (
      await db.pool.query(
        `UPDATE conversations SET contact_deadline_at = now() + interval '6 seconds' + (substring(inbox_conversation_id from 7)::int * $1::float / $2) * interval '1 millisecond'
          WHERE substring(inbox_conversation_id from 7)::int <= $2 RETURNING id, inbox_conversation_id, next_deadline_at`,
        [SAMPLE_SPREAD_MS, SAMPLE],
      )
    ).rows as Array<{ id: string; inbox_conversation_id: string; next_deadline_at: Date }>;
    before = await usedMemory(redis);
    worker = await startProcess(MAIN, [], bridgeEnv({ db: db.url, prefix, port: 3915, role: 'worker', inbox }), 'http://127.0.0.1:3915/health/ready');
    const swept = Date.now() + 5000;
    while ((await queue.getJobCounts('delayed')).delayed < SAMPLE && Date.now() < swept) await sleep(50);
    const jobs = (await queue.getJobCounts('delayed', 'waiting', 'active')) as Record<string, number>;
    product = { jobs: Object.values(jobs).reduce((a, b) => a + b, 0), redisBytes: (await usedMemory(redis)) - before };

    const lastDue = Math.max(...sample.map((r) => r.next_deadline_at.getTime()));
    while (Date.now() < lastDue + 5000 && sample.some((r) => inbox.calls(r.inbox_conversation_id).length === 0)) await sleep(200);
    const lateness = sample
      .map((r) => (inbox.calls(r.inbox_conversation_id)[0]?.at ?? Number.NaN) - r.next_deadline_at.getTime())
      .filter(Number.isFinite);
    bridgeRun = { armed: all.length, armPerSecond: all.length / armSeconds, redisBytes: mechanismBytes, lateness, fired: lateness.length, sample: SAMPLE, rate: SAMPLE / (SAMPLE_SPREAD_MS / 1000) };
  } finally {
    if (worker) await stopProcess(worker);
    await queue.close();
    await dataSource.destroy();
    await obliterate(prefix);
    await db.drop();
    await inbox.stop();
  }

  // Baseline: the same schedule as raw BullMQ delayed jobs and a worker that does nothing.
  progress('timers: baseline, raw BullMQ delayed jobs');
  const basePrefix = randomPrefix('timers-base');
  const baseQueue = new Queue('timers', { connection: { url: REDIS_URL }, prefix: basePrefix });
  const lateness: number[] = [];
  const noop = new Worker('timers', async (job) => void lateness.push(Date.now() - job.data.dueAt), { connection: { url: REDIS_URL, maxRetriesPerRequest: null }, prefix: basePrefix, concurrency: 20 });
  const before = await usedMemory(redis);
  const started = performance.now();
  const t0 = Date.now() + 8000;
  const dues = Array.from({ length: TOTAL_TIMERS }, (_, k) => (k < SAMPLE ? t0 + (k * SAMPLE_SPREAD_MS) / SAMPLE : t0 + 7_200_000 + k));
  for (let i = 0; i < TOTAL_TIMERS; i += 1000) {
    await baseQueue.addBulk(dues.slice(i, i + 1000).map((due) => {
      const id = randomUUID();
      return { name: 'timer', data: { conversationId: id, dueAt: due }, opts: timerJobOptions(id, new Date(due)) };
    }));
  }
  const armSeconds = (performance.now() - started) / 1000;
  const redisBytes = (await usedMemory(redis)) - before;
  while (Date.now() < t0 + SAMPLE_SPREAD_MS + 5000 && lateness.length < SAMPLE) await sleep(200);
  await noop.close();
  await baseQueue.obliterate({ force: true });
  await baseQueue.close();
  redis.disconnect();
  return {
    product: product!,
    bridge: bridgeRun!,
    baseline: { armed: TOTAL_TIMERS, armPerSecond: TOTAL_TIMERS / armSeconds, redisBytes, lateness: [...lateness], fired: lateness.length, sample: SAMPLE, rate: SAMPLE / (SAMPLE_SPREAD_MS / 1000) },
  };
}

// ---- 4. Tokens --------------------------------------------------------------------------------

export interface TokenResult {
  turns: number;
  bridge: Array<{ turn: number; prompt: number; cached: number; prefixShare: number }>;
  naive: Array<{ turn: number; prompt: number; cached: number; prefixShare: number }>;
}

const QUESTIONS = [
  'Where is my order {n}? I ordered it last week and have not heard anything since then.',
  'Can I change the delivery address for order {n} to my office instead of my home?',
  'The tent I received with order {n} has a broken pole, what are my options?',
  'How long does a refund take once you receive the returned item from order {n}?',
  'Do you have the blue version of the hiking boots from order {n} in size 44?',
];

async function tokenRun(windowSize: number): Promise<TokenResult['bridge']> {
  const llm = new FakeLlm();
  await llm.start();
  const [agent] = parseAgents(BENCH_AGENTS.replace('timeouts:', `limits: { historyWindow: ${windowSize}, maxTurns: 200 }\n    timeouts:`), { BENCH_SECRET: SECRET });
  const engine = new DecisionEngine(new OpenAiLlmClient({ OPENAI_BASE_URL: llm.url, OPENAI_API_KEY: 'k', OPENAI_TIMEOUT: 10_000, OPENAI_MAX_RETRIES: 0 }));
  const rows: TokenResult['bridge'] = [];
  let summary: string | null = null;
  let unsummarized: TranscriptEntry[] = [];
  let previous = '';
  const serialize = (r: ChatRequest) => r.messages.map((m) => `${m.role}\n${m.content}`).join('\n');
  for (let turn = 1; turn <= 50; turn++) {
    unsummarized.push({ direction: 'inbound', text: QUESTIONS[turn % QUESTIONS.length].replace('{n}', `A-${10000 + turn}`), payload: null, pending: true });
    const { fold, keep } = planFold(unsummarized, agent.limits.historyWindow);
    if (fold.length) {
      summary = (await engine.summarize(agent, summary, fold)).summary;
      unsummarized = keep;
    }
    llm.script({ decision: { message: `Thanks for asking! Order A-${10000 + turn} is on its way and should arrive within 2 to 4 working days. Anything else?`, topics: ['Shipping'] } });
    const before = llm.requests.length;
    const outcome = await engine.decide(agent, { mode: 'inception', language: 'en', contactProfile: { primaryIdentifier: 'Bench Contact' }, contactAttributes: [], summary, transcript: unsummarized, agentTurns: turn - 1 });
    const text = serialize(llm.requests[before]);
    let shared = 0;
    while (shared < Math.min(previous.length, text.length) && previous.charCodeAt(shared) === text.charCodeAt(shared)) shared++;
    rows.push({ turn, prompt: outcome.usage.promptTokens, cached: outcome.usage.cachedTokens, prefixShare: turn === 1 ? 0 : shared / text.length });
    previous = text;
    unsummarized = unsummarized.map((e) => ({ ...e, pending: false }));
    unsummarized.push({ direction: 'outbound', text: outcome.decision.message, payload: null });
  }
  await llm.stop();
  return rows;
}

export async function tokens(): Promise<TokenResult> {
  progress('tokens: a 50-turn conversation with the bridge’s memory (window 12 + summary)');
  const bridge = await tokenRun(12);
  progress('tokens: baseline, the whole transcript every turn');
  const naive = await tokenRun(200);
  return { turns: 50, bridge, naive };
}
