import { z } from 'zod';
import { ActionSchema } from '../actions/action.schema.js';
import { duration } from './duration.js';
import { BusinessHoursSchema } from '../policy/business-hours.schema.js';
import { BudgetsSchema } from '../policy/budgets.schema.js';
import { priceOf } from '../llm/pricing.js';
import { AgentInboxSchema, type InboxOrganisation, type LlmEndpoint } from '../policy/organisation.schema.js';
import { DEFAULT_REDACTION, RedactionSchema } from '../policy/redaction.schema.js';

/** The platform's own limits (INBOX_CONTRACT.md §3). */
export const PLATFORM_MAX_VA_TIMEOUT_MS = 3_600_000;
export const PLATFORM_MAX_CONTACT_TIMEOUT_MS = 23 * 3_600_000;
export const PLATFORM_DELEGATION_FIRST_MESSAGE_MS = 120_000;

/** Floors below which a timeout validates but leaves no time to act (docs/configuration.md). */
const MIN_VA_MARGIN_MS = 1000;
const MIN_FIRST_QUESTION_MS = 3000;

export const ATTRIBUTE_KEY = /^[a-zA-Z0-9_]+$/;

// Deliberately specific: a bare "agent" would also match "my travel agent said…".
const DEFAULT_HUMAN_PHRASES = [
  'human',
  'real person',
  'a person',
  'live agent',
  'human agent',
  'support agent',
  'representative',
  'talk to someone',
  'speak to someone',
  'operator',
];

const text = () => z.string().trim().min(1);

const TimeoutsSchema = z
  .object({
    turnDebounce: duration().default(1000),
    virtualAgent: duration().default(300_000),
    virtualAgentMargin: duration().default(30_000),
    firstQuestion: duration().default(90_000),
    contactNudge: duration().optional(),
    contact: duration().default(3_600_000),
    onContactTimeout: z.enum(['resolve', 'handover']).default('resolve'),
    timeoutTopic: text().optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (t.virtualAgent > PLATFORM_MAX_VA_TIMEOUT_MS) issue('virtualAgent', 'is over the platform maximum of 1h');
    if (t.virtualAgent <= 0) issue('virtualAgent', 'must be more than 0');
    if (t.contact > PLATFORM_MAX_CONTACT_TIMEOUT_MS) issue('contact', 'is over the platform maximum of 23h');
    if (t.contact <= 0) issue('contact', 'must be more than 0');
    if (t.virtualAgentMargin < MIN_VA_MARGIN_MS) issue('virtualAgentMargin', 'must be at least 1s, for the handover call to land before the platform’s deadline');
    if (t.virtualAgentMargin >= t.virtualAgent) issue('virtualAgentMargin', 'must be shorter than virtualAgent');
    if (t.turnDebounce >= t.virtualAgent - t.virtualAgentMargin)
      issue('turnDebounce', 'must be shorter than virtualAgent minus virtualAgentMargin');
    if (t.firstQuestion < MIN_FIRST_QUESTION_MS)
      issue('firstQuestion', 'must be at least 3s: a turn keeps 2s of it for the call itself, so less leaves the LLM no time');
    if (t.firstQuestion >= PLATFORM_DELEGATION_FIRST_MESSAGE_MS)
      issue('firstQuestion', 'must be under the platform’s 2 minutes for a delegated conversation');
    if (t.contactNudge !== undefined && t.contactNudge >= t.contact) issue('contactNudge', 'must be shorter than contact');
  });

const MessagesSchema = z
  .object({
    greeting: text().default('Hi! How can I help you today?'),
    nudge: text().default('Are you still there? Just reply here if you need anything else.'),
    contactTimeout: text().default(
      'We have not heard back from you, so I am closing this conversation. Write to us any time.',
    ),
    handover: text().optional(),
    error: text().default('Sorry, I am having trouble right now. A colleague will take over shortly.'),
    /** Sent when nobody is available and the bridge hands over without the LLM; `{opening}` is the next opening time. */
    outsideHours: text().default('Our team is away right now and will be back {opening}. I have passed your message on, and a colleague will answer here then.'),
  })
  .strict();

/** Where the agent's help content comes from: files (globs, relative to the agents file) or pages over HTTP. */
const KnowledgeSourceSchema = z.union([
  z.object({ path: text() }).strict(),
  z.object({ url: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }) }).strict(),
]);

const KnowledgeSchema = z
  .object({
    sources: z.array(KnowledgeSourceSchema).min(1, 'lists no source'),
    /** Chunks shown to the LLM at most. */
    topK: z.number().int().min(1).max(20).default(4),
    /** A chunk scoring under this (0–1) is not shown to the LLM. */
    minScore: z.number().min(0).max(1).default(0.2),
    /** A reply that states facts must cite a retrieved chunk, or it becomes a handover. */
    requireGrounding: z.boolean().default(true),
    /** The PostgreSQL text search configuration of the articles' language (simple, english, french…). */
    searchConfig: z.string().regex(/^[a-z_]+$/, 'must be a text search configuration name, like english or simple').default('simple'),
    /** Vector search besides full text, through the same OpenAI-compatible endpoint. */
    embeddings: z.object({ model: text() }).strict().optional(),
  })
  .strict();

