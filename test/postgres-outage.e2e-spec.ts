import { FakeInbox } from './fakes/fake-inbox.js';
import { FakeLlm, type ChatRequest, type Scripted } from './fakes/fake-llm.js';
import { WebhookSender } from './fakes/webhook-sender.js';
import { lastContactText } from './support/agents.js';
import { HELPER_SECRET, TRIAGE_SECRET, startBridge, waitFor, type TestBridge } from './support/bridge.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { TcpProxy, type OutageMode } from './support/tcp-proxy.js';

const OUTAGE_MS = 20_000;
/** How long after PostgreSQL is back everything must have happened; generous, for a busy machine. */
const RECOVERY_MS = 60_000;
/** The LLM answers "thinking" this late the first time: after the cut, before the restore. */
const THINKING_MS = 10_000;
/** The fake Inbox answers the "inflight" reply this late: applied, and answered, while PostgreSQL is away. */
const INFLIGHT_MS = 4_000;
const MODES: OutageMode[] = ['refuse', 'blackhole'];
const LABELS: Record<OutageMode, string> = { refuse: 'refused (a restart)', blackhole: 'black-holed (a partition)' };

// Every deadline falls 4 to 14 s after the message or reply that arms it, and the cut comes a few
// seconds after those: all of them fall due during the outage. The nudge (4 s, within the sweep's
// horizon) has its timer job in Redis before the cut; the others get theirs from the sweep.
const agents = (mode: OutageMode) => `
agents:
  - id: acme
    name: Acme Support
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are Acme's assistant.
    timeouts: { turnDebounce: 300ms, virtualAgent: 11s, virtualAgentMargin: 1s, contactNudge: 8s, contact: 14s, onContactTimeout: resolve, timeoutTopic: Timeout }
    messages:
      nudge: Still there?
      contactTimeout: Closing this conversation now. Bye!
      error: Sorry, I am stuck. A colleague will take over.
  - id: desk
    name: Acme Desk
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are Acme's front desk.
    timeouts: { turnDebounce: 300ms, virtualAgent: 1m, virtualAgentMargin: 5s, contact: 12s, onContactTimeout: handover, timeoutTopic: Timeout }
    messages: { handover: A colleague will pick this up. }
  - id: nudger
    name: Acme Nudger
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are Acme's assistant.
    timeouts: { turnDebounce: 300ms, virtualAgent: 1m, virtualAgentMargin: 5s, contactNudge: 4s, contact: 1h }
    messages: { nudge: Are you still with me? }
  - id: patient
    name: Acme Patient
    mode: inception
    secretEnv: TRIAGE_SECRET
    typingIndicator: false
    llm: { model: test-model }
    prompt: You take your time.
    timeouts: { turnDebounce: 1s, virtualAgent: 1m, virtualAgentMargin: 5s, contact: 1h }
  - id: helper
    name: Acme Helper
    mode: delegation
    secretEnv: HELPER_SECRET
    handoffRule: previous-agent
    llm: { model: opening-${mode} }
    prompt: Collect the order number, then hand back.
    timeouts: { turnDebounce: 0s, virtualAgent: 5m, firstQuestion: 12s, contact: 1h }
    messages: { greeting: Hello! What is your order number? }
`;

const reply = (text: string) => `Reply to ${text}`;
/** What an LLM request is about: the contact's last message, or the helper's opening. */
const subject = (req: ChatRequest) => (req.model.startsWith('opening-') ? req.model : lastContactText(req));

/**
 * One bridge on its own database, reached through a proxy, with eight conversations in flight when
 * the proxy cuts PostgreSQL away for 20 s. Conversation names say what each one waits for.
 */
class Outage {
  readonly proxy = new TcpProxy();
  db!: TestDatabase;
  bridge!: TestBridge;
  restoredAt = 0;
  duringOutage: Array<{ status?: number; error?: string }> = [];
  private readonly tag: string;
  private settled?: Promise<void>;

  constructor(
    readonly mode: OutageMode,
    private readonly inbox: FakeInbox,
    private readonly llm: FakeLlm,
  ) {
    this.tag = `${mode}-${Date.now()}`;
  }

  id(name: string): string {
    return `${name}-${this.tag}`;
  }

  text(name: string): string {
    return `${name} (${this.mode}): hello`;
  }

