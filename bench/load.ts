// A load process: signed INBOUND_MESSAGE_RECEIVED webhooks with unique idempotency keys, either
// closed-loop at a fixed concurrency or open-loop at a fixed rate. Prints one JSON line of results.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { signBody } from '../src/webhook/signature.js';
import { summarize } from './stats.js';

const { values: a } = parseArgs({
  options: {
    url: { type: 'string' },
    secret: { type: 'string' },
    mode: { type: 'string', default: 'closed' },
    concurrency: { type: 'string', default: '16' },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    conversations: { type: 'string', default: '1000' },
  },
});
const url = new URL(a.url!);
const secret = Buffer.from(a.secret!, 'hex');
const concurrency = Number(a.concurrency);
const seconds = Number(a.seconds);
const warmup = Number(a.warmup);
const conversations = Number(a.conversations);
const run = randomBytes(4).toString('hex');
const agent = new http.Agent({ keepAlive: true, maxSockets: a.mode === 'closed' ? concurrency : 512 });
let seq = 0;

function nextBody(): string {
  const i = seq++;
  return JSON.stringify({
    timestamp: new Date().toISOString(),
    idempotencyKey: `${run}-${i}`,
    version: 1,
    type: 'INBOUND_MESSAGE_RECEIVED',
    data: { conversationId: `load-${run}-${i % conversations}`, message: { messageId: `${run}-m${i}`, text: 'Where is my order A-12345?' }, trigger: null },
  });
}

function post(body: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-hootsuite-signature': signBody(secret, body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

const latencies: number[] = [];
const statuses: Record<string, number> = {};
let measured = 0;
const start = performance.now();
const measureFrom = start + warmup * 1000;
const end = measureFrom + seconds * 1000;

function record(sentAt: number, status: number): void {
  if (sentAt < measureFrom) return;
  measured++;
  statuses[status] = (statuses[status] ?? 0) + 1;
  latencies.push(performance.now() - sentAt);
}

if (a.mode === 'closed') {
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const body = nextBody();
        const sentAt = performance.now();
        record(sentAt, await post(body));
      }
    }),
  );
} else {
  // Open loop: each request is due at its scheduled time and measured from it, so a slow server
  // cannot hide its queueing (no coordinated omission).
  const interval = 1000 / Number(a.rate);
  const inflight: Promise<void>[] = [];
  for (let k = 0; ; k++) {
    const due = start + k * interval;
    if (due >= end) break;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const body = nextBody();
    inflight.push(post(body).then((status) => record(due, status)));
  }
  await Promise.all(inflight);
}
const elapsed = (Math.min(performance.now(), end + 60_000) - measureFrom) / 1000;
agent.destroy();
console.log(JSON.stringify({ requests: measured, rps: measured / Math.min(elapsed, seconds + 60), statuses, latency: summarize(latencies) }));
