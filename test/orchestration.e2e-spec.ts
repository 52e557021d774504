import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm } from './fakes/fake-llm.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { ORCHESTRATION_AGENTS, lastContactText } from './support/agents.js';
import { HELPER_SECRET, TRIAGE_SECRET, startBridge, waitFor, type TestBridge } from './support/bridge.js';

describe('conversation orchestration', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  let bridge: TestBridge;
  let acme: WebhookSender;
  let helper: WebhookSender;
  let n = 0;
  const newId = () => `conv-${++n}-${Date.now()}`;

  beforeAll(async () => {
    await Promise.all([inbox.start(), llm.start()]);
    bridge = await startBridge({ agents: ORCHESTRATION_AGENTS, inbox, llm, env: { OPENAI_TIMEOUT: '10s', OPENAI_MAX_RETRIES: '0' } });
    acme = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'acme', secretHex: TRIAGE_SECRET, inbox });
    helper = new WebhookSender({ bridgeUrl: bridge.url, agentId: 'helper', secretHex: HELPER_SECRET, inbox });
  });
  afterAll(async () => {
    await bridge.close();
    await Promise.all([inbox.stop(), llm.stop()]);
  });
  beforeEach(() => {
    llm.reset();
  });

  /** What was applied for a conversation, typing indicators left out. */
  const applied = (id: string) => inbox.calls(id).filter((c) => c.status === 200 && !('indicateTyping' in c.body && Object.keys(c.body).length === 1));
  const row = async (id: string) => (await bridge.db.query(`SELECT * FROM conversations WHERE inbox_conversation_id = $1`, [id]))[0];

  it('Inception: answers, collects a topic and an attribute, then resolves when the contact is done', async () => {
    llm.respondWith((req) =>
      lastContactText(req).includes('Thanks')
        ? { decision: { action: 'resolve', message: 'Glad I could help!', confidence: 0.95 } }
        : { decision: { action: 'reply', message: 'Order A-12345 ships tomorrow.', topics: ['shipping'], contactAttributes: [{ name: 'order_number', value: 'A-12345' }] } },
    );
    const id = newId();
    await acme.startConversation(id, { contactProfile: { id: 'p1', primaryIdentifier: 'Ann' } });
    await acme.contactSays(id, 'Where is my order A-12345?');
    await waitFor('the reply', () => applied(id).length === 1);
    // The reply is stored once Inbox 2.0 has answered the call: wait for that, so that the order of
    // the rows below is the conversation's (the fake records the call before it answers).
    await waitFor('the reply stored', async () => (await bridge.db.query(`SELECT 1 FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.inbox_conversation_id = $1 AND m.direction = 'outbound'`, [id])).length === 1);
    await acme.contactSays(id, 'Thanks, that is all');
    await waitFor('the resolve', () => applied(id).length === 2);

    expect(applied(id).map((c) => c.body)).toEqual([
      { sendMessage: { text: 'Order A-12345 ships tomorrow.' }, applyTopics: ['Shipping'], setContactAttributes: { order_number: 'A-12345' } },
      { sendMessage: { text: 'Glad I could help!' }, complete: 'RESOLVED' },
    ]);
    expect(inbox.calls(id)[0].body).toEqual({ indicateTyping: 'START' });
    await waitFor('state resolved', async () => (await row(id)).state === 'resolved');
    const c = await row(id);
    expect([c.va_deadline_at, c.nudge_at, c.contact_deadline_at, c.next_deadline_at]).toEqual([null, null, null, null]);
    // The whole life is in Postgres: messages in both directions, decisions, and the calls made.
    const messages = await bridge.db.query(`SELECT direction, text, handled_at IS NOT NULL AS handled FROM messages WHERE conversation_id = $1 ORDER BY id`, [c.id]);
    expect(messages).toEqual([
      { direction: 'inbound', text: 'Where is my order A-12345?', handled: true },
      { direction: 'outbound', text: 'Order A-12345 ships tomorrow.', handled: false },
      { direction: 'inbound', text: 'Thanks, that is all', handled: true },
      { direction: 'outbound', text: 'Glad I could help!', handled: false },
    ]);
    expect(await bridge.db.query(`SELECT action FROM decisions WHERE conversation_id = $1 ORDER BY id`, [c.id])).toEqual([{ action: 'reply' }, { action: 'resolve' }]);
    expect(await bridge.db.query(`SELECT kind, status FROM actions WHERE conversation_id = $1 ORDER BY id`, [c.id])).toEqual([
      { kind: 'reply', status: 'done' },
      { kind: 'resolve', status: 'done' },
    ]);
  });

  it('Inception: escalates with the handover message, a note for the human, and HANDOVER', async () => {
    llm.script({ decision: { action: 'handover', message: '', handoverNote: 'Wants a refund of 300 EUR for order A-9', reason: 'refund over the limit', confidence: 0.9 } });
    const id = newId();
    await acme.startConversation(id);
    await acme.contactSays(id, 'I want a refund of 300 EUR for order A-9');
    await waitFor('the handover', () => applied(id).length === 1);
    const [call] = applied(id);
    expect(call.body).toMatchObject({ sendMessage: { text: expect.stringMatching(/colleague/) }, complete: 'HANDOVER' });
    const note = (call.body.applyConversationNotes as Array<{ text: string }>)[0].text;
    expect(note).toMatch(/refund over the limit/);
    expect(note).toMatch(/Wants a refund of 300 EUR for order A-9/);
    expect(note).toMatch(/Last from the contact: “I want a refund/);
    await waitFor('state handed_over', async () => (await row(id)).state === 'handed_over');
  });

  it('answers three quick messages with one LLM call that sees all three, in order', async () => {
    llm.respondWith(() => ({ decision: { message: 'Got all three.' } }));
    const id = newId();
    await acme.startConversation(id);
    await acme.contactSays(id, 'one');
    await acme.contactSays(id, 'two');
    await acme.contactSays(id, 'three');
    await waitFor('the reply', () => applied(id).length === 1);
    await new Promise((r) => setTimeout(r, 500));
    expect(llm.requests).toHaveLength(1);
    expect(llm.requests[0].messages.filter((m) => m.role === 'user').map((m) => m.content)).toEqual(['one', 'two', 'three']);
    expect(applied(id)).toHaveLength(1);
  });

  it('does not answer a redelivered webhook twice', async () => {
    llm.respondWith(() => ({ decision: { message: 'Once.' } }));
    const id = newId();
    await acme.startConversation(id);
    const first = await acme.contactSays(id, 'hello');
    await acme.send(first.event);
    await waitFor('the reply', () => applied(id).length === 1);
    await new Promise((r) => setTimeout(r, 600));
    expect(inbox.messagesSent(id)).toEqual(['Once.']);
    expect(llm.requests).toHaveLength(1);
  });

  it('Delegation: asks the opening question at once, with no contact message', async () => {
    llm.script({ decision: { action: 'reply', message: 'Hi! Could you share your order number?' } });
    const id = newId();
    const started = Date.now();
    await helper.delegate(id);
    await waitFor('the opening question', () => applied(id).length === 1);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(inbox.messagesSent(id)).toEqual(['Hi! Could you share your order number?']);
    expect(llm.requests[0].messages.some((m) => m.role === 'user')).toBe(false);
    expect(llm.requests[0].model).toBe('helper-model');
  });

  it('Delegation: sends the configured greeting when the LLM is too slow, and nothing else', async () => {
    llm.script({ delayMs: 8000, decision: { message: 'Too late' } });
    const id = newId();
    await helper.delegate(id);
    await waitFor('the greeting', () => applied(id).length === 1, 5000);
    await new Promise((r) => setTimeout(r, 3500));
    expect(inbox.messagesSent(id)).toEqual(['Hello! What is your order number?']);
    expect((await row(id)).first_question_at).toBeNull();
  });

  it('Delegation: the handover goes back to the agent who delegated (previous-agent)', async () => {
    llm.script({ decision: { message: 'What is your order number?' } }, { decision: { action: 'handover', message: '', handoverNote: 'Order A-7', contactAttributes: [] } });
    const id = newId();
    await helper.delegate(id);
    await waitFor('the opening', () => applied(id).length === 1);
    await helper.contactSays(id, 'A-7');
    await waitFor('the handover', () => applied(id).length === 2);
    expect(applied(id)[1].body).toMatchObject({ sendMessage: { text: expect.stringMatching(/back to the agent who helped you/) }, complete: 'HANDOVER' });
  });

  it('hands over with the error message before the VA deadline when the LLM is slow', async () => {
    llm.respondWith(() => ({ delayMs: 20_000, decision: { message: 'far too late' } }));
    const id = newId();
    await acme.startConversation(id);
    const sentAt = Date.now();
    await acme.contactSays(id, 'Are you there?');
    await waitFor('the handover', () => applied(id).length === 1, 10_000);
    const [call] = applied(id);
    expect(call.at - sentAt).toBeLessThan(4000); // the agent's virtualAgent timeout
    expect(call.body).toMatchObject({ sendMessage: { text: 'Sorry, I am stuck. A colleague will take over.' }, complete: 'HANDOVER' });
    expect((call.body.applyConversationNotes as Array<{ text: string }>)[0].text).toMatch(/LLM failed \(timeout/);
  });

  it('nudges a quiet contact once, then resolves with the timeout message and topic', async () => {
    llm.script({ decision: { message: 'Anything else?' } });
    const id = newId();
    await acme.startConversation(id);
    await acme.contactSays(id, 'hi');
    await waitFor('the close', () => applied(id).length === 3, 10_000);
    expect(applied(id).map((c) => c.body)).toEqual([
      { sendMessage: { text: 'Anything else?' } },
      { sendMessage: { text: 'Still there?' } },
      { sendMessage: { text: 'Closing this conversation now. Bye!' }, applyTopics: ['Timeout'], complete: 'RESOLVED' },
    ]);
    const [reply, nudge, close] = applied(id).map((c) => c.at);
    expect(nudge - reply).toBeGreaterThanOrEqual(1400);
    expect(close - reply).toBeGreaterThanOrEqual(2900);
    await waitFor('state resolved', async () => (await row(id)).state === 'resolved');
  });

  it('keeps the conversation open when the contact writes between the nudge and the close', async () => {
    llm.respondWith((req) => ({ decision: { message: lastContactText(req) === 'back!' ? 'Welcome back.' : 'Anything else?' } }));
    const id = newId();
    await acme.startConversation(id);
    await acme.contactSays(id, 'hi');
    await waitFor('the nudge', () => inbox.messagesSent(id).includes('Still there?'), 10_000);
    await acme.contactSays(id, 'back!');
    await waitFor('the answer', () => inbox.messagesSent(id).includes('Welcome back.'));
    // The old contact deadline (3 s after the first reply) passes without a close.
    await new Promise((r) => setTimeout(r, 1200));
    expect(inbox.messagesSent(id)).toEqual(['Anything else?', 'Still there?', 'Welcome back.']);
    expect((await row(id)).state).toBe('active');
  });

  it('marks the conversation lost on a 404 and sends nothing more to it', async () => {
    llm.respondWith(() => ({ decision: { message: 'hello' } }));
    const id = newId();
    await acme.startConversation(id);
    inbox.takeByHuman(id);
    await acme.contactSays(id, 'anyone?');
    await waitFor('state lost', async () => (await row(id))?.state === 'lost');
    const callsWhenLost = inbox.calls(id).length;
    await acme.contactSays(id, 'hello again?');
    await new Promise((r) => setTimeout(r, 800));
    expect(inbox.calls(id)).toHaveLength(callsWhenLost);
    expect(llm.requests).toHaveLength(0);
    const c = await row(id);
    expect(c.next_deadline_at).toBeNull();
    expect(await bridge.db.query(`SELECT count(*)::int AS n FROM messages WHERE conversation_id = $1 AND direction = 'inbound'`, [c.id])).toEqual([{ n: 2 }]);
  });

  it('re-arms timers from Postgres after Redis loses them, and they still fire', async () => {
    llm.script({ decision: { message: 'Anything else?' } });
    const id = newId();
    await acme.startConversation(id);
    await acme.contactSays(id, 'hi');
    await waitFor('the reply', () => applied(id).length === 1);
    // The delivery record arms the nudge and contact timers just after the call: lose them after that.
    await waitFor('the nudge armed', async () => (await row(id)).nudge_at !== null);
    await waitFor('a timer job', async () => (await bridge.queue('timers').getJobCounts('delayed')).delayed > 0);
    await waitFor('Redis emptied', async () => {
      await bridge.queue('timers').obliterate({ force: true });
      return (await bridge.queue('timers').getJobCounts('delayed')).delayed === 0;
    });
    const scheduler = bridge.app.get((await import('../src/conversation/sweep.service.js')).SweepService);
    expect((await scheduler.sweep()).timers).toBeGreaterThan(0);
    await waitFor('the nudge', () => inbox.messagesSent(id).includes('Still there?'), 10_000);
  });

  it('counts what happened in its Prometheus metrics', async () => {
    const text = await (await fetch(`${bridge.url}/metrics`)).text();
    expect(text).toMatch(/iva_decisions_total\{agent="acme",action="reply",cause="llm"\} [1-9]/);
    expect(text).toMatch(/iva_decisions_total\{agent="acme",action="handover",cause="llm_failure"\} [1-9]/);
    expect(text).toMatch(/iva_inbox_actions_total\{kind="resolve",result="done"\} [1-9]/);
    expect(text).toMatch(/iva_timer_actions_total\{agent="acme",what="nudge"\} [1-9]/);
    expect(text).toMatch(/iva_webhook_events_total\{agent="acme",type="INBOUND_MESSAGE_RECEIVED",outcome="duplicate"\} [1-9]/);
  });

  it('makes one REST call a turn, not two, for an agent with typingIndicator: false', async () => {
    const quiet = await startBridge({ agents: ORCHESTRATION_AGENTS.replace('    prompt: You are Acme', '    typingIndicator: false\n    prompt: You are Acme'), inbox, llm });
    try {
      llm.respondWith(() => ({ decision: { message: 'Straight to the answer.' } }));
      const sender = new WebhookSender({ bridgeUrl: quiet.url, agentId: 'acme', secretHex: TRIAGE_SECRET, inbox });
      const id = newId();
      await sender.startConversation(id);
      await sender.contactSays(id, 'hello');
      await waitFor('the reply', () => inbox.messagesSent(id).length === 1);
      expect(inbox.calls(id).map((c) => c.body)).toEqual([{ sendMessage: { text: 'Straight to the answer.' } }]);
    } finally {
      await quiet.close();
    }
  });
});
