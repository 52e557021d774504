import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ChatRequest {
  model: string;
  /** `content` is null on an assistant message that only asked for calls; a `tool` message answers one. */
  messages: Array<{ role: string; content: string; tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>; tool_call_id?: string }>;
  tools?: Array<{ type: 'function'; function: { name: string; description?: string; parameters?: unknown } }>;
  tool_choice?: string;
  temperature?: number;
  max_tokens?: number;
  response_format?: { type: string; json_schema?: { name: string; strict?: boolean; schema: unknown } };
}

export interface ScriptedDecision {
  action?: 'reply' | 'resolve' | 'handover';
  message?: string;
  topics?: string[];
  contactAttributes?: Array<{ name: string; value: string }>;
  confidence?: number;
  reason?: string;
  handoverNote?: string;
  sources?: string[];
  factual?: boolean;
  handoverReason?: string;
}

/** One scripted answer. Exactly one of the shapes; `delayMs` may be added to any. */
export interface Scripted {
  decision?: ScriptedDecision;
  summary?: string;
  /** Raw assistant content, e.g. invalid JSON. */
  content?: string;
  /** Function calls instead of an answer (`finish_reason: "tool_calls"`); `arguments` as an object or raw text. */
  toolCalls?: Array<{ name: string; arguments: Record<string, unknown> | string }>;
  refusal?: string;
  /** The output is cut off: partial JSON with `finish_reason: "length"`. */
  truncated?: boolean;
  /** An HTTP error instead of a completion (429, 500 …). */
  status?: number;
  retryAfter?: string;
  delayMs?: number;
  /** The usage reported, instead of the estimate from the text (cached tokens then 0). */
  usage?: { promptTokens: number; completionTokens: number };
}

export type Responder = (request: ChatRequest) => Scripted | undefined;

/** OpenAI's rule: prompts of 1024 tokens and more are cached in steps of 128 tokens. */
const CACHE_MIN_TOKENS = 1024;
const CACHE_STEP_TOKENS = 128;

/**
 * An OpenAI-compatible `POST /v1/chat/completions` over real HTTP, answering what each test
 * scripts, in the exact shape of the real API (ids, usage with cached tokens, finish_reason,
 * refusal), so the official SDK parses it as it would in production.
 */
export class FakeLlm {
  private readonly server: Server;
  private readonly queue: Scripted[] = [];
  private responder?: Responder;
  readonly requests: ChatRequest[] = [];
  private readonly seenPrompts: string[] = [];
  url = '';
  /** When set, only this key is accepted, as a real endpoint would. */
  apiKey?: string;

