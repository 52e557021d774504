import { RetentionService } from '../src/retention/retention.service.js';
import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm } from './fakes/fake-llm.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { ORCHESTRATION_AGENTS, lastContactText } from './support/agents.js';
import { TRIAGE_SECRET, startBridge, waitFor, type TestBridge } from './support/bridge.js';

/** Retention through the real path: conversations made by webhooks, aged in SQL, pruned by the service. */
describe('retention', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  let bridge: TestBridge;
  let acme: WebhookSender;

  beforeAll(async () => {
    await Promise.all([inbox.start(), llm.start()]);
    bridge = await startBridge({
      agents: ORCHESTRATION_AGENTS,
      inbox,
      llm,
      // A long interval: the test runs the rounds itself. Small batches, to prove batching ends.
      env: { RETENTION_EVENTS: '30d', RETENTION_TRANSCRIPTS: '180d', RETENTION_INTERVAL: '1h', RETENTION_BATCH_SIZE: '2' },
    });
    acme = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'acme', secretHex: TRIAGE_SECRET, inbox });
  });
  afterAll(async () => {
    await bridge.close();
    await Promise.all([inbox.stop(), llm.stop()]);
  });

  const counts = async (inboxId: string) => {
    const [row] = await bridge.db.query<Record<string, string>>(
      `SELECT (SELECT count(*) FROM conversations c WHERE c.inbox_conversation_id = $1)::text AS conversations,
              (SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.inbox_conversation_id = $1)::text AS messages,
              (SELECT count(*) FROM decisions d JOIN conversations c ON c.id = d.conversation_id WHERE c.inbox_conversation_id = $1)::text AS decisions,
              (SELECT count(*) FROM webhook_events e WHERE e.inbox_conversation_id = $1)::text AS events`,
      [inboxId],
    );
    return row;
  };
  /** Moves a conversation (and its events) back in time, as if it had happened `days` ago. */
  const age = async (inboxId: string, days: number) => {
    await bridge.db.query(`UPDATE conversations SET state_changed_at = now() - $2 * interval '1 day' WHERE inbox_conversation_id = $1`, [inboxId, days]);
    await bridge.db.query(`UPDATE webhook_events SET received_at = now() - $2 * interval '1 day' WHERE inbox_conversation_id = $1`, [inboxId, days]);
  };
  const prune = async () => {
    const service = bridge.app.get(RetentionService);
    // The round the service starts at boot may still hold the lock: wait for our own.
    return waitFor('a retention round', () => service.prune(), 10_000, 100);
  };

  it('prunes an old ended conversation with everything about it, keeps an active one and a recent one', async () => {
    llm.respondWith((req) => (lastContactText(req).includes('bye') ? { decision: { action: 'resolve', message: 'Bye!' } } : { decision: { message: 'Noted.' } }));
    const ids = ['old-ended-1', 'old-ended-2', 'old-ended-3', 'old-active', 'recent-ended'];
    for (const id of ids) await acme.startConversation(id);
    for (const id of ids) await acme.contactSays(id, id === 'old-active' ? 'still here' : 'ok, bye');
    await waitFor('every answer', () => ids.every((id) => inbox.messagesSent(id).length === 1));
    await waitFor('the ended ones ended', async () => {
      const rows = await bridge.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM conversations WHERE state = 'resolved'`);
      return rows[0].n === '4';
    });
    for (const id of ['old-ended-1', 'old-ended-2', 'old-ended-3', 'old-active']) await age(id, 200);
    await age('recent-ended', 10);
    expect(await counts('old-ended-1')).toMatchObject({ conversations: '1', decisions: '1', messages: '2' });

    const result = await prune();
    // Three old ended conversations in batches of two, and their two events each (the conversation's
    // opening and the message); the active one's old events stay with it.
    expect(result).toEqual({ conversations: 3, events: 6 });
    for (const id of ['old-ended-1', 'old-ended-2', 'old-ended-3']) expect(await counts(id)).toEqual({ conversations: '0', messages: '0', decisions: '0', events: '0' });
    expect(await counts('old-active')).toMatchObject({ conversations: '1', messages: '2', decisions: '1' });
    expect(Number((await counts('old-active')).events)).toBeGreaterThan(0);
    expect(await counts('recent-ended')).toMatchObject({ conversations: '1', messages: '2', decisions: '1' });
    const [{ outcomes }] = await bridge.db.query<{ outcomes: string }>(`SELECT count(*)::text AS outcomes FROM session_outcomes`);
    expect(outcomes).toBe('1'); // recent-ended's; the pruned ones' went with them

    // The active conversation goes on as before.
    await acme.contactSays('old-active', 'and another thing');
    await waitFor('the next answer', () => inbox.messagesSent('old-active').length === 2);
  });

  it('prunes old events on their own, keeping the messages that came from them', async () => {
    llm.respondWith(() => ({ decision: { message: 'Hello again.' } }));
    await acme.startConversation('events-only');
    await acme.contactSays('events-only', 'hello');
    await waitFor('the answer', () => inbox.messagesSent('events-only').length === 1);
    // Active, so its events are kept even when old…
    await bridge.db.query(`UPDATE webhook_events SET received_at = now() - interval '40 days' WHERE inbox_conversation_id = 'events-only'`);
    expect((await prune())!.events).toBe(0);
    // …and pruned once it has ended, while the conversation itself is young enough to stay.
    await bridge.db.query(`UPDATE conversations SET state = 'resolved', state_changed_at = now() WHERE inbox_conversation_id = 'events-only'`);
    const result = await prune();
    expect(result!.events).toBeGreaterThanOrEqual(2);
    expect(await counts('events-only')).toMatchObject({ conversations: '1', messages: '2', events: '0' });
    const [{ linked }] = await bridge.db.query<{ linked: string }>(
      `SELECT count(m.event_id)::text AS linked FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.inbox_conversation_id = 'events-only'`,
    );
    expect(linked).toBe('0');
  });
});
