import type { AgentConfig } from '../config/agents.schema.js';
/** One chat message as the OpenAI Chat Completions API takes it. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** A function call the model asked for (OpenAI `tool_calls`); `arguments` is its raw JSON text. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** The model's turn that asked for calls, and each call's result, as they go back to it. */
export type ToolExchangeMessage = { role: 'assistant'; content: string | null; toolCalls: ToolCall[] } | { role: 'tool'; toolCallId: string; content: string };

export type LlmMessage = ChatMessage | ToolExchangeMessage;

/** One function the model may call (Chat Completions `tools`). */
export interface ToolSpec {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

export interface LlmRequest {
  model: string;
  temperature: number;
  maxOutputTokens: number;
  messages: LlmMessage[];
  /** Functions the model may call before it answers; none when absent. */
  tools?: ToolSpec[];
  /** `none`: the model must answer now, whatever tools it was shown. */
  toolChoice?: 'auto' | 'none';
  /** A JSON Schema the output must follow (`response_format: json_schema`, strict). */
  schema: { name: string; schema: Record<string, unknown> };
  /** This request must be over by then (epoch ms); the client caps its timeout to fit. */
  deadline?: number;
}

export interface LlmUsage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

export function addUsage(total: LlmUsage, more: LlmUsage): void {
  total.promptTokens += more.promptTokens;
  total.completionTokens += more.completionTokens;
  total.cachedTokens += more.cachedTokens;
}

export function sumUsage(usages: readonly LlmUsage[]): LlmUsage {
  const total: LlmUsage = { promptTokens: 0, completionTokens: 0, cachedTokens: 0 };
  for (const u of usages) addUsage(total, u);
  return total;
}

export interface LlmResponse {
  content: string | null;
  /** The calls the model asked for instead of answering (empty when it answered). */
  toolCalls: ToolCall[];
  refusal: string | null;
  finishReason: string;
  model: string;
  usage: LlmUsage;
  latencyMs: number;
}

export type LlmFailureKind = 'timeout' | 'rate_limited' | 'server' | 'connection' | 'refused_request' | 'auth';

/** The endpoint did not produce a completion (after the SDK's own retries). */
export class LlmError extends Error {
  override name = 'LlmError';
  constructor(
    readonly kind: LlmFailureKind,
    message: string,
    readonly latencyMs: number,
  ) {
    super(message);
  }
}

export interface EmbeddingsRequest {
  model: string;
  inputs: string[];
  /** Over by then (epoch ms), as for completions. */
  deadline?: number;
}

export interface EmbeddingsResponse {
  /** One vector per input, in order. */
  vectors: number[][];
  promptTokens: number;
  latencyMs: number;
}

/** The port to any OpenAI-compatible chat endpoint (and its embeddings endpoint, for knowledge search). */
export abstract class LlmClient {
  abstract complete(request: LlmRequest): Promise<LlmResponse>;
  abstract embed(request: EmbeddingsRequest): Promise<EmbeddingsResponse>;

  /** The client of an agent's own endpoint (`llm.baseUrlEnv`/`apiKeyEnv`); this one when it names none. */
  forAgent(_agent: Pick<AgentConfig, 'llmEndpoint'>): LlmClient {
    return this;
  }
}
