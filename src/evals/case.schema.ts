import { z } from 'zod';
import { HANDOVER_REASONS } from '../agent/handover-reasons.js';

const text = () => z.string().trim().min(1);
const ACTION = z.enum(['reply', 'resolve', 'handover']);
export type EvalAction = z.infer<typeof ACTION>;
export const ACTIONS: readonly EvalAction[] = ACTION.options;

/** What a case writes for a handover that carries no reason: a Delegation agent handing back a finished task. */
export const NO_HANDOVER_REASON = 'none';
/** A handover's reason as a case expects it: the bridge's taxonomy (src/agent/handover-reasons.ts), or `none`. */
const HANDOVER_REASON = z.enum([...HANDOVER_REASONS, NO_HANDOVER_REASON]);
export type ExpectedHandoverReason = z.infer<typeof HANDOVER_REASON>;
export const EXPECTED_HANDOVER_REASONS: readonly ExpectedHandoverReason[] = HANDOVER_REASON.options;

/**
 * One message of a case's transcript, oldest first: what the contact wrote, or what the agent
 * said. `pending` says whether the turn under test answers it; by default the contact messages
 * after the last agent message are pending (a burst is several of them).
 */
const message = () => text().max(10_000, 'is over 10,000 characters: a chat message, not a document');
const EntrySchema = z.union([
  z.object({ contact: message(), pending: z.boolean().optional() }).strict(),
  z.object({ agent: message() }).strict(),
]);
export type CaseEntry = z.infer<typeof EntrySchema>;

/** An action's name, as the agents file spells it (the OpenAI function name rule). */
const actionName = () => z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be an action name of the agent');

/** How a call can end besides `ok`, as src/actions/action.port.ts names it. */
export const CALL_FAILURES = ['http_error', 'timeout', 'failed', 'too_large', 'invalid_response', 'unknown'] as const;

/**
 * What one of the agent's actions answers in this case: evals never call the team's systems.
 * `result` is the API's JSON body, before the action's `response.fields` pick what the model sees;
 * `error` alone is an HTTP error (`HTTP 404 (order not found)`); `status` names another failure.
 * With `when`, the entry answers only calls whose arguments include these values.
 */
const FixtureSchema = z
  .object({
    when: z.record(z.string(), z.unknown()).optional(),
    result: z.record(z.string(), z.unknown()).optional(),
    error: text().max(500).optional(),
    status: z.enum(['ok', ...CALL_FAILURES]).optional(),
    httpStatus: z.number().int().min(100).max(599).optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    const issue = (message: string) => ctx.addIssue({ code: 'custom', message });
    if (f.result && f.error) issue('has both result and error: a call either answers or fails');
    else if (f.result && f.status && f.status !== 'ok') issue(`has a result, so its status is ok, not ${f.status}`);
    else if (!f.result && f.status === 'ok') issue('status ok needs a result (the API\'s JSON body; {} for an empty one)');
    else if (!f.result && !f.error && !f.status) issue('needs a result, an error or a status');
    else if (!f.result && f.status === 'http_error' && !f.error && !f.httpStatus) issue('an http_error needs an error or an httpStatus');
  });
export type ActionFixture = z.infer<typeof FixtureSchema>;

/** Per action name: one answer for every call, or a list tried in order (the first whose `when` matches answers). */
const FixturesSchema = z.record(
  actionName(),
  z.union([FixtureSchema, z.array(FixtureSchema).min(1, 'lists no answer')]).transform((f) => (Array.isArray(f) ? f : [f])),
);
export type CaseFixtures = z.infer<typeof FixturesSchema>;

const ExpectSchema = z
  .object({
    /** The acceptable action, or a list of them. */
    action: z.union([ACTION, z.array(ACTION).min(1)]),
    /** The exact set of topics after guardrails, case-insensitive. */
    topics: z.array(text()).optional(),
    /** Each key must be set to this value (trimmed, case-insensitive); `null`: must not be set. */
    attributes: z.record(z.string(), z.union([text(), z.null()])).optional(),
    /** Case-insensitive substrings the message the contact reads must contain / must not contain. */
    messageIncludes: z.array(text()).optional(),
    messageExcludes: z.array(text()).optional(),
    /** Articles (file name without extension, or a page URL's last part) the reply must cite. */
    sources: z.array(text()).optional(),
    /** false: the knowledge base has no answer, the agent must hand over citing nothing; true: it must cite. */
    grounded: z.boolean().optional(),
    /** The set of actions the model called and the bridge made (not refused); `[]`: no call may be made. */
    calls: z.array(actionName()).optional(),
    /** Per action: a call of it was made with at least these arguments (equal as JSON; a number and its digits alike). */
    callArgs: z.record(actionName(), z.record(z.string(), z.unknown())).optional(),
    /**
     * Why the agent hands over, or a list of acceptable reasons, from the bridge's taxonomy; `none`:
     * no reason (a Delegation agent handing back a finished task). Checked only on a handover.
     */
    handoverReason: z.union([HANDOVER_REASON, z.array(HANDOVER_REASON).min(1, 'lists no reason')]).optional(),
    /** A rubric for the optional LLM judge; never part of the deterministic metrics. */
    judge: text().optional(),
  })
  .strict()
  .superRefine((e, ctx) => {
    if (e.handoverReason !== undefined && !acceptedActions(e).includes('handover')) {
      ctx.addIssue({ code: 'custom', path: ['handoverReason'], message: 'is checked only on a handover, and the case does not accept one' });
    }
  });
