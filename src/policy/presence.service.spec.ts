import { parseAgents } from '../config/agents.loader.js';
import type { AppConfig } from '../config/app-config.js';
import { InboxClient } from '../inbox/inbox.client.js';
import { InboxRequestError } from '../inbox/inbox.errors.js';
import type { OnlineAgents } from '../inbox/presence.schema.js';
import { PRESENCE_DENIED_RETRY_MS, PresenceService } from './presence.service.js';

const [agent] = parseAgents(
  `agents:
  - id: acme
    name: Acme
    mode: inception
    secretEnv: S
    llm: { model: m }
    prompt: Be kind.
    businessHours:
      timeZone: UTC
      weekly: { mon: ['00:00-24:00'] }
      presence: { enabled: true, cacheFor: 30s }
`,
  { S: 'aa' },
);

/** An Inbox whose presence answers are released by the test. */
class StubInbox extends InboxClient {
  calls = 0;
  private pending: Array<{ resolve: (a: OnlineAgents) => void; reject: (e: unknown) => void }> = [];
  manipulateConversation = async () => undefined;
  uploadAttachment = async () => undefined;
  overwriteContactAttributes = async () => undefined;
  override onlineAgents(): Promise<OnlineAgents> {
    this.calls++;
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }
  async answer(a: OnlineAgents | Error): Promise<void> {
    const next = this.pending.shift()!;
    if (a instanceof Error) next.reject(a);
    else next.resolve(a);
    await new Promise((r) => setImmediate(r));
  }
}

const nobody: OnlineAgents = { agents: [{ id: 'a', userPresence: 'AWAY' }] };
const someone: OnlineAgents = { agents: [{ id: 'a', userPresence: 'AWAY' }, { id: 'b', userPresence: 'AVAILABLE' }] };

describe(PresenceService.name, () => {
  let inbox: StubInbox;
  let sut: PresenceService;
  let warnings: unknown[];
  const t0 = 1_000_000_000;

  beforeEach(() => {
    inbox = new StubInbox();
    sut = new PresenceService({ agents: [agent], runsWorkers: true } as unknown as AppConfig, inbox);
    warnings = [];
    // The service's own logger, replaced: what it warns is part of the behaviour.
    Object.assign(sut, { logger: { warn: (m: unknown) => warnings.push(m), debug: () => undefined } });
  });

  it('never waits: the first read is unknown and asks in the background; later reads use the answer', async () => {
    expect(sut.current(agent, t0)).toBe('unknown');
    expect(inbox.calls).toBe(1);
    expect(sut.current(agent, t0 + 1)).toBe('unknown'); // one request in flight at a time
    expect(inbox.calls).toBe(1);
    await inbox.answer(nobody);
    expect(sut.current(agent, Date.now())).toBe('nobody');
    expect(inbox.calls).toBe(1);
  });

  it('a stale answer is still used while it is refreshed, then dropped if the refreshes keep failing', async () => {
    sut.current(agent, t0);
    await inbox.answer(someone);
    const answeredAt = Date.now();
    expect(sut.current(agent, answeredAt + 30_000)).toBe('someone'); // stale: used, and a refresh starts
    expect(inbox.calls).toBe(2);
    await inbox.answer(new Error('socket hang up'));
    expect(sut.current(agent, answeredAt + 121_000)).toBe('unknown'); // over 4 × cacheFor
  });

  it('an answer with a presence value the API does not document is unknown, never "nobody"', async () => {
    sut.current(agent, t0);
    await inbox.answer({ agents: [{ id: 'a', userPresence: 'BUSY' }] });
    expect(sut.current(agent, Date.now())).toBe('unknown');
  });

  it('a 403 turns presence off for an hour and warns once', async () => {
    sut.current(agent, t0);
    await inbox.answer(new InboxRequestError(403, '{}', 'list online agents'));
    const refusedAt = Date.now();
    expect(sut.current(agent, refusedAt + 60_000)).toBe('unknown');
    expect(inbox.calls).toBe(1);
    expect(sut.current(agent, refusedAt + PRESENCE_DENIED_RETRY_MS + 1000)).toBe('unknown');
    expect(inbox.calls).toBe(2);
    await inbox.answer(new InboxRequestError(403, '{}', 'list online agents'));
    expect(warnings).toHaveLength(1);
  });

  it('is off for an agent without presence', () => {
    const [plain] = parseAgents(`agents:\n  - { id: b, name: B, mode: inception, secretEnv: S, llm: { model: m }, prompt: p }\n`, { S: 'aa' });
    expect(sut.current(plain)).toBe('off');
    expect(inbox.calls).toBe(0);
  });
});
