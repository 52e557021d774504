import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The agents' help content, as `npm run kb -- sync` stores it: articles with a content hash (an
 * unchanged article is not parsed into chunks or embedded again), and their chunks with a
 * full-text vector in the agent's text search configuration and, when the agent has embeddings,
 * a vector compared in-process (pgvector is not assumed: docs/knowledge.md says up to what size
 * that serves). Decisions record the chunks they cited.
 */
export class Knowledge1764000000005 implements MigrationInterface {
  name = 'Knowledge1764000000005';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE kb_articles (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        agent_id      text NOT NULL,
        source        text NOT NULL,
        uri           text NOT NULL,
        title         text NOT NULL,
        url           text,
        content_hash  text NOT NULL,
        chunks        integer NOT NULL,
        synced_at     timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT kb_articles_agent_uri UNIQUE (agent_id, uri)
      )`);
    await db.query(`
      CREATE TABLE kb_chunks (
        id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        article_id       bigint NOT NULL REFERENCES kb_articles (id) ON DELETE CASCADE,
        agent_id         text NOT NULL,
        ordinal          integer NOT NULL,
        heading_path     jsonb NOT NULL,
        text             text NOT NULL,
        search_config    regconfig NOT NULL,
        tsv              tsvector NOT NULL,
        embedding        real[],
        embedding_model  text
      )`);
    await db.query(`CREATE INDEX kb_chunks_tsv ON kb_chunks USING GIN (tsv)`);
    await db.query(`CREATE INDEX kb_chunks_agent ON kb_chunks (agent_id, article_id, ordinal)`);
    await db.query(`ALTER TABLE decisions ADD COLUMN sources jsonb NOT NULL DEFAULT '[]'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE decisions DROP COLUMN sources`);
    await db.query(`DROP TABLE kb_chunks`);
    await db.query(`DROP TABLE kb_articles`);
  }
}
