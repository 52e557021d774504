import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm } from './fakes/fake-llm.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { ORCHESTRATION_AGENTS } from './support/agents.js';
import { TRIAGE_SECRET, startBridge, testEnv, waitFor, type TestBridge } from './support/bridge.js';

/** A port nothing listens on now, for a bridge in another process. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

/** The agents file is reloaded on a change of the file and on SIGHUP (docs/configuration.md, "Reloading"). */
describe('reloading the agents file', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  let bridge: TestBridge;
  let file: string;
  let n = 0;
  const newId = () => `reload-${++n}-${Date.now()}`;
  const sender = (secretHex = TRIAGE_SECRET) => new WebhookSender({ bridgeUrl: bridge.url, agentId: 'acme', secretHex, inbox, retries: 0 });
  const ready = async () => (await (await fetch(`${bridge.url}/health/ready`)).json()) as { agentsFile: { valid: boolean; errors: string[] } };
  const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`${bridge.url}/metrics`)).text())?.[1]);

  beforeAll(async () => {
    await Promise.all([inbox.start(), llm.start()]);
    // A long contact deadline, so that the removed agent's conversation is still open when it is removed.
    bridge = await startBridge({ agents: ORCHESTRATION_AGENTS, inbox, llm, env: { OPENAI_MAX_RETRIES: '0' } });
    file = bridge.config.env.AGENTS_FILE;
  });
  afterAll(async () => {
    await bridge.close();
    await Promise.all([inbox.stop(), llm.stop()]);
  });
  beforeEach(() => llm.reset());

  it('applies a valid edit to the next turn, on a change of the file', async () => {
    writeFileSync(file, readFileSync(file, 'utf8').replace("prompt: You are Acme's assistant.", 'prompt: You are the reloaded assistant.'));
    await waitFor('the new prompt', () => bridge.config.agent('acme')?.prompt === 'You are the reloaded assistant.', 10_000);
    const id = newId();
    await sender().startConversation(id);
    await sender().contactSays(id, 'hello');
    await waitFor('the turn', () => llm.requests.length > 0);
    expect(llm.requests[0].messages[0].content).toMatch(/^You are the reloaded assistant\./);
  });

  it('keeps the running agents when an edit is invalid, and says so in /health/ready and a metric', async () => {
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good.replace('virtualAgent: 4s', 'virtualAgent: 2h'));
    await waitFor('the failed reload', async () => !(await ready()).agentsFile.valid, 10_000);
    expect((await ready()).agentsFile.errors).toEqual([expect.stringMatching(/:\d+: agent "acme" field timeouts\.virtualAgent: is over the platform maximum of 1h/)]);
    expect(await metric('iva_agents_file_valid')).toBe(0);
    // Still served as before.
    expect(bridge.config.agent('acme')?.timeouts.virtualAgent).toBe(4000);
    const id = newId();
    expect((await sender().startConversation(id)).delivered).toBe(true);

    writeFileSync(file, good);
    await waitFor('the good file again', async () => (await ready()).agentsFile.valid, 10_000);
    expect(await metric('iva_agents_file_valid')).toBe(1);
  });

  it('reads the agents file and the secrets in .env again on SIGHUP (a bridge in its own process)', async () => {
    const main = resolve('dist/src/main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: npm test builds it first`);
    const dir = mkdtempSync(join(tmpdir(), 'iva-hup-'));
    writeFileSync(join(dir, 'agents.yaml'), readFileSync(file, 'utf8'));
    const port = await freePort();
    const childEnv: Record<string, string | undefined> = {
      ...testEnv({ DATABASE_URL: bridge.config.env.DATABASE_URL, REDIS_PREFIX: `${bridge.redisPrefix}-hup`, ROLE: 'web', PORT: String(port), AGENTS_FILE: 'agents.yaml', ...inbox.env() }),
      PATH: process.env.PATH,
      LOG_LEVEL: 'info',
    };
    delete childEnv.TRIAGE_SECRET; // from .env, which a reload reads again
    writeFileSync(join(dir, '.env'), `TRIAGE_SECRET=${TRIAGE_SECRET}\n`);
    const child = spawn(process.execPath, [main], { cwd: dir, env: childEnv, stdio: ['ignore', 'pipe', 'ignore'] });
    let output = '';
    child.stdout!.on('data', (c) => (output += c));
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitFor('the child bridge', () => fetch(`${url}/health`).then((r) => r.ok, () => false), 20_000);
      const via = (secretHex: string) => new WebhookSender({ bridgeUrl: url, agentId: 'acme', secretHex, inbox, retries: 0 });
      expect((await via(TRIAGE_SECRET).startConversation(newId())).delivered).toBe(true);

      const rotated = 'aa'.repeat(16);
      writeFileSync(join(dir, '.env'), `TRIAGE_SECRET=${rotated}\n`);
      child.kill('SIGHUP');
      await waitFor('the rotated secret', async () => (await via(rotated).startConversation(newId())).delivered, 10_000);
      expect((await via(TRIAGE_SECRET).startConversation(newId())).attempts[0]).toEqual({ status: 401 });
      expect([child.exitCode, child.signalCode]).toEqual([null, null]); // SIGHUP reloads; it does not stop the process
      expect(output).toMatch(/"agentId":"acme","fields":\["secret"\],"msg":"agents file reloaded: agent changed"/);
      expect(output).not.toContain(rotated);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('stops intake for a removed agent, and lets its open conversations end by their timers', async () => {
    llm.respondWith(() => ({ decision: { message: 'Anything else?' } }));
    const id = newId();
    await sender().startConversation(id);
    await sender().contactSays(id, 'hi');
    await waitFor('the reply', () => inbox.messagesSent(id).length === 1);

    const good = readFileSync(file, 'utf8');
    const withoutAcme = good.replace(/  - id: acme\n[\s\S]*?(?=  - id: helper)/, '');
    try {
      writeFileSync(file, withoutAcme);
      await waitFor('acme removed', () => bridge.config.servedAgent('acme') === undefined, 10_000);
      // A probe that does not tell the fake platform (which would give the conversation to a person on a failed delivery).
      const probe = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'acme', secretHex: TRIAGE_SECRET, retries: 0 });
      expect((await probe.contactSays(id, 'are you there?')).attempts[0]).toEqual({ status: 404 });
      // The contact deadline (3 s) still fires with the agent the conversation started with: nudge, then close.
      await waitFor('the close', () => inbox.calls(id).some((c) => (c.body as { complete?: string }).complete === 'RESOLVED'), 15_000);
      expect(inbox.messagesSent(id).slice(-1)).toEqual(['Closing this conversation now. Bye!']);
    } finally {
      writeFileSync(file, good);
      await waitFor('acme back', () => bridge.config.servedAgent('acme') !== undefined, 10_000);
    }
  });
});
