import { Injectable, Logger } from '@nestjs/common';
import { safeError } from '../common/safe-error.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { LlmClient } from '../llm/llm.client.js';
import { Redactor } from '../policy/redaction.js';
import { KnowledgeRepository } from './knowledge.repository.js';
import { citationId, cosine, reciprocalRankFusion, type RetrievedChunk } from './retrieval.js';

/** Full-text candidates looked at before fusion and the `topK` cut. */
const CANDIDATES = 30;
/** The query embedding's share of a turn's time at most. */
const EMBEDDING_BUDGET_MS = 2000;

export interface Retrieval {
  chunks: RetrievedChunk[];
  /** Set when retrieval failed (the turn goes on without knowledge; grounding then hands factual replies over). */
  failure: string | null;
  latencyMs: number;
  /** Embedding tokens spent on the query. */
  tokens: number;
}

/** Retrieval for a turn: full text always, fused with vector similarity when the agent has embeddings. */
@Injectable()
export class KnowledgeService {
  private readonly logger = new Logger(KnowledgeService.name);

  constructor(
    private readonly repository: KnowledgeRepository,
    private readonly llm: LlmClient,
  ) {}

  async retrieve(agent: AgentConfig, query: string, deadline?: number): Promise<Retrieval> {
    const started = Date.now();
    const k = agent.knowledge;
    if (!k || !query.trim()) return { chunks: [], failure: null, latencyMs: 0, tokens: 0 };
    try {
      const text = await this.repository.textSearch(agent.id, k.searchConfig, query, CANDIDATES);
      const scores = new Map(text.map((h) => [h.chunkId, h.score]));
      const lists = [text.map((h) => h.chunkId)];
      let tokens = 0;
      if (k.embeddings) {
        // Its own budget: a slow embeddings endpoint must not eat the time the LLM needs, and when it
        // fails the full-text results still serve.
        const budget = Math.min(deadline ?? Infinity, Date.now() + EMBEDDING_BUDGET_MS);
        try {
          // The embeddings endpoint is a third party like the chat one: it gets the query redacted
          // (the full-text search above runs in our database, on the words as written).
          const inputs = [new Redactor(agent.redaction).redact(query)];
          const { vectors, promptTokens } = await this.llm.forAgent(agent).embed({ model: k.embeddings.model, inputs, deadline: budget });
          tokens = promptTokens;
          // In-process over the agent's vectors: for a help centre (docs/knowledge.md, sizing).
          const similar = (await this.repository.vectors(agent.id, k.embeddings.model))
            .map((v) => ({ chunkId: v.chunkId, score: cosine(vectors[0], v.embedding) }))
            .sort((a, b) => b.score - a.score)
            .slice(0, CANDIDATES);
          for (const s of similar) scores.set(s.chunkId, Math.max(scores.get(s.chunkId) ?? 0, s.score));
          lists.push(similar.map((s) => s.chunkId));
        } catch (err) {
          this.logger.warn({ agentId: agent.id, err: safeError(err), msg: 'query embedding failed; full text only for this turn' });
        }
      }
      if (text.length === 0 && lists.length === 1 && !(await this.repository.hasChunks(agent.id))) {
        return { chunks: [], failure: 'the knowledge base of this agent is empty (never synced?)', latencyMs: Date.now() - started, tokens };
      }
      const chosen = reciprocalRankFusion(lists)
        .filter((id) => (scores.get(id) ?? 0) >= k.minScore)
        .slice(0, k.topK);
      const rows = new Map((await this.repository.chunks(chosen)).map((r) => [r.chunkId, r]));
      const chunks = chosen
        .filter((id) => rows.has(id))
        .map((id) => {
          const r = rows.get(id)!;
          return { id: citationId(id), title: r.title, url: r.url, uri: r.uri, headingPath: r.headingPath, text: r.text, score: round(scores.get(id) ?? 0) };
        });
      return { chunks, failure: null, latencyMs: Date.now() - started, tokens };
    } catch (err) {
      this.logger.warn({ agentId: agent.id, err: safeError(err), msg: 'knowledge retrieval failed; deciding without it' });
      return { chunks: [], failure: (err as Error)?.message ?? String(err), latencyMs: Date.now() - started, tokens: 0 };
    }
  }
}

const round = (n: number) => Math.round(n * 1000) / 1000;
