// The intake baseline: a bare node:http server doing what intake must at least do, the HMAC check
// on the raw bytes and one INSERT into the same PostgreSQL, and nothing else.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';
import pg from 'pg';

const { values: a } = parseArgs({ options: { port: { type: 'string' }, db: { type: 'string' }, secret: { type: 'string' } } });
const secret = Buffer.from(a.secret!, 'hex');
const pool = new pg.Pool({ connectionString: a.db, max: 10 });
await pool.query(`CREATE TABLE IF NOT EXISTS baseline_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, idempotency_key text UNIQUE NOT NULL,
  type text NOT NULL, payload jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now())`);

http
  .createServer(async (req, res) => {
    if (req.method === 'GET') return res.writeHead(200).end('ok');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const given = Buffer.from(String(req.headers['x-hootsuite-signature'] ?? ''), 'hex');
    const expected = createHmac('sha256', secret).update(body).digest();
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return res.writeHead(401).end();
    const event = JSON.parse(body.toString('utf8'));
    await pool.query('INSERT INTO baseline_events (idempotency_key, type, payload) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [event.idempotencyKey, event.type, body.toString('utf8')]);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  })
  .listen(Number(a.port), '127.0.0.1');
