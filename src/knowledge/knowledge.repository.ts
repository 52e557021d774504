import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { textSafe } from '../database/jsonb-safe.js';
import type { ArticleChunk, ParsedArticle } from './knowledge.types.js';

export interface StoredArticle {
  id: string;
  source: string;
  uri: string;
  title: string;
  url: string | null;
  contentHash: string;
  chunks: number;
  syncedAt: Date;
}

/**
 * A chunk found by full-text search. Ordered by `ts_rank`; its score (compared with `minScore`) is
 * the IDF-weighted share of the query's words it contains: ranks are not comparable across queries,
 * a share is, and the weighting lets a rare word ("kayak") count for more than a common one ("order").
 */
export interface TextHit {
  chunkId: string;
  score: number;
}

export interface ChunkRow {
  chunkId: string;
  articleId: string;
  title: string;
  url: string | null;
  uri: string;
  headingPath: string[];
  text: string;
}

/** Articles and chunks of the agents' knowledge, and the full-text half of retrieval. */
@Injectable()
export class KnowledgeRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async articles(agentId: string): Promise<StoredArticle[]> {
    const rows = await this.dataSource.query(
      `SELECT id::text, source, uri, title, url, content_hash, chunks, synced_at FROM kb_articles WHERE agent_id = $1 ORDER BY uri`,
      [agentId],
    );
    return rows.map((r: Record<string, unknown>) => ({
      id: r.id as string,
      source: r.source as string,
      uri: r.uri as string,
      title: r.title as string,
      url: r.url as string | null,
      contentHash: r.content_hash as string,
      chunks: r.chunks as number,
      syncedAt: r.synced_at as Date,
    }));
  }

  /** Whether PostgreSQL knows this text search configuration (english, french, simple…). */
  async hasSearchConfig(name: string): Promise<boolean> {
    const rows = await this.dataSource.query(`SELECT 1 FROM pg_ts_config WHERE cfgname = $1`, [name]);
    return rows.length > 0;
  }

  /**
   * Replaces one article and its chunks in one transaction: a search never sees it half written.
   * The full-text vector weighs the title and headings (A) over the text (B).
   */
  async saveArticle(
    agentId: string,
    source: string,
    article: ParsedArticle,
    contentHash: string,
    chunks: ArticleChunk[],
    searchConfig: string,
    embeddings: { model: string; vectors: number[][] } | undefined,
  ): Promise<void> {
    await this.dataSource.transaction(async (db) => {
      const [{ id }] = await db.query(
        `INSERT INTO kb_articles (agent_id, source, uri, title, url, content_hash, chunks)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (agent_id, uri) DO UPDATE SET source = $2, title = $4, url = $5, content_hash = $6, chunks = $7, synced_at = now()
         RETURNING id::text`,
        [agentId, source, article.uri, textSafe(article.title), article.url, contentHash, chunks.length],
      );
      await db.query(`DELETE FROM kb_chunks WHERE article_id = $1`, [id]);
      for (const chunk of chunks) {
        await db.query(
          `INSERT INTO kb_chunks (article_id, agent_id, ordinal, heading_path, text, search_config, tsv, embedding, embedding_model)
           VALUES ($1, $2, $3, $4, $5, $6::regconfig,
                   setweight(to_tsvector($6::regconfig, $10), 'C') || setweight(to_tsvector($6::regconfig, $7), 'A') || setweight(to_tsvector($6::regconfig, $5), 'B'), $8, $9)`,
          [
            id,
            agentId,
            chunk.ordinal,
            JSON.stringify(chunk.headingPath),
            textSafe(chunk.text),
            searchConfig,
            textSafe(chunk.headingPath.join(' ')),
            embeddings ? embeddings.vectors[chunk.ordinal] : null,
            embeddings?.model ?? null,
            textSafe(article.title),
          ],
        );
      }
    });
  }

  /** Deletes articles (their chunks go with them); returns how many. */
  async removeArticles(agentId: string, uris: string[]): Promise<number> {
    if (uris.length === 0) return 0;
    const [{ count }] = await this.dataSource.query(
      `WITH gone AS (DELETE FROM kb_articles WHERE agent_id = $1 AND uri = ANY($2::text[]) RETURNING id) SELECT count(*)::int AS count FROM gone`,
      [agentId, uris],
    );
    return count;
  }

  async removeAgent(agentId: string): Promise<number> {
    const [{ count }] = await this.dataSource.query(`WITH gone AS (DELETE FROM kb_articles WHERE agent_id = $1 RETURNING id) SELECT count(*)::int AS count FROM gone`, [agentId]);
    return count;
  }

  /**
   * Full-text candidates: the query's lexemes OR-ed (a contact's question rarely contains every word
   * of the article that answers it, which `websearch_to_tsquery`'s AND would demand), normalised with
   * the chunks' configuration. Ordered by the IDF-weighted share plus twice `ts_rank` (length
   * normalised): the best of the orders tried on the shipped retrieval set (docs/knowledge.md);
   * `ts_rank_cd` alone tied every chunk of an article on its title.
   */
  async textSearch(agentId: string, searchConfig: string, query: string, limit: number): Promise<TextHit[]> {
    const rows = await this.dataSource.query(
      `WITH q AS (
         SELECT DISTINCT lexeme FROM unnest(tsvector_to_array(to_tsvector($2::regconfig, $3))) AS lexeme
       ), n AS (
         SELECT count(*) AS chunks FROM kb_chunks WHERE agent_id = $1
       ), d AS (
         SELECT quote_literal(q.lexeme)::tsquery AS term,
                (SELECT count(*) FROM kb_chunks c WHERE c.agent_id = $1 AND c.tsv @@ quote_literal(q.lexeme)::tsquery) AS df
           FROM q
       ), w AS (
         -- Words no chunk contains (a name, an order number, a typo) say nothing about which chunk
         -- answers: they are left out, or "hi, I'm Jennifer, order AC-48291" would sink every match.
         SELECT d.term, ln((n.chunks + 1)::float8 / (d.df + 0.5)) AS idf FROM d, n WHERE d.df > 0
       ), query AS (
         SELECT string_agg(term::text, ' | ')::tsquery AS any_term, sum(idf) AS total FROM w
       )
       SELECT chunk_id, score FROM (
         SELECT c.id AS id, c.id::text AS chunk_id,
                (SELECT coalesce(sum(w.idf), 0) FROM w WHERE c.tsv @@ w.term) / query.total AS score,
                ts_rank(c.tsv, query.any_term, 32) AS rank
           FROM kb_chunks c, query
          WHERE query.any_term IS NOT NULL AND query.total > 0 AND c.agent_id = $1 AND c.tsv @@ query.any_term
       ) hits
        ORDER BY score + 2 * rank DESC, id
        LIMIT $4`,
      [agentId, searchConfig, textSafe(query), limit],
    );
    return rows.map((r: { chunk_id: string; score: number }) => ({ chunkId: r.chunk_id, score: Number(r.score) }));
  }

  async hasChunks(agentId: string): Promise<boolean> {
    const rows = await this.dataSource.query(`SELECT 1 FROM kb_chunks WHERE agent_id = $1 LIMIT 1`, [agentId]);
    return rows.length > 0;
  }

  /** Every chunk vector of the agent for this model, for the in-process similarity. */
  async vectors(agentId: string, model: string): Promise<Array<{ chunkId: string; embedding: number[] }>> {
    const rows = await this.dataSource.query(`SELECT id::text AS chunk_id, embedding FROM kb_chunks WHERE agent_id = $1 AND embedding_model = $2`, [agentId, model]);
    return rows.map((r: { chunk_id: string; embedding: number[] }) => ({ chunkId: r.chunk_id, embedding: r.embedding }));
  }

  async chunks(ids: string[]): Promise<ChunkRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.dataSource.query(
      `SELECT c.id::text AS chunk_id, a.id::text AS article_id, a.title, a.url, a.uri, c.heading_path, c.text
         FROM kb_chunks c JOIN kb_articles a ON a.id = c.article_id
        WHERE c.id = ANY($1::bigint[])`,
      [ids],
    );
    return rows.map((r: Record<string, unknown>) => ({
      chunkId: r.chunk_id as string,
      articleId: r.article_id as string,
      title: r.title as string,
      url: r.url as string | null,
      uri: r.uri as string,
      headingPath: r.heading_path as string[],
      text: r.text as string,
    }));
  }
}