export type CaseExpect = z.infer<typeof ExpectSchema>;

const SimulateSchema = z
  .object({
    /** What the simulated contact wants, in the contact's words or the case author's. */
    goal: text(),
    persona: text().default('A customer of the shop, writing short chat messages.'),
    maxTurns: z.number().int().min(1).max(20).default(6),
  })
  .strict();
export type CaseSimulation = z.infer<typeof SimulateSchema>;

export const CaseSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be 1 to 100 of A-Z, a-z, 0-9, ".", "_" and "-"'),
    /** Free labels for grouping the report (a category, a language…). */
    tags: z.array(text()).default([]),
    /** The conversation's language as Inbox 2.0 reports it (en, fr…); the file's `language` by default. */
    language: text().optional(),
    /** The contact's name as the platform knows it (optional). */
    contactName: text().optional(),
    /** Attributes already known before the turn. */
    contactAttributes: z.record(z.string(), text()).default({}),
    /** The running summary of older messages, as the bridge would pass it (optional). */
    summary: text().optional(),
    /** Turns the agent already took in this session; by default, the number of agent messages. */
    agentTurns: z.number().int().min(0).optional(),
    /**
     * When the turn happens, with its offset (`2026-12-24T20:00:00+01:00`): the agent's business hours
     * are checked at this instant (presence is not). Without it a case ignores business hours, so
     * that a run never depends on the hour it runs at.
     */
    at: z.iso.datetime({ offset: true, message: 'must be an ISO time with its offset, like 2026-12-24T20:00:00+01:00' }).optional(),
    transcript: z.array(EntrySchema).default([]),
    /** What the agent's actions answer in this case (see FixtureSchema); a call with none is reported. Per action, over the file's. */
    actions: FixturesSchema.optional(),
    expect: ExpectSchema,
    /** An LLM plays the contact for several turns; `expect` then checks the final state. */
    simulate: SimulateSchema.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const last = c.transcript.at(-1);
    if (!c.simulate && last && !('contact' in last)) {
      ctx.addIssue({ code: 'custom', path: ['transcript', c.transcript.length - 1], message: 'a transcript must end with what the contact wrote: that is the turn being decided' });
    }
  });
export type EvalCase = z.infer<typeof CaseSchema>;

const ThresholdsSchema = z
  .object({
    /** Of the cases that must be handed over, the share that were. */
    handoverRecall: z.number().min(0).max(1).optional(),
    /** Of all cases, the share whose action was acceptable. */
    actionAccuracy: z.number().min(0).max(1).optional(),
    /** Of the cases with `expect.topics`, the share with exactly that set. */
    topicAccuracy: z.number().min(0).max(1).optional(),
    /** Of the cases with `expect.calls`, the share whose calls made were exactly that set. */
    callAccuracy: z.number().min(0).max(1).optional(),
    /** Of the handovers whose case has `expect.handoverReason`, the share with a reason it accepts. */
    handoverReasonAccuracy: z.number().min(0).max(1).optional(),
    /** Of all cases, the share that passed every deterministic check. */
    passRate: z.number().min(0).max(1).optional(),
    /** Out-of-policy proposals and guardrail firings, over all cases, at most. */
    maxOutOfPolicy: z.number().int().min(0).optional(),
  })
  .strict();
export type Thresholds = z.infer<typeof ThresholdsSchema>;

export const CaseFileSchema = z
  .object({
    agent: z.string().regex(/^[a-z0-9-]{1,64}$/, 'must be an agent id from the agents file'),
    /** The default language of the file's cases. */
    language: text().optional(),
    description: text().optional(),
    thresholds: ThresholdsSchema.default({}),
    /** What the agent's actions answer in every case of the file that declares no fixture of its own for that action. */
    actions: FixturesSchema.optional(),
    cases: z.array(CaseSchema).min(1, 'lists no case'),
  })
  .strict()
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.cases.forEach((c, i) => {
      if (seen.has(c.id)) ctx.addIssue({ code: 'custom', path: ['cases', i, 'id'], message: `duplicate case id "${c.id}"` });
      seen.add(c.id);
    });
  });
export type CaseFile = z.infer<typeof CaseFileSchema>;

/** Actions a case accepts, as a list. */
export function acceptedActions(expect: Pick<CaseExpect, 'action'>): EvalAction[] {
  return Array.isArray(expect.action) ? expect.action : [expect.action];
}

/** Handover reasons a case accepts, as a list; undefined when it names none. */
export function acceptedHandoverReasons(expect: Pick<CaseExpect, 'handoverReason'>): ExpectedHandoverReason[] | undefined {
  const reason = expect.handoverReason;
  return reason === undefined ? undefined : Array.isArray(reason) ? reason : [reason];
}