  constructor() {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => json(res, 500, { error: { message: String(err), type: 'server_error' } }));
    });
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(port, host, resolve));
    this.url = `http://${host}:${(this.server.address() as AddressInfo).port}/v1`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Answers for the next requests, in order. */
  script(...answers: Scripted[]): this {
    this.queue.push(...answers);
    return this;
  }

  /** Answers for any request the script does not cover (return undefined for the default). */
  respondWith(responder: Responder | undefined): this {
    this.responder = responder;
    return this;
  }

  reset(): void {
    this.queue.length = 0;
    this.requests.length = 0;
    this.seenPrompts.length = 0;
    this.embedded.length = 0;
    this.responder = undefined;
  }

  get pending(): number {
    return this.queue.length;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (req.method === 'POST' && url.pathname.endsWith('/embeddings')) return this.embeddings(req, res);
    if (req.method !== 'POST' || !url.pathname.endsWith('/chat/completions')) {
      return json(res, 404, { error: { message: `no route ${req.method} ${url.pathname}`, type: 'invalid_request_error' } });
    }
    if (!/^Bearer .+/.test(req.headers.authorization ?? '') || (this.apiKey !== undefined && req.headers.authorization !== `Bearer ${this.apiKey}`)) {
      return json(res, 401, { error: { message: 'missing or wrong API key', type: 'invalid_request_error', code: 'invalid_api_key' } });
    }
    const request = JSON.parse(await readBody(req)) as ChatRequest;
    this.requests.push(request);
    const answer = this.queue.shift() ?? this.responder?.(request) ?? defaultAnswer(request);
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs).unref());
    if (res.destroyed) return;

    if (answer.status) {
      const type = answer.status === 429 ? 'rate_limit_exceeded' : 'server_error';
      return json(res, answer.status, { error: { message: `scripted ${answer.status}`, type, code: type } }, answer.retryAfter ? { 'retry-after': answer.retryAfter } : {});
    }

    let content: string | null;
    let finishReason = 'stop';
    let refusal: string | null = null;
    let toolCalls: NonNullable<ChatRequest['messages'][number]['tool_calls']> | undefined;
    if (answer.toolCalls) {
      content = null;
      finishReason = 'tool_calls';
      toolCalls = answer.toolCalls.map((c) => ({
        id: `call_${randomBytes(8).toString('hex')}`,
        type: 'function' as const,
        function: { name: c.name, arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments) },
      }));
    } else if (answer.refusal !== undefined) {
      content = null;
      refusal = answer.refusal;
    } else if (answer.content !== undefined) {
      content = answer.content;
    } else if (answer.summary !== undefined) {
      content = JSON.stringify({ summary: answer.summary });
    } else {
      content = JSON.stringify(fullDecision(answer.decision ?? {}));
    }
    if (answer.truncated) {
      content = (content ?? '').slice(0, Math.max(1, Math.floor((content ?? '').length / 2)));
      finishReason = 'length';
    }

    const prompt = request.messages.map((m) => `${m.role}\n${m.content ?? ''}${m.tool_calls ? JSON.stringify(m.tool_calls) : ''}`).join('\n');
    const promptTokens = answer.usage?.promptTokens ?? countTokens(prompt) + 3 * request.messages.length;
    const cachedTokens = answer.usage ? 0 : this.cachedTokens(prompt, promptTokens);
    const completionTokens = answer.usage?.completionTokens ?? countTokens(content ?? refusal ?? JSON.stringify(toolCalls ?? ''));
    json(res, 200, {
      id: `chatcmpl-${randomBytes(12).toString('hex')}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: request.model,
      system_fingerprint: 'fp_fake',
      choices: [{ index: 0, message: { role: 'assistant', content, refusal, annotations: [], ...(toolCalls ? { tool_calls: toolCalls } : {}) }, logprobs: null, finish_reason: finishReason }],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
        prompt_tokens_details: { cached_tokens: cachedTokens, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
      },
    });
  }

  /** Inputs of every embeddings request, in order. */
  readonly embedded: string[] = [];

  /**
   * `POST /v1/embeddings`, deterministic: a hashed bag of words (lower-cased, accents and a plural
   * "s" stripped), so texts sharing words are near and others are not. It knows no synonyms and no
   * other language: a stand-in for the plumbing, not for a model's quality.
   */
  private async embeddings(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!/^Bearer .+/.test(req.headers.authorization ?? '')) {
      return json(res, 401, { error: { message: 'missing API key', type: 'invalid_request_error', code: 'invalid_api_key' } });
    }
    const request = JSON.parse(await readBody(req)) as { model: string; input: string | string[] };
    const inputs = Array.isArray(request.input) ? request.input : [request.input];
    this.embedded.push(...inputs);
    json(res, 200, {
      object: 'list',
      model: request.model,
      data: inputs.map((text, index) => ({ object: 'embedding', index, embedding: fakeEmbedding(text) })),
      usage: { prompt_tokens: inputs.reduce((n, t) => n + countTokens(t), 0), total_tokens: inputs.reduce((n, t) => n + countTokens(t), 0) },
    });
  }

  /** Simulates prefix caching: the longest prefix shared with an earlier prompt, in whole cache steps. */
  private cachedTokens(prompt: string, promptTokens: number): number {
    let shared = 0;
    for (const earlier of this.seenPrompts.slice(-50)) shared = Math.max(shared, commonPrefix(earlier, prompt));
    this.seenPrompts.push(prompt);
    if (promptTokens < CACHE_MIN_TOKENS) return 0;
    const sharedTokens = Math.min(promptTokens, countTokens(prompt.slice(0, shared)));
    return sharedTokens < CACHE_MIN_TOKENS ? 0 : Math.floor(sharedTokens / CACHE_STEP_TOKENS) * CACHE_STEP_TOKENS;
  }
}

/** The results of calls a request carries back to the model (`tool` messages), parsed. */
export function toolResults(req: ChatRequest): Array<{ id: string; ok: boolean; result?: Record<string, unknown>; error?: string }> {
  return req.messages.filter((m) => m.role === 'tool').map((m) => JSON.parse(m.content));
}

export function fullDecision(d: ScriptedDecision) {
  return {
    action: d.action ?? 'reply',
    message: d.message ?? '',
    topics: d.topics ?? [],
    contactAttributes: d.contactAttributes ?? [],
    confidence: d.confidence ?? 0.9,
    reason: d.reason ?? 'scripted',
    handoverNote: d.handoverNote ?? '',
    sources: d.sources ?? [],
    factual: d.factual ?? false,
    handoverReason: d.handoverReason ?? '',
  };
}

function defaultAnswer(request: ChatRequest): Scripted {
  if (request.response_format?.json_schema?.name === 'summary') {
    const text = request.messages.at(-1)?.content ?? '';
    return { summary: `Earlier: ${text.replace(/\s+/g, ' ').slice(0, 300)}` };
  }
  return { decision: { action: 'reply', message: 'Thanks for your message! How can I help?', reason: 'default scripted reply' } };
}

export const FAKE_EMBEDDING_DIMENSIONS = 256;

export function fakeEmbedding(text: string): number[] {
  const vector = new Array<number>(FAKE_EMBEDDING_DIMENSIONS).fill(0);
  const words = text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().match(/\p{L}{3,}/gu) ?? [];
  for (const word of words) {
    const stem = word.length > 4 && word.endsWith('s') ? word.slice(0, -1) : word;
    let h = 2166136261;
    for (let i = 0; i < stem.length; i++) h = Math.imul(h ^ stem.charCodeAt(i), 16777619);
    vector[(h >>> 0) % FAKE_EMBEDDING_DIMENSIONS] += 1;
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((v) => v / norm);
}

/** About four characters a token, as for English text with OpenAI's tokenizers. */
export function countTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function commonPrefix(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': `req_${randomBytes(6).toString('hex')}`, ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}