export const AgentSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9-]{1,64}$/, 'must be 1 to 64 of a-z, 0-9 and -'),
    name: text(),
    mode: z.enum(['inception', 'delegation']),
    secretEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'),
    handoffRule: z.enum(['new-queue', 'previous-agent']).default('new-queue'),
    llm: z
      .object({
        model: text(),
        temperature: z.number().min(0).max(2).default(0.2),
        maxOutputTokens: z.number().int().min(64).max(16_384).default(800),
        /** The agent's own OpenAI-compatible endpoint, from these variables; OPENAI_BASE_URL/OPENAI_API_KEY when absent. */
        baseUrlEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
        apiKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
      })
      .strict(),
    prompt: text(),
    topics: z.array(text()).default([]),
    contactAttributes: z
      .record(z.string().regex(ATTRIBUTE_KEY, 'attribute keys must match ^[a-zA-Z0-9_]+$'), text())
      .default({}),
    humanRequestPhrases: z.array(text()).default(DEFAULT_HUMAN_PHRASES),
    // The "typing…" cue costs one REST call a turn: half a turn's share of the platform's rate limit.
    typingIndicator: z.boolean().default(true),
    limits: z
      .object({
        minConfidence: z.number().min(0).max(1).default(0.6),
        maxTurns: z.number().int().min(1).max(200).default(8),
        maxMessageLength: z.number().int().min(20).max(4000).default(1000),
        maxAttributeLength: z.number().int().min(1).max(1000).default(200),
        historyWindow: z.number().int().min(4).max(200).default(12),
        /** Action calls the model may make in one turn, before it must answer. */
        maxActionCalls: z.number().int().min(1).max(10).default(3),
      })
      .strict()
      .default({ minConfidence: 0.6, maxTurns: 8, maxMessageLength: 1000, maxAttributeLength: 200, historyWindow: 12, maxActionCalls: 3 }),
    timeouts: TimeoutsSchema.default(() => TimeoutsSchema.parse({})),
    messages: MessagesSchema.default(() => MessagesSchema.parse({})),
    knowledge: KnowledgeSchema.optional(),
    /** Lookups in the team's own systems the model may call (docs/actions.md). */
    actions: z.array(ActionSchema).default([]),
    /** Actions declared with `sideEffects: true` are offered only when this is true. */
    allowSideEffects: z.boolean().default(false),
    /** When people are available, and what the agent does when they are not (docs/configuration.md). */
    businessHours: BusinessHoursSchema.optional(),
    /** What is replaced by placeholders before anything reaches the LLM; cards and IBANs by default. */
    redaction: RedactionSchema.default(DEFAULT_REDACTION),
    /** Spending limits per conversation and per agent per day, counted in PostgreSQL. */
    budgets: BudgetsSchema.optional(),
    /** The agent's own Hootsuite organisation; the INBOX_* variables when absent. */
    inbox: AgentInboxSchema.optional(),
  })
  .strict()
  .superRefine((agent, ctx) => {
    const names = new Set<string>();
    agent.actions.forEach((action, i) => {
      if (names.has(action.name)) ctx.addIssue({ code: 'custom', path: ['actions', i, 'name'], message: `duplicate action name "${action.name}"` });
      names.add(action.name);
      action.requires.forEach((attribute, j) => {
        if (!Object.hasOwn(agent.contactAttributes, attribute))
          ctx.addIssue({ code: 'custom', path: ['actions', i, 'requires', j], message: `"${attribute}" is not one of the agent's contactAttributes` });
      });
    });
    const seen = new Set<string>();
    agent.topics.forEach((topic, i) => {
      const key = topic.toLowerCase();
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['topics', i], message: `duplicate topic "${topic}"` });
      seen.add(key);
    });
  });

/** USD per million tokens, as the providers publish them; for cost estimates (evals, replay). */
export const ModelPriceSchema = z
  .object({
    input: z.number().min(0),
    /** Prompt tokens served from the provider's cache; `input` when not given. */
    cachedInput: z.number().min(0).optional(),
    output: z.number().min(0),
  })
  .strict();
export type ModelPrice = z.infer<typeof ModelPriceSchema>;

export const AgentsFileSchema = z
  .object({
    agents: z.array(AgentSchema).min(1, 'lists no agent'),
    /** Per model name; a model missing here is reported as unpriced, never as free. */
    pricing: z.record(text(), ModelPriceSchema).default({}),
  })
  .strict()
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.agents.forEach((agent, i) => {
      if (seen.has(agent.id))
        ctx.addIssue({ code: 'custom', path: ['agents', i, 'id'], message: `duplicate agent id "${agent.id}"` });
      seen.add(agent.id);
      // Unpriced is not free: a cost budget on a model the price table does not know could never be reached.
      if (agent.budgets?.daily?.costUsd !== undefined && !priceOf(agent.llm.model, file.pricing))
        ctx.addIssue({ code: 'custom', path: ['agents', i, 'budgets', 'daily', 'costUsd'], message: `needs a price for the model "${agent.llm.model}" in the top-level pricing table` });
    });
  });

type ParsedAgent = z.infer<typeof AgentSchema>;

/** One virtual agent, as the rest of the bridge sees it: validated, with its secret decoded. */
export interface AgentConfig extends ParsedAgent {
  secret: Buffer;
  messages: ParsedAgent['messages'] & { handover: string };
  /** The folder knowledge `path` sources are relative to: the agents file's. */
  baseDir: string;
  /** The environment variables the offered actions' headers reference, read at load. */
  actionEnv: Record<string, string>;
  /** The agent's own organisation, resolved from `inbox:` at load; undefined means the INBOX_* defaults. */
  organisation?: InboxOrganisation;
  /** The agent's own LLM endpoint, resolved from `llm.baseUrlEnv`/`apiKeyEnv` at load; undefined means OPENAI_*. */
  llmEndpoint?: LlmEndpoint;
}

export type KnowledgeConfig = NonNullable<ParsedAgent['knowledge']>;

export function defaultHandoverMessage(rule: ParsedAgent['handoffRule']): string {
  return rule === 'previous-agent'
    ? 'I am passing you back to the agent who helped you, who will continue here shortly.'
    : 'I am passing you to a colleague, who will continue here shortly.';
}
