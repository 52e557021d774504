import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { createHash } from 'node:crypto';
import type { AgentConfig } from '../config/agents.schema.js';
import type { Env } from '../config/env.schema.js';
import { LlmClient, LlmError, type EmbeddingsRequest, type EmbeddingsResponse, type LlmFailureKind, type LlmMessage, type LlmRequest, type LlmResponse } from './llm.client.js';

/**
 * The official SDK against `OPENAI_BASE_URL`, so OpenAI, Azure OpenAI, vLLM and Ollama all work.
 * Chat Completions with `response_format: json_schema` is the portable choice among them.
 */
export class OpenAiLlmClient extends LlmClient {
  private readonly sdk: OpenAI;

  constructor(private readonly env: Pick<Env, 'OPENAI_BASE_URL' | 'OPENAI_API_KEY' | 'OPENAI_TIMEOUT' | 'OPENAI_MAX_RETRIES'>) {
    super();
    this.sdk = new OpenAI({
      baseURL: env.OPENAI_BASE_URL,
      apiKey: env.OPENAI_API_KEY,
      timeout: env.OPENAI_TIMEOUT,
      maxRetries: env.OPENAI_MAX_RETRIES,
    });
  }

  /** Clients of agents' own endpoints, one per endpoint and key (a reload with a new key gets a new one). */
  private readonly endpoints = new Map<string, OpenAiLlmClient>();

  override forAgent(agent: Pick<AgentConfig, 'llmEndpoint'>): LlmClient {
    const own = agent.llmEndpoint;
    if (!own) return this;
    const baseUrl = own.baseUrl ?? this.env.OPENAI_BASE_URL;
    const apiKey = own.apiKey ?? this.env.OPENAI_API_KEY;
    if (baseUrl === this.env.OPENAI_BASE_URL && apiKey === this.env.OPENAI_API_KEY) return this;
    const key = `${baseUrl}\u0000${createHash('sha256').update(apiKey).digest('hex')}`;
    let client = this.endpoints.get(key);
    if (!client) {
      client = new OpenAiLlmClient({ ...this.env, OPENAI_BASE_URL: baseUrl, OPENAI_API_KEY: apiKey });
      this.endpoints.set(key, client);
    }
    return client;
  }

  embed(request: EmbeddingsRequest): Promise<EmbeddingsResponse> {
    return embedWith(this.sdk, this.env.OPENAI_TIMEOUT, request);
  }

  async complete(request: LlmRequest): Promise<LlmResponse> {
    const started = Date.now();
    const remaining = request.deadline === undefined ? Infinity : request.deadline - started;
    if (remaining <= 0) throw new LlmError('timeout', 'no time left before the deadline', 0);
    // The deadline bounds the whole call, the SDK's retries included.
    const signal = Number.isFinite(remaining) ? AbortSignal.timeout(remaining) : undefined;
    try {
      const completion = await this.sdk.chat.completions.create(
        {
          model: request.model,
          messages: request.messages.map(toSdkMessage),
          ...(request.tools?.length ? { tools: request.tools, tool_choice: request.toolChoice ?? 'auto' } : {}),
          temperature: request.temperature,
          max_tokens: request.maxOutputTokens,
          response_format: {
            type: 'json_schema',
            json_schema: { name: request.schema.name, strict: true, schema: request.schema.schema },
          },
        },
        { timeout: Math.min(this.env.OPENAI_TIMEOUT, remaining), signal },
      );
      const choice = completion.choices[0];
      return {
        content: choice?.message?.content ?? null,
        toolCalls: (choice?.message?.tool_calls ?? []).flatMap((c) => (c.type === 'function' ? [{ id: c.id, name: c.function.name, arguments: c.function.arguments }] : [])),
        refusal: choice?.message?.refusal ?? null,
        finishReason: choice?.finish_reason ?? 'unknown',
        model: completion.model,
        usage: {
          promptTokens: completion.usage?.prompt_tokens ?? 0,
          completionTokens: completion.usage?.completion_tokens ?? 0,
          cachedTokens: completion.usage?.prompt_tokens_details?.cached_tokens ?? 0,
        },
        latencyMs: Date.now() - started,
      };
    } catch (err) {
      const latencyMs = Date.now() - started;
      let [kind, message] = classify(err);
      // A connection that failed only after the full timeout timed out, whatever the SDK could tell
      // (an abort from another realm, as under jest's VM, reaches it as a bare connection error).
      if (kind === 'connection' && latencyMs >= Math.min(this.env.OPENAI_TIMEOUT, remaining) - 20) {
        [kind, message] = ['timeout', 'the LLM did not answer in time'];
      }
      throw new LlmError(kind, message, latencyMs);
    }
  }
}

function toSdkMessage(m: LlmMessage): OpenAI.Chat.Completions.ChatCompletionMessageParam {
  if (m.role === 'tool') return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
  if ('toolCalls' in m) {
    return { role: 'assistant', content: m.content, tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) };
  }
  return { role: m.role, content: m.content };
}

/** Inputs per embeddings request: well under every provider's limit, few round trips for a help centre. */
const EMBEDDING_BATCH = 64;

async function embedWith(sdk: OpenAI, timeoutMs: number, request: EmbeddingsRequest): Promise<EmbeddingsResponse> {
  const started = Date.now();
  const vectors: number[][] = [];
  let promptTokens = 0;
  for (let i = 0; i < request.inputs.length; i += EMBEDDING_BATCH) {
    const remaining = request.deadline === undefined ? Infinity : request.deadline - Date.now();
    if (remaining <= 0) throw new LlmError('timeout', 'no time left before the deadline', Date.now() - started);
    try {
      const response = await sdk.embeddings.create(
        { model: request.model, input: request.inputs.slice(i, i + EMBEDDING_BATCH), encoding_format: 'float' },
        { timeout: Math.min(timeoutMs, remaining), ...(Number.isFinite(remaining) ? { signal: AbortSignal.timeout(remaining) } : {}) },
      );
      const batch = [...response.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
      if (batch.length !== Math.min(EMBEDDING_BATCH, request.inputs.length - i)) throw new LlmError('server', `the endpoint returned ${batch.length} embeddings for ${request.inputs.slice(i, i + EMBEDDING_BATCH).length} inputs`, Date.now() - started);
      vectors.push(...batch);
      promptTokens += response.usage?.prompt_tokens ?? 0;
    } catch (err) {
      if (err instanceof LlmError) throw err;
      const [kind, message] = classify(err);
      throw new LlmError(kind, message, Date.now() - started);
    }
  }
  return { vectors, promptTokens, latencyMs: Date.now() - started };
}

function classify(err: unknown): [LlmFailureKind, string] {
  if (err instanceof APIConnectionTimeoutError || err instanceof APIUserAbortError) return ['timeout', 'the LLM did not answer in time'];
  if (err instanceof APIConnectionError) return ['connection', `cannot reach the LLM endpoint: ${err.message}`];
  if (err instanceof APIError) {
    const status = err.status ?? 0;
    if (status === 429) return ['rate_limited', 'the LLM endpoint is rate limiting (429)'];
    if (status === 401 || status === 403) return ['auth', `the LLM endpoint refused the API key (${status})`];
    if (status >= 500) return ['server', `the LLM endpoint failed (${status})`];
    return ['refused_request', `the LLM endpoint refused the request (${status}): ${err.message}`];
  }
  return ['connection', (err as Error)?.message ?? String(err)];
}