  /** What was applied for a conversation, typing indicators left out. */
  applied(name: string) {
    return this.inbox.calls(this.id(name)).filter((c) => c.status === 200 && !('indicateTyping' in c.body && Object.keys(c.body).length === 1));
  }

  sent(name: string): string[] {
    return this.inbox.messagesSent(this.id(name));
  }

  /** The replies recorded as delivered: the call made and the outcome written to PostgreSQL. */
  async recorded(name: string): Promise<number> {
    const [{ n }] = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM actions a JOIN conversations c ON c.id = a.conversation_id WHERE c.inbox_conversation_id = $1 AND a.status = 'done'`,
      [this.id(name)],
    );
    return n;
  }

  async row(name: string): Promise<Record<string, unknown>> {
    return (await this.db.query(`SELECT * FROM conversations WHERE inbox_conversation_id = $1`, [this.id(name)]))[0];
  }

  /** Waits for `check`, at most until RECOVERY_MS after the restore. */
  within(what: string, check: () => Promise<boolean> | boolean): Promise<boolean> {
    return waitFor(`${what} (${this.mode})`, check, Math.max(1000, this.restoredAt + RECOVERY_MS - Date.now()), 200);
  }

  async run(): Promise<void> {
    await this.proxy.start();
    this.db = await createTestDatabase();
    this.bridge = await startBridge({
      agents: agents(this.mode),
      inbox: this.inbox,
      llm: this.llm,
      database: { ...this.db, url: this.proxy.urlFor(this.db.url) },
      env: {
        SCHEDULER_SWEEP_INTERVAL: '2s',
        // Short: a lease whose release failed during the outage blocks its conversation until it expires.
        TURN_LEASE: '10s',
        INBOX_RETRY_BUDGET: '8s', // above INFLIGHT_MS, below TURN_LEASE
        OPENAI_MAX_RETRIES: '0',
      },
    });
    const sender = (agentId: string, secretHex = TRIAGE_SECRET) => new WebhookSender({ bridgeUrl: this.bridge.url, agentId, secretHex, inbox: this.inbox });
    const [acme, desk, nudger, patient, helper] = [sender('acme'), sender('desk'), sender('nudger'), sender('patient'), sender('helper', HELPER_SECRET)];
    const delivered = async (delivery: Promise<{ delivered: boolean }>, what: string) => {
      if (!(await delivery).delivered) throw new Error(`${what} was not delivered before the cut (${this.mode})`);
    };
    const says = (s: WebhookSender, name: string) => delivered(s.contactSays(this.id(name), this.text(name)), name);
    const asked = (subjects: string[]) => () => subjects.every((s) => this.llm.requests.some((r) => subject(r) === s));

    const inception: Array<[WebhookSender, string]> = [
      [acme, 'close'],
      [desk, 'handover'],
      [nudger, 'nudge'],
      [acme, 'slow'],
      [patient, 'thinking'],
      [patient, 'inflight'],
      [patient, 'queued'],
    ];
    for (const [s, name] of inception) await delivered(s.startConversation(this.id(name)), name);

    // Replied to before the cut: their contact timers run out during the outage.
    await Promise.all([says(acme, 'close'), says(desk, 'handover')]);
    await waitFor('the replies before the cut', async () => (await this.recorded('close')) === 1 && (await this.recorded('handover')) === 1);

    // In the middle of a turn at the cut: the LLM is thinking, or the reply call is on its way.
    this.inbox.delay(this.id('inflight'), INFLIGHT_MS, 1);
    await delivered(helper.delegate(this.id('opening')), 'opening');
    await Promise.all([says(acme, 'slow'), says(patient, 'thinking'), says(patient, 'inflight')]);
    await waitFor('the LLM asked in every turn', asked([`opening-${this.mode}`, this.text('slow'), this.text('thinking')]));
    await waitFor('the inflight reply on its way', () => this.inbox.arrivals.some((a) => a.path.endsWith(`/${this.id('inflight')}`)));

    // Its nudge is due 4 s after this reply.
    await says(nudger, 'nudge');
    await waitFor('the reply before the cut', async () => (await this.recorded('nudge')) === 1);
    // Stored, its turn not yet taken (1 s debounce).
    await says(patient, 'queued');
    this.proxy.cut(this.mode);
    const cutAt = Date.now();
    await this.checkTimeline();

    if (this.mode === 'refuse') {
      // The platform would retry it (it is not part of the scenario, so only once here).
      const once = new WebhookSender({ bridgeUrl: this.bridge.url, agentId: 'patient', secretHex: TRIAGE_SECRET, retries: 0 });
      this.duringOutage = (await once.contactSays(this.id('during'), this.text('during'))).attempts;
    }

    await new Promise((resolve) => setTimeout(resolve, cutAt + OUTAGE_MS - Date.now()));
    this.proxy.restore();
    this.restoredAt = Date.now();
  }

  /** The scenario holds only if nothing fell due before the cut and everything falls due before the restore. */
  private async checkTimeline(): Promise<void> {
    const [due] = await this.db.query<{ first: Date; last: Date; now: Date }>(
      `SELECT min(d) AS first, max(d) AS last, now() AS now FROM conversations,
              unnest(ARRAY[nudge_at, contact_deadline_at, va_deadline_at - interval '2 s', first_question_at - interval '2 s']) AS d
        WHERE inbox_conversation_id = ANY($1) AND d < now() + interval '1 minute'`,
      [['close', 'handover', 'nudge', 'slow', 'opening'].map((n) => this.id(n))],
    );
    const inflightAnswered = this.applied('inflight').length > 0;
    if (inflightAnswered || due.first <= due.now || due.last.getTime() >= due.now.getTime() + OUTAGE_MS) {
      throw new Error(
        `the setup was too slow for the scenario (${this.mode}): deadlines from ${due.first.toISOString()} to ${due.last.toISOString()}, ` +
          `cut at ${due.now.toISOString()}, inflight reply answered before the cut: ${inflightAnswered}`,
      );
    }
  }

  /**
   * Resolves once the bridge has nothing left to do: no turn or timer job waiting, delayed or running
   * (the deadlines left are beyond the sweep's horizon), and still none two sweeps later.
   */
  quiet(): Promise<void> {
    const idle = async () => {
      for (const name of ['turns', 'timers'] as const) {
        const counts = await this.bridge.queue(name).getJobCounts('active', 'waiting', 'delayed', 'prioritized', 'waiting-children');
        if (Object.values(counts).some((n) => n > 0)) return false;
      }
      return true;
    };
    this.settled ??= (async () => {
      await this.within('the bridge idle', idle);
      await new Promise((resolve) => setTimeout(resolve, 2 * this.bridge.config.env.SCHEDULER_SWEEP_INTERVAL));
      await this.within('the bridge idle two sweeps later', idle);
    })();
    return this.settled;
  }

  async close(): Promise<void> {
    this.proxy.restore();
    await this.bridge?.close();
    await this.db?.drop();
    await this.proxy.stop();
  }
}

describe('a 20 s PostgreSQL outage in the middle of turns and deadlines', () => {
  const inbox = new FakeInbox();
  const llm = new FakeLlm();
  const outages = new Map(MODES.map((mode) => [mode, new Outage(mode, inbox, llm)]));
  const asked = new Map<string, number>();

  // Quick, except "slow" and the helper's opening (never in time) and "thinking" (in time, but
  // during the outage the first time).
  const respond = (req: ChatRequest): Scripted => {
    const about = subject(req);
    asked.set(about, (asked.get(about) ?? 0) + 1);
    if (about.startsWith('opening-') || about.startsWith('slow')) return { delayMs: 120_000, decision: { message: 'far too late' } };
    if (about.startsWith('thinking') && asked.get(about) === 1) return { delayMs: THINKING_MS, decision: { message: reply(about) } };
    return { decision: { message: reply(about) } };
  };

  // Both outages at once, each bridge on its own database behind its own proxy: one run's time.
  beforeAll(async () => {
    await Promise.all([inbox.start(), llm.start()]);
    llm.respondWith(respond);
    await Promise.all([...outages.values()].map((o) => o.run()));
  }, 120_000);

  afterAll(async () => {
    for (const o of outages.values()) await o.close();
    await Promise.all([inbox.stop(), llm.stop()]);
  });

  describe.each(MODES.map((mode) => ({ mode, label: LABELS[mode] })))('with connections $label', ({ mode }) => {
    const o = outages.get(mode)!;

    it('fires every deadline that fell due during the outage, once', async () => {
      await o.within('every deadline acted on', () =>
        ['close', 'handover', 'nudge'].every((n) => o.applied(n).length === 2) && ['slow', 'opening'].every((n) => o.applied(n).length === 1),
      );
      await o.quiet();

      // Both contact timers of "close" had passed: the close wins over the nudge.
      expect(o.applied('close').map((c) => c.body)).toEqual([
        { sendMessage: { text: reply(o.text('close')) } },
        { sendMessage: { text: 'Closing this conversation now. Bye!' }, applyTopics: ['Timeout'], complete: 'RESOLVED' },
      ]);
      expect(o.applied('handover')).toHaveLength(2);
      expect(o.applied('handover')[1].body).toMatchObject({ sendMessage: { text: 'A colleague will pick this up.' }, applyTopics: ['Timeout'], complete: 'HANDOVER' });
      expect(o.sent('nudge')).toEqual([reply(o.text('nudge')), 'Are you still with me?']);
      expect(o.applied('slow')).toHaveLength(1);
      expect(o.applied('slow')[0].body).toMatchObject({ sendMessage: { text: 'Sorry, I am stuck. A colleague will take over.' }, complete: 'HANDOVER' });
      expect(o.sent('opening')).toEqual(['Hello! What is your order number?']);

      expect(await o.row('close')).toMatchObject({ state: 'resolved' });
      expect(await o.row('handover')).toMatchObject({ state: 'handed_over' });
      expect(await o.row('slow')).toMatchObject({ state: 'handed_over' });
      expect(await o.row('nudge')).toMatchObject({ state: 'active', nudge_at: null });
      expect(await o.row('opening')).toMatchObject({ state: 'active', first_question_at: null });
    });

    it('answers every contact message that was pending at the cut, once', async () => {
      await o.within('the pending messages answered', () => ['thinking', 'queued'].every((n) => o.applied(n).length >= 1));
      await o.quiet();

      expect(o.sent('thinking')).toEqual([reply(o.text('thinking'))]);
      expect(o.sent('queued')).toEqual([reply(o.text('queued'))]);
      // The LLM's first answer to "thinking" came while PostgreSQL was away and was never recorded.
      expect(asked.get(o.text('thinking'))).toBeGreaterThanOrEqual(2);
    });

    it('sends a reply whose call was on its way at the cut only once', async () => {
      await o.within('the inflight reply', () => o.applied('inflight').length >= 1);
      await o.quiet();

      expect(o.sent('inflight')).toEqual([reply(o.text('inflight'))]);
    });

    it('leaves no message unanswered and no call planned, and records every call it made once', async () => {
      await o.quiet();

      const names = ['close', 'handover', 'nudge', 'slow', 'opening', 'thinking', 'queued', 'inflight'];
      const ids = names.map((n) => o.id(n));
      const pending = await o.db.query(
        `SELECT c.inbox_conversation_id, m.text FROM messages m JOIN conversations c ON c.id = m.conversation_id
          WHERE m.direction = 'inbound' AND m.handled_at IS NULL AND m.session = c.session AND c.inbox_conversation_id = ANY($1)`,
        [ids],
      );
      expect(pending).toEqual([]);
      const actions = await o.db.query<{ conversation: string; status: string; n: number }>(
        `SELECT c.inbox_conversation_id AS conversation, a.status, count(*)::int AS n FROM actions a JOIN conversations c ON c.id = a.conversation_id
          WHERE c.inbox_conversation_id = ANY($1) GROUP BY 1, 2 ORDER BY 1, 2`,
        [ids],
      );
      expect(actions.filter((a) => a.status !== 'done')).toEqual([]);
      expect(Object.fromEntries(names.map((n) => [n, actions.find((a) => a.conversation === o.id(n))?.n ?? 0]))).toEqual(
        Object.fromEntries(names.map((n) => [n, o.applied(n).length])),
      );
    });

    if (mode === 'refuse') {
      it('refuses a webhook during the outage with a 5xx, for the platform to retry it', () => {
        expect(o.duringOutage).toEqual([{ status: expect.any(Number) }]);
        expect(o.duringOutage[0].status).toBeGreaterThanOrEqual(500);
      });
    }
  });
});
