import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadCaseFile } from '../src/evals/case.loader.js';
import { FakeShop } from './fakes/fake-shop.js';
import { waitFor } from './support/bridge.js';

const CHAT = 'dist/scripts/chat.js';

const SHOP_TOKEN = 'shop-token-9f8e7d';

/** The playground as a person runs it, from `cwd`: `child` to type into, `out()` what it printed so far. */
function startChat(agentsFile: string | null, o: { cwd?: string; env?: Record<string, string> } = {}) {
  if (!existsSync(CHAT)) throw new Error(`${CHAT} is missing: npm test builds it first`);
  // The example agent keeps business hours: pin the instant (a Wednesday morning in Berlin, open) so
  // that what it says does not depend on when the tests run.
  const agents = agentsFile === null ? ['--demo'] : ['--agents', resolve(agentsFile), '--scripted', '--at', '2026-11-25T10:00:00+01:00'];
  const child = spawn(process.execPath, [resolve(CHAT), '--agent', 'acme-triage', ...agents], {
    cwd: o.cwd ?? process.cwd(),
    env: { PATH: process.env.PATH, ...o.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let printed = '';
  child.stdout.on('data', (chunk) => (printed += chunk));
  child.stderr.on('data', (chunk) => (printed += chunk));
  const exited = new Promise<number | null>((done) => child.on('exit', done));
  return { child, out: () => printed, exited };
}

describe('npm run chat (the prompt playground)', () => {
  const shop = new FakeShop(SHOP_TOKEN);
  beforeAll(() => shop.start());
  afterAll(() => shop.stop());

  it('shows each decision and each lookup it made, keeps the conversation, and re-reads the agents file between turns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iva-chat-'));
    const agentsFile = join(dir, 'agents.yaml');
    // The example's lookup, pointed at a shop that exists.
    writeFileSync(agentsFile, readFileSync('agents.example.yaml', 'utf8').replace('https://shop.acme.example', shop.url));
    const { child, out, exited } = startChat(agentsFile, { env: { SHOP_API_TOKEN: SHOP_TOKEN } });

    await waitFor('the banner', () => out().includes('Type as the contact'));
    expect(out()).toContain(`Action: order_status → GET ${shop.url}/api/orders/{order_number}`);
    child.stdin.write('Where is my order A-12345?\n');
    await waitFor('the first decision', () => out().includes('cites:'));
    expect(out()).toMatch(/2026-11-25T09:00:00\.000Z: people are available/);
    expect(out()).toMatch(/agent › Your order A-12345 is in transit with DHL, arriving Thursday\./);
    expect(out()).toMatch(/action: reply {3}confidence: 0.93/);
    expect(out()).toMatch(/topics: Shipping {3}attributes: order_number=A-12345/);
    expect(out()).toMatch(/call: order_status\(order_number=A-12345\) → 200 in \d+ ms: status=in transit, carrier=DHL, eta=Thursday\n/);
    expect(out()).toMatch(/cites: order_status\(order_number=A-12345\)/);
    expect(shop.to('/api/orders/A-12345', 'GET')).toEqual([expect.objectContaining({ headers: expect.objectContaining({ authorization: `Bearer ${SHOP_TOKEN}` }) })]);

    // The team renames the topic in the agents file; the next turn uses the new allow-list.
    writeFileSync(agentsFile, readFileSync(agentsFile, 'utf8').replace('topics: [Billing, Shipping, Returns]', 'topics: [Billing, Delivery, Returns]'));
    const before = out().length;
    child.stdin.write('And order B-777?\n');
    await waitFor('the second decision', () => out().slice(before).includes('reason:'));
    const second = out().slice(before);
    expect(second).toMatch(/topics: Billing/);
    expect(second).not.toMatch(/Shipping/);
    // B-777 fails the action's schema: refused before any request, and the agent invents no status.
    expect(second).toMatch(/call: order_status\(\{"order_number":"B-777"\}\) → refused: invalid arguments: order_number must match pattern/);
    expect(second).toMatch(/agent › Thanks, I have noted order B-777\. I cannot see its delivery status/);
    expect(shop.requests).toHaveLength(1);

    const beforeHuman = out().length;
    child.stdin.write('I want to talk to a real person\n');
    await waitFor('the handover', () => out().slice(beforeHuman).includes('conversation would end here'));
    expect(out().slice(beforeHuman)).toMatch(/action: handover/);
    expect(out().slice(beforeHuman)).toMatch(/guardrail: the contact asked for a human/);

    child.stdin.write('/quit\n');
    expect(await exited).toBe(0);
  });

  it('/save keeps the last turn as an eval case that the eval command loads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iva-chat-save-'));
    const { child, out, exited } = startChat('agents.example.yaml', { cwd: dir });
    await waitFor('the banner', () => out().includes('Type as the contact'));
    child.stdin.write('Where is my order A-12345?\n');
    await waitFor('the decision', () => out().includes('reason:') && out().includes('call:'));
    // Without SHOP_API_TOKEN the example's lookup is not made, and says why; the agent answers honestly.
    expect(out()).toMatch(/call: order_status\(order_number=A-12345\) → refused: environment variable SHOP_API_TOKEN is not set/);
    expect(out()).toMatch(/agent › Thanks, I have noted order A-12345\. I cannot see its delivery status/);
    child.stdin.write('/save order-status\n');
    await waitFor('saved', () => out().includes('saved as case'));
    child.stdin.write('/save order-status\n');
    await waitFor('the duplicate refused', () => out().includes('not saved'));
    expect(out()).toMatch(/not saved: .*duplicate case id "order-status"/);
    child.stdin.write('/quit\n');
    expect(await exited).toBe(0);

    const file = loadCaseFile(join(dir, 'evals', 'acme-triage', 'playground.yaml'));
    expect(file.agent).toBe('acme-triage');
    expect(file.cases).toEqual([
      expect.objectContaining({
        id: 'order-status',
        transcript: [{ contact: 'Where is my order A-12345?' }],
        expect: { action: 'reply', topics: ['Shipping'], attributes: { order_number: 'A-12345' } },
      }),
    ]);
    // The lookup was refused here (no token), so nothing says what it returns: no fixture, no call expected.
    expect(file.cases[0].actions).toBeUndefined();
  });

  it('/save keeps the lookups the turn made as the case\'s fixtures and expected calls, so the case replays the same data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iva-chat-save-calls-'));
    const agentsFile = join(dir, 'agents.yaml');
    writeFileSync(agentsFile, readFileSync('agents.example.yaml', 'utf8').replace('https://shop.acme.example', shop.url));
    const { child, out, exited } = startChat(agentsFile, { cwd: dir, env: { SHOP_API_TOKEN: SHOP_TOKEN } });
    await waitFor('the banner', () => out().includes('Type as the contact'));
    child.stdin.write('Where is my order A-12345?\n');
    await waitFor('the first decision', () => out().includes('cites:'));
    child.stdin.write('/save order-in-transit\n');
    await waitFor('saved', () => out().includes('saved as case "order-in-transit"'));
    const before = out().length;
    child.stdin.write('Hm, and A-99999?\n');
    await waitFor('the second decision', () => out().slice(before).includes('reason:'));
    child.stdin.write('/save order-not-found\n');
    await waitFor('saved', () => out().includes('saved as case "order-not-found"'));
    child.stdin.write('/quit\n');
    expect(await exited).toBe(0);

    const [found, missing] = loadCaseFile(join(dir, 'evals', 'acme-triage', 'playground.yaml')).cases;
    // The fields the model saw, as the shop's body again; only for the arguments the call had.
    expect(found.actions).toEqual({ order_status: [{ when: { order_number: 'A-12345' }, result: { status: 'in transit', carrier: 'DHL', eta: 'Thursday' } }] });
    expect(found.expect).toMatchObject({ action: 'reply', calls: ['order_status'] });
    expect(missing.actions).toEqual({ order_status: [{ when: { order_number: 'A-99999' }, error: 'HTTP 404 (order not found)', httpStatus: 404 }] });
    expect(missing.expect).toMatchObject({ calls: ['order_status'] });
  });

  it('--demo chats with the demo\'s agents and a fake shop it starts: a lookup answered, a missing order said so', async () => {
    const { child, out, exited } = startChat(null, { cwd: mkdtempSync(join(tmpdir(), 'iva-chat-demo-')) });
    await waitFor('the banner', () => out().includes('Type as the contact'));
    expect(out()).toMatch(/from the demo agents \(scripts\/demo-agents\.ts\)/);
    expect(out()).toMatch(/LLM: scripted/);
    child.stdin.write('Where is my order A-12345?\n');
    await waitFor('the first decision', () => out().includes('call:'));
    expect(out()).toMatch(/call: order_status\(order_number=A-12345\) → 200 in \d+ ms: status=in transit, carrier=DHL, eta=Thursday/);
    expect(out()).toMatch(/agent › Your order A-12345 is in transit with DHL, arriving Thursday\./);

    const before = out().length;
    child.stdin.write('Hm, and A-99999?\n');
    await waitFor('the second decision', () => out().slice(before).includes('call:'));
    expect(out().slice(before)).toMatch(/call: order_status\(order_number=A-99999\) → http_error 404 in \d+ ms: HTTP 404 \(order not found\)/);
    expect(out().slice(before)).toMatch(/agent › I could not find order A-99999; could you check the number\?/);
    child.stdin.write('/quit\n');
    expect(await exited).toBe(0);
  });

  it('refuses --demo with --agents: the demo\'s agents are its own', async () => {
    const child = spawn(process.execPath, [CHAT, '--demo', '--agents', 'agents.example.yaml'], { env: { PATH: process.env.PATH } });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    expect(await new Promise<number | null>((resolve) => child.on('exit', resolve))).toBe(64);
    expect(err).toMatch(/--demo chats with the demo's agents/);
  });

  it('refuses an unknown agent with the list of known ones', async () => {
    const child = spawn(process.execPath, [CHAT, '--agent', 'nobody', '--agents', 'agents.example.yaml', '--scripted'], { env: { PATH: process.env.PATH } });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(64);
    expect(err).toMatch(/no agent "nobody".*acme-triage, acme-helper/);
  });
});
