import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, QueryRunner } from 'typeorm';
import { safeError } from '../common/safe-error.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { Periodic } from '../scheduler/periodic.js';

/** One pruner at a time across replicas; the others skip that round. */
const RETENTION_LOCK = 7_420_150_003;
/** A round stops after this long and goes on at the next one: it never holds a connection for long. */
const ROUND_BUDGET_MS = 30_000;

export interface PruneResult {
  events: number;
  conversations: number;
}

/**
 * Deletes what is older than the operator's retention (docs/deploy.md, "Retention"), in small
 * batches, each its own short transaction:
 * - `RETENTION_EVENTS`: webhook events received before it (their messages keep their text; only
 *   the link to the raw event goes), except those of a conversation that is still active;
 * - `RETENTION_TRANSCRIPTS`: conversations that ended before it, with everything recorded about
 *   them (messages, decisions, Inbox calls, action calls, session outcomes and usage cascade).
 * An active conversation is never touched: the delete checks the state again on the row it locks,
 * so one that is reopened meanwhile is kept.
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(RetentionService.name);
  private readonly rounds = new Periodic(
    async () => {
      const r = await this.prune();
      if (r && (r.events || r.conversations)) this.logger.log({ ...r, msg: 'retention pruned old records' });
    },
    (err) => this.logger.error({ err: safeError(err), msg: 'retention round failed; it runs again at the next interval' }),
  );

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly metrics: MetricsService,
  ) {}

  get enabled(): boolean {
    return this.config.env.RETENTION_EVENTS !== undefined || this.config.env.RETENTION_TRANSCRIPTS !== undefined;
  }

  onApplicationBootstrap(): void {
    if (this.enabled) this.rounds.start(this.config.env.RETENTION_INTERVAL);
  }

  async onModuleDestroy(): Promise<void> {
    await this.rounds.stop();
  }

  /** One round: undefined when another replica holds the round. */
  async prune(): Promise<PruneResult | undefined> {
    const { RETENTION_EVENTS: events, RETENTION_TRANSCRIPTS: transcripts, RETENTION_BATCH_SIZE: batch } = this.config.env;
    // A session-level lock on one connection for the round; each batch commits on its own.
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [RETENTION_LOCK]);
      if (!locked) return undefined;
      try {
        const stopAt = Date.now() + ROUND_BUDGET_MS;
        const result: PruneResult = { events: 0, conversations: 0 };
        if (transcripts !== undefined) result.conversations = await this.inBatches(stopAt, batch, (n) => this.pruneConversations(deleteQuery(runner), transcripts, n));
        if (events !== undefined) result.events = await this.inBatches(stopAt, batch, (n) => this.pruneEvents(deleteQuery(runner), events, n));
        this.metrics.retentionDeleted.inc({ table: 'conversations' }, result.conversations);
        this.metrics.retentionDeleted.inc({ table: 'webhook_events' }, result.events);
        return result;
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK]);
      }
    } finally {
      await runner.release();
    }
  }

  private async inBatches(stopAt: number, size: number, one: (size: number) => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await one(size);
      total += deleted;
      if (deleted < size || Date.now() >= stopAt) return total;
    }
  }

  private async pruneConversations(query: Query, olderThanMs: number, size: number): Promise<number> {
    return query(
      `DELETE FROM conversations c
        WHERE c.id IN (SELECT id FROM conversations
                        WHERE state <> 'active' AND state_changed_at < now() - $1 * interval '1 millisecond'
                        ORDER BY state_changed_at LIMIT $2)
          AND c.state <> 'active' AND c.state_changed_at < now() - $1 * interval '1 millisecond'
`,
      [olderThanMs, size],
    );
  }

  private async pruneEvents(query: Query, olderThanMs: number, size: number): Promise<number> {
    return query(
      `DELETE FROM webhook_events e
        WHERE e.id IN (SELECT id FROM webhook_events w
                        WHERE w.received_at < now() - $1 * interval '1 millisecond'
                          AND NOT EXISTS (SELECT 1 FROM conversations c
                                           WHERE c.agent_id = w.agent_id AND c.inbox_conversation_id = w.inbox_conversation_id
                                             AND c.state = 'active')
                        ORDER BY w.received_at LIMIT $2)
`,
      [olderThanMs, size],
    );
  }
}

/** Runs a DELETE and gives the number of rows it deleted (TypeORM's structured result). */
type Query = (sql: string, params: unknown[]) => Promise<number>;
const deleteQuery =
  (runner: QueryRunner): Query =>
  async (sql, params) =>
    (await runner.query(sql, params, true)).affected ?? 0;
