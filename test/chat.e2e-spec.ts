import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadCaseFile } from '../src/evals/case.loader.js';
import { waitFor } from './support/bridge.js';

const CHAT = 'dist/scripts/chat.js';

/** The playground as a person runs it, from `cwd`: `child` to type into, `out()` what it printed so far. */
function startChat(agentsFile: string, cwd = process.cwd()) {
  if (!existsSync(CHAT)) throw new Error(`${CHAT} is missing: npm test builds it first`);
  const child = spawn(process.execPath, [resolve(CHAT), '--agent', 'acme-triage', '--agents', resolve(agentsFile), '--scripted'], {
    cwd,
    env: { PATH: process.env.PATH },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let printed = '';
  child.stdout.on('data', (chunk) => (printed += chunk));
  child.stderr.on('data', (chunk) => (printed += chunk));
  const exited = new Promise<number | null>((done) => child.on('exit', done));
  return { child, out: () => printed, exited };
}

describe('npm run chat (the prompt playground)', () => {
  it('shows each decision, keeps the conversation, and re-reads the agents file between turns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iva-chat-'));
    const agentsFile = join(dir, 'agents.yaml');
    writeFileSync(agentsFile, readFileSync('agents.example.yaml', 'utf8'));
    const { child, out, exited } = startChat(agentsFile);

    await waitFor('the banner', () => out().includes('Type as the contact'));
    child.stdin.write('Where is my order A-12345?\n');
    await waitFor('the first decision', () => out().includes('reason:'));
    expect(out()).toMatch(/agent › Thanks, I have noted order A-12345\. I cannot see its delivery status/);
    expect(out()).toMatch(/action: reply {3}confidence: 0.92/);
    expect(out()).toMatch(/topics: Shipping {3}attributes: order_number=A-12345/);

    // The team renames the topic in the agents file; the next turn uses the new allow-list.
    writeFileSync(agentsFile, readFileSync(agentsFile, 'utf8').replace('topics: [Billing, Shipping, Returns]', 'topics: [Billing, Delivery, Returns]'));
    const before = out().length;
    child.stdin.write('And order B-777?\n');
    await waitFor('the second decision', () => out().slice(before).includes('reason:'));
    const second = out().slice(before);
    expect(second).toMatch(/topics: Billing/);
    expect(second).not.toMatch(/Shipping/);

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
    const { child, out, exited } = startChat('agents.example.yaml', dir);
    await waitFor('the banner', () => out().includes('Type as the contact'));
    child.stdin.write('Where is my order A-12345?\n');
    await waitFor('the decision', () => out().includes('reason:'));
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
