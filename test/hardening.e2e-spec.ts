import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import pg from 'pg';
import { AppConfig } from '../src/config/app-config.js';
import { timerJobId } from '../src/scheduler/queues.js';
import { BullTimerQueue } from '../src/scheduler/timer-queue.js';
import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm, type ChatRequest } from './fakes/fake-llm.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { ORCHESTRATION_AGENTS, lastContactText } from './support/agents.js';
import { HELPER_SECRET, REDIS_URL, TRIAGE_SECRET, startBridge, waitFor, type TestBridge } from './support/bridge.js';

/**
 * One test per defect found in the hardening review (issue 10), each failing on the code before
 * its fix. `acme` answers without a typing call, so its first call is the reply itself.
 */
const AGENTS = `${ORCHESTRATION_AGENTS.replace('    prompt: You are Acme', '    typingIndicator: false\n    prompt: You are Acme')}
  - id: burst
    name: Burst
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are Acme's assistant.
    typingIndicator: false
    limits: { historyWindow: 4 }
    timeouts: { turnDebounce: 0s, virtualAgent: 1m, contact: 1h }
`;

const isSummary = (req: ChatRequest) => req.response_format?.json_schema?.name === 'summary';

describe('hardening: the defects of the review stay fixed', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  let bridge: TestBridge;
  let acme: WebhookSender;
  let helper: WebhookSender;
  let burst: WebhookSender;
  const newId = () => `hard-${randomUUID()}`;
  const row = async (id: string) => (await bridge.db.query<Record<string, any>>(`SELECT * FROM conversations WHERE inbox_conversation_id = $1`, [id]))[0];
  const applied = (id: string) => inbox.calls(id).filter((c) => c.status === 200 && !('indicateTyping' in c.body && Object.keys(c.body).length === 1));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    await Promise.all([inbox.start(), llm.start()]);
    bridge = await startBridge({ agents: AGENTS, inbox, llm, env: { OPENAI_TIMEOUT: '10s', OPENAI_MAX_RETRIES: '0', INBOX_MAX_ATTEMPTS: '1' } });
    acme = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'acme', secretHex: TRIAGE_SECRET, inbox });
    helper = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'helper', secretHex: HELPER_SECRET, inbox });
    burst = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'burst', secretHex: TRIAGE_SECRET, inbox });
  });
  afterAll(async () => {
    await bridge.close();
    await Promise.all([inbox.stop(), llm.stop()]);
  });
  beforeEach(() => llm.reset());

  it('1. sends a slow reply once: the VA-deadline timer of the same process waits for the turn instead of replaying it', async () => {
    llm.respondWith(() => ({ decision: { message: 'Your answer.' } }));
    const id = newId();
    await acme.startConversation(id);
    inbox.delay(id, 3500, 1); // the reply call outlasts the VA deadline (4 s − 1 s margin)
    await acme.contactSays(id, 'Where is my order?');
    await waitFor('the reply', () => applied(id).length >= 1, 10_000);
    await sleep(1000);
    expect(inbox.messagesSent(id).filter((m) => m === 'Your answer.')).toHaveLength(1);
    expect(inbox.calls(id).filter((c) => c.body.complete)).toEqual([]);
    expect(await bridge.db.query(`SELECT kind, status FROM actions WHERE conversation_id = $1`, [(await row(id)).id])).toEqual([{ kind: 'reply', status: 'done' }]);
  });

  it('2. never sends a call planned in one session in the next one', async () => {
    llm.respondWith((req) => ({ decision: { message: lastContactText(req) === 'first' ? 'stale reply' : 'fresh reply' } }));
    const id = newId();
    await burst.startConversation(id);
    inbox.failNext(id, 503, 1000);
    await burst.contactSays(id, 'first');
    await waitFor('the reply stuck in the outbox', async () => {
      const c = await row(id);
      const [a] = c ? await bridge.db.query<{ attempts: number }>(`SELECT attempts FROM actions WHERE conversation_id = $1 AND status = 'planned'`, [c.id]) : [];
      return a && a.attempts >= 1;
    });
    await burst.startConversation(id); // a new session
    inbox.clearFaults(id);
    await burst.contactSays(id, 'second');
    await waitFor('the fresh reply', () => inbox.messagesSent(id).includes('fresh reply'), 10_000);
    await sleep(2500); // a retried job of the first session would replay now
    expect(inbox.messagesSent(id)).toEqual(['fresh reply']);
    expect(await bridge.db.query(`SELECT status FROM actions WHERE conversation_id = $1 ORDER BY id`, [(await row(id)).id])).toEqual([{ status: 'superseded' }, { status: 'done' }]);
  });

  it('3a. a late CONVERSATION_STARTED keeps the VA deadline its first message armed', async () => {
    llm.respondWith(() => ({ delayMs: 1500, decision: { message: 'Hello!' } }));
    const id = newId();
    inbox.openConversation(id);
    await burst.contactSays(id, 'hi'); // delivered before its start
    const armed = (await row(id)).va_deadline_at;
    expect(armed).not.toBeNull();
    await burst.startConversation(id);
    expect((await row(id)).va_deadline_at).toEqual(armed);
    await waitFor('the reply', () => inbox.messagesSent(id).includes('Hello!'));
    expect((await row(id)).session).toBe(1);
  });

  it('3b. a start that arrives after the first reply keeps the nudge and the contact deadline', async () => {
    llm.respondWith(() => ({ decision: { message: 'Anything else?' } }));
    const id = newId();
    inbox.openConversation(id);
    await acme.contactSays(id, 'hi');
    await waitFor('the reply', () => inbox.messagesSent(id).length === 1);
    await waitFor('the contact deadline', async () => (await row(id)).contact_deadline_at !== null);
    const before = await row(id);
    await acme.startConversation(id);
    const after = await row(id);
    expect([after.nudge_at, after.contact_deadline_at]).toEqual([before.nudge_at, before.contact_deadline_at]);
    await waitFor('nudged and closed', () => inbox.messagesSent(id).length === 3, 10_000);
    expect(inbox.messagesSent(id).slice(1)).toEqual(['Still there?', 'Closing this conversation now. Bye!']);
  });

  it('4. answers a message delivered before the event that reopens an ended conversation', async () => {
    llm.respondWith((req) =>
      lastContactText(req) === 'thanks, bye' ? { decision: { action: 'resolve', message: 'Bye!' } } : { decision: { message: `re: ${lastContactText(req)}` } },
    );
    const id = newId();
    await acme.startConversation(id);
    await acme.contactSays(id, 'thanks, bye');
    await waitFor('resolved', async () => (await row(id))?.state === 'resolved');
    inbox.openConversation(id); // the platform gives it back to the VA…
    await acme.contactSays(id, 'one more thing'); // …and this overtakes the CONVERSATION_STARTED
    await acme.startConversation(id);
    await waitFor('the answer in the new session', () => inbox.messagesSent(id).includes('re: one more thing'), 10_000);
    // The reply is recorded as delivered just after the platform took it: wait for that record, not the call.
    const c = (await waitFor('the delivery recorded', async () => {
      const r = await row(id);
      return r.va_deadline_at === null ? r : undefined;
    }))!;
    expect([c.state, c.session]).toEqual(['active', 2]);
    expect(c.contact_deadline_at).not.toBeNull();
  });

  it('5a. the sweep revives a timer job that failed all its attempts instead of re-adding it in vain', async () => {
    const prefix = `iva-failed-${randomUUID().slice(0, 8)}`;
    const queue = new Queue('timers', { connection: { url: REDIS_URL }, prefix });
    const worker = new Worker('timers', async () => { throw new Error('PostgreSQL is away'); }, { connection: { url: REDIS_URL, maxRetriesPerRequest: null }, prefix });
    try {
      const dueAt = new Date(Date.now() - 1000);
      await queue.add('timer', { conversationId: 'c1' }, { jobId: timerJobId('c1', dueAt), attempts: 1 });
      await waitFor('the job failed', async () => (await queue.getJob(timerJobId('c1', dueAt)))?.isFailed());
      await worker.close();
      const sut = new BullTimerQueue(queue as never, { env: { SCHEDULER_SWEEP_INTERVAL: 60_000 } } as AppConfig);
      await sut.armMany([{ conversationId: 'c1', dueAt }], new Date());
      expect(await (await queue.getJob(timerJobId('c1', dueAt)))!.getState()).toBe('waiting');
    } finally {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('5b. a timer job that fires early re-arms its own deadline under an id of its own, and the deadline fires', async () => {
    llm.respondWith(() => ({ decision: { message: 'Anything else?' } }));
    const id = newId();
    await acme.startConversation(id);
    await acme.contactSays(id, 'hi');
    await waitFor('the reply', () => inbox.messagesSent(id).length === 1);
    const c = await waitFor('the nudge deadline', async () => ((await row(id)).nudge_at ? row(id) : undefined)) as Record<string, any>;
    const nudgeAt: Date = c.nudge_at;
    const timers = bridge.queue('timers');
    const jobId = timerJobId(c.id, nudgeAt);
    await waitFor('the nudge job', () => timers.getJob(jobId));
    await timers.remove(jobId);
    // The first message's VA-deadline job would otherwise wake the conversation soon after and send
    // the overdue nudge by chance: only the early job may stand between the deadline and its firing.
    for (const j of await timers.getJobs(['delayed', 'waiting'])) if (j.data.conversationId === c.id) await j.remove();
    // The same job, made to fire 400 ms before its deadline by the database clock.
    await timers.add('timer', { conversationId: c.id, dueAt: nudgeAt.getTime() }, { jobId, delay: Math.max(0, nudgeAt.getTime() - Date.now() - 400) });
    await waitFor('the nudge', () => inbox.messagesSent(id).includes('Still there?'), 6000);
  });

  it('6. stores a message with a NUL and a contact with half an emoji, answers it, and keeps the raw bytes', async () => {
    llm.respondWith(() => ({ decision: { message: 'Got it.' } }));
    const id = newId();
    const start = await acme.startConversation(id, { contactProfile: { id: 'p1', primaryIdentifier: 'Ann \ud83d' } });
    expect(start.attempts).toEqual([{ status: 200 }]);
    const said = await acme.contactSays(id, 'a \u0000 b');
    expect(said.attempts).toEqual([{ status: 200 }]);
    await waitFor('the reply', () => inbox.messagesSent(id).includes('Got it.'));
    const c = await row(id);
    expect(c.contact_profile.primaryIdentifier).toBe('Ann \ufffd');
    const [m] = await bridge.db.query(`SELECT text FROM messages WHERE conversation_id = $1 AND direction = 'inbound'`, [c.id]);
    expect(m.text).toBe('a \ufffd b');
    const events = await bridge.db.query<{ raw: string | null }>(`SELECT convert_from(raw_body, 'UTF8') AS raw FROM webhook_events WHERE inbox_conversation_id = $1 ORDER BY id`, [id]);
    expect(events.map((e) => e.raw !== null)).toEqual([true, true]);
    expect(events[1].raw).toContain('a \\u0000 b');
  });

  it('7. the same messageId under a new idempotencyKey leaves the contact timers alone', async () => {
    llm.respondWith(() => ({ decision: { message: 'Anything else?' } }));
    const id = newId();
    await acme.startConversation(id);
    const messageId = randomUUID();
    await acme.contactSays(id, 'hello', { messageId });
    await waitFor('the reply', () => inbox.messagesSent(id).length === 1);
    await waitFor('the contact deadline', async () => (await row(id)).contact_deadline_at !== null);
    const before = await row(id);
    await acme.contactSays(id, 'hello', { messageId }); // a new idempotency key
    const after = await row(id);
    expect([after.va_deadline_at, after.nudge_at, after.contact_deadline_at]).toEqual([null, before.nudge_at, before.contact_deadline_at]);
    expect(await bridge.db.query(`SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1 AND direction = 'inbound'`, [after.id])).toEqual([{ n: 1 }]);
    expect(await bridge.db.query(`SELECT count(*)::int AS n FROM webhook_events WHERE inbox_conversation_id = $1`, [id])).toEqual([{ n: 3 }]);
  });

  it('8. a 404 for a call of an earlier session does not end the session opened since', async () => {
    llm.respondWith(() => ({ decision: { message: 'What is your order number?' } }));
    const id = newId();
    inbox.openConversation(id);
    inbox.delay(id, 1500, 1);
    inbox.failNext(id, 404, 1); // the first session's typing call: slow, then 404
    await helper.delegate(id);
    await sleep(500);
    await helper.delegate(id); // delegated again meanwhile: session 2
    // The opening question, or the greeting if the first-question deadline comes first: either way, session 2 speaks.
    await waitFor('the opening of session 2', () => inbox.messagesSent(id).length > 0, 10_000);
    const c = await row(id);
    expect([c.state, c.session]).toEqual(['active', 2]);
  });

  it('9. a close the platform refuses ends in a fallback handover; a refused fallback lets the conversation go', async () => {
    llm.respondWith(() => ({ decision: { message: 'Anything else?' } }));
    const refusedOnce = newId();
    const refusedTwice = newId();
    for (const id of [refusedOnce, refusedTwice]) {
      await acme.startConversation(id);
      await acme.contactSays(id, 'hi');
    }
    await waitFor('both nudged', () => [refusedOnce, refusedTwice].every((id) => inbox.messagesSent(id).includes('Still there?')), 10_000);
    inbox.failNext(refusedOnce, 400, 1);
    inbox.failNext(refusedTwice, 400, 2);
    await waitFor('the fallback handover', () => applied(refusedOnce).some((c) => c.body.complete === 'HANDOVER'), 10_000);
    const fallback = applied(refusedOnce).find((c) => c.body.complete === 'HANDOVER')!;
    expect(fallback.body.sendMessage).toBeUndefined();
    expect((fallback.body.applyConversationNotes as Array<{ text: string }>)[0].text).toMatch(/refused/);
    await waitFor('handed over', async () => (await row(refusedOnce)).state === 'handed_over');
    await waitFor('let go', async () => (await row(refusedTwice)).state === 'lost', 10_000);
    const gone = await row(refusedTwice);
    expect(gone.state_reason).toMatch(/refused even the fallback/);
    expect(gone.next_deadline_at).toBeNull();
  });

  it('9b. a contact message that lands as the contact deadline fires is answered, not closed over', async () => {
    llm.respondWith((req) => ({ decision: { message: lastContactText(req) === 'still here' ? 'Great, go on.' : 'Anything else?' } }));
    const id = newId();
    await acme.startConversation(id);
    await acme.contactSays(id, 'hi');
    await waitFor('the nudge', () => inbox.messagesSent(id).includes('Still there?'), 10_000);
    const c = (await waitFor('the nudge recorded and the lease free', async () => {
      const r = await row(id);
      const done = await bridge.db.query(`SELECT 1 FROM actions WHERE conversation_id = $1 AND kind = 'nudge' AND status = 'done'`, [r.id]);
      return done.length === 1 && r.turn_owner === null && r.contact_deadline_at ? r : undefined;
    })) as Record<string, any>;
    // Only the contact deadline's own job may fire (the first message's VA-deadline job is still in Redis).
    const timers = bridge.queue('timers');
    for (const j of await timers.getJobs(['delayed', 'waiting'])) {
      if (j.data.conversationId === c.id && j.id !== timerJobId(c.id, c.contact_deadline_at)) await j.remove();
    }
    const waiting = () => bridge.db.query<{ query: string }>(`SELECT query FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
    const holder = new pg.Client({ connectionString: bridge.db.url });
    await holder.connect();
    let said: ReturnType<WebhookSender['contactSays']> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE', [c.id]);
      // The contact-deadline timer's lease claim queues on the row first…
      await waitFor('the timer claiming', async () => (await waiting()).some((a) => a.query.includes('SET turn_owner = $2')), 5000);
      // …the message's intake behind it: the claim returns the row as it was before the message.
      said = acme.contactSays(id, 'still here');
      await waitFor('the intake queued', async () => (await waiting()).some((a) => a.query.includes('INSERT INTO conversations')), 5000);
    } finally {
      await holder.query('COMMIT').catch(() => undefined);
      await holder.end();
    }
    expect((await said!).attempts).toEqual([{ status: 200 }]);
    await waitFor('an answer or a close', () => inbox.messagesSent(id).some((m) => m === 'Great, go on.' || m.startsWith('Closing')), 10_000);
    await sleep(500);
    expect(inbox.messagesSent(id)).toEqual(['Anything else?', 'Still there?', 'Great, go on.']);
    expect((await row(id)).state).toBe('active');
    const [m] = await bridge.db.query<{ decision_id: string | null }>(
      `SELECT decision_id FROM messages WHERE conversation_id = $1 AND direction = 'inbound' AND text = 'still here'`, [c.id]);
    expect(m.decision_id).not.toBeNull();
  });

  it('10. drops a turn for a conversation that no longer exists instead of retrying it every second', async () => {
    const turns = bridge.queue('turns');
    const ghost = randomUUID();
    const job = await turns.add('turn', { conversationId: ghost });
    await waitFor('the job done', async () => (await turns.getJob(job.id!))?.isCompleted());
    await sleep(300);
    const delayed = await turns.getJobs(['delayed', 'waiting']);
    expect(delayed.filter((j) => j.data.conversationId === ghost)).toEqual([]);
  });

  it('12. a burst longer than the history window reaches the LLM and the human-request guardrail whole', async () => {
    llm.respondWith(() => ({ delayMs: 300, decision: { message: 'Sure.' } }));
    const id = newId();
    await burst.startConversation(id);
    await burst.contactSays(id, 'hello');
    await waitFor('the first reply', () => inbox.messagesSent(id).length === 1);
    llm.reset();
    llm.respondWith(() => ({ decision: { message: 'Sure.' } }));
    // Six messages while no turn runs (the contact deadline is far): one turn gets them all.
    await bridge.db.query(`UPDATE conversations SET turn_owner = 'test', turn_lease_until = now() + interval '1 hour' WHERE inbox_conversation_id = $1`, [id]);
    for (const text of ['I want to talk to a human', 'order A-1', 'three', 'four', 'five', 'six']) await burst.contactSays(id, text);
    await bridge.db.query(`UPDATE conversations SET turn_owner = NULL, turn_lease_until = NULL WHERE inbox_conversation_id = $1`, [id]);
    await bridge.queue('turns').add('turn', { conversationId: (await row(id)).id });
    await waitFor('the handover', () => applied(id).some((c) => c.body.complete === 'HANDOVER'), 10_000);
    expect(llm.requests[0].messages.filter((m) => m.role === 'user').map((m) => m.content)).toEqual(
      expect.arrayContaining(['I want to talk to a human', 'order A-1', 'three', 'four', 'five', 'six']),
    );
  });

  it('15. a message arriving during the summary step is answered without waiting for it', async () => {
    let summaryInFlight = false;
    let answeredDuringSummary: boolean | undefined;
    llm.respondWith((req) => {
      if (isSummary(req)) {
        summaryInFlight = true;
        setTimeout(() => (summaryInFlight = false), 5000);
        return { delayMs: 5000, summary: 'The contact said m1 to m3.' };
      }
      return { decision: { message: `re ${lastContactText(req)}` } };
    });
    const id = newId();
    await burst.startConversation(id);
    for (const m of ['m1', 'm2', 'm3']) {
      await burst.contactSays(id, m);
      await waitFor(`the reply to ${m}`, () => inbox.messagesSent(id).includes(`re ${m}`));
    }
    await waitFor('the summary step', () => summaryInFlight);
    await burst.contactSays(id, 'm4');
    await waitFor('the reply to m4', () => {
      if (!inbox.messagesSent(id).includes('re m4')) return false;
      answeredDuringSummary = summaryInFlight;
      return true;
    }, 10_000);
    expect(answeredDuringSummary).toBe(true);
    await waitFor('the summary saved', async () => (await row(id)).summary !== null, 10_000);
  });
});
