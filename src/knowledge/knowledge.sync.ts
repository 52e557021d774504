import { createHash } from 'node:crypto';
import type { AgentConfig } from '../config/agents.schema.js';
import type { LlmClient } from '../llm/llm.client.js';
import { chunkArticle } from './ingest/chunker.js';
import { collectArticles, type KnowledgeSource } from './ingest/sources.js';
import type { KnowledgeRepository } from './knowledge.repository.js';
import type { ParsedArticle, SourceError } from './knowledge.types.js';

/** Bumped when chunking changes: every article is then cut (and embedded) again at the next sync. */
export const CHUNKER_VERSION = 1;

export interface SyncStats {
  added: number;
  updated: number;
  unchanged: number;
  removed: number;
  chunks: number;
  /** Chunks embedded in this sync (only those of new or changed articles). */
  embedded: number;
  embeddingTokens: number;
  /** Sources and pages that failed; their articles are kept as they were. */
  errors: SourceError[];
}

export interface SyncOptions {
  fetch?: typeof fetch;
  onProgress?: (done: number, total: number, current: string) => void;
}

export const sourceKey = (s: KnowledgeSource): string => ('path' in s ? `path:${s.path}` : `url:${s.url}`);

/**
 * Brings the stored knowledge of one agent in line with its sources: new and changed articles are
 * chunked (and embedded) again, unchanged ones (same content hash) are left alone, and articles
 * gone from a source that was read are removed. A source that could not be read at all keeps its
 * articles: a network error must not empty the knowledge base.
 */
export async function syncAgent(repo: KnowledgeRepository, llm: LlmClient | undefined, agent: AgentConfig, options: SyncOptions = {}): Promise<SyncStats> {
  const k = agent.knowledge;
  if (!k) throw new Error(`agent "${agent.id}" has no knowledge sources in the agents file`);
  if (!(await repo.hasSearchConfig(k.searchConfig))) throw new Error(`PostgreSQL has no text search configuration "${k.searchConfig}" (agent "${agent.id}" field knowledge.searchConfig)`);
  if (k.embeddings && !llm) throw new Error('embeddings are configured but no LLM endpoint is');

  const stats: SyncStats = { added: 0, updated: 0, unchanged: 0, removed: 0, chunks: 0, embedded: 0, embeddingTokens: 0, errors: [] };
  const stored = new Map((await repo.articles(agent.id)).map((a) => [a.uri, a]));
  const seen = new Set<string>();
  const keep = new Set<string>();
  const configured = new Set(k.sources.map(sourceKey));

  for (const source of k.sources) {
    const key = sourceKey(source);
    const { articles, errors } = await collectArticles([source], { baseDir: agent.baseDir, fetch: options.fetch, onProgress: options.onProgress });
    // A source that gave nothing without saying why (an empty sitemap, a glob gone empty) is as suspect as one that failed.
    if (articles.length === 0 && errors.length === 0) errors.push({ source: key.replace(/^(path|url):/, ''), error: 'gave no article; what it gave before is kept' });
    stats.errors.push(...errors);
    // Any error in a source (a nested sitemap down, pages over the cap) keeps every article it gave
    // before: only a source read cleanly can say an article is gone.
    if (errors.length > 0) for (const a of stored.values()) if (a.source === key) keep.add(a.uri);
    for (const article of articles) {
      if (seen.has(article.uri)) continue; // two sources listing one article: the first wins
      seen.add(article.uri);
      const hash = contentHash(article, agent);
      const before = stored.get(article.uri);
      if (before && before.contentHash === hash && before.source === key) {
        stats.unchanged++;
        stats.chunks += before.chunks;
        continue;
      }
      const chunks = chunkArticle(article);
      let embeddings: { model: string; vectors: number[][] } | undefined;
      if (k.embeddings && chunks.length) {
        const inputs = chunks.map((c) => [article.title, ...c.headingPath, c.text].join('\n'));
        const result = await llm!.embed({ model: k.embeddings.model, inputs });
        embeddings = { model: k.embeddings.model, vectors: result.vectors };
        stats.embedded += chunks.length;
        stats.embeddingTokens += result.promptTokens;
      }
      await repo.saveArticle(agent.id, key, article, hash, chunks, k.searchConfig, embeddings);
      stats.chunks += chunks.length;
      if (before) stats.updated++;
      else stats.added++;
    }
  }
  const gone = [...stored.values()].filter((a) => !seen.has(a.uri) && !(keep.has(a.uri) && configured.has(a.source))).map((a) => a.uri);
  stats.removed = await repo.removeArticles(agent.id, gone);
  return stats;
}

function contentHash(article: ParsedArticle, agent: AgentConfig): string {
  const k = agent.knowledge!;
  return createHash('sha256')
    .update(JSON.stringify({ title: article.title, url: article.url, markdown: article.markdown, chunker: CHUNKER_VERSION, searchConfig: k.searchConfig, embeddings: k.embeddings?.model ?? null }))
    .digest('hex');
}
