// The turn baseline: the least a VA can do per contact message, with no queue, no database and no
// guardrails: check the HMAC, answer 200, then call the LLM and send its reply to Inbox 2.0.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({ options: { port: { type: 'string' }, secret: { type: 'string' }, llm: { type: 'string' }, inbox: { type: 'string' }, client: { type: 'string' } } });
const secret = Buffer.from(a.secret!, 'hex');
const token = (await (
  await fetch(`${a.inbox}/oauth2/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(a.client!).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=organization_app&organization_id=fake-org',
  })
).json()) as { access_token: string };

http
  .createServer(async (req, res) => {
    if (req.method === 'GET') return res.writeHead(200).end('ok');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const given = Buffer.from(String(req.headers['x-hootsuite-signature'] ?? ''), 'hex');
    const expected = createHmac('sha256', secret).update(body).digest();
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return res.writeHead(401).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    const event = JSON.parse(body.toString('utf8'));
    if (event.type !== 'INBOUND_MESSAGE_RECEIVED') return;
    const completion = (await (
      await fetch(`${a.llm}/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: event.data.message.text }] }),
      })
    ).json()) as { choices: Array<{ message: { content: string } }> };
    const decision = JSON.parse(completion.choices[0].message.content);
    await fetch(`${a.inbox}/inbox/v1/virtual-agent/conversations/${event.data.conversationId}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sendMessage: { text: decision.message } }),
    });
  })
  .listen(Number(a.port), '127.0.0.1');
