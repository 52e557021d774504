import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { TimerQueue, sweepHorizonMs } from './timer-queue.js';
import { TurnQueue } from './turn-queue.js';

/** One sweeper at a time across replicas; the others skip that round. */
const SWEEP_LOCK = 7_420_150_002;

/**
 * Postgres is the source of truth, Redis only the trigger. At boot and on every interval, this arms
 * from the table the timer jobs for the deadlines coming up (which also re-arms whatever Redis lost
 * in a flush or failover), and turns for contact messages nobody is answering.
 */
@Injectable()
export class SchedulerService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(SchedulerService.name);
  private interval?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly timers: TimerQueue,
    private readonly turns: TurnQueue,
  ) {}

  onApplicationBootstrap(): void {
    this.trigger();
    this.interval = setInterval(() => this.trigger(), this.config.env.SCHEDULER_SWEEP_INTERVAL);
    this.interval.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.interval);
    await this.running;
  }

  private trigger(): void {
    if (this.running) return;
    this.running = this.sweep()
      .catch((err) => this.logger.error({ err: (err as Error).message, msg: 'sweep failed' }))
      .finally(() => (this.running = undefined));
  }

  /**
   * Returns what it armed. This is how every deadline further out than the horizon gets its job,
   * not only a safety net: a write arms at once only what falls due within the horizon.
   */
  async sweep(): Promise<{ timers: number; turns: number }> {
    const horizonMs = sweepHorizonMs(this.config.env.SCHEDULER_SWEEP_INTERVAL);
    const found = await this.dataSource.transaction(async (db) => {
      const [{ locked }] = await db.query('SELECT pg_try_advisory_xact_lock($1) AS locked', [SWEEP_LOCK]);
      if (!locked) return undefined;
      const timers: Array<{ id: string; next_deadline_at: Date }> = await db.query(
        `SELECT id, next_deadline_at FROM conversations
          WHERE state = 'active' AND next_deadline_at < now() + $1 * interval '1 millisecond'`,
        [horizonMs],
      );
      const turns: Array<{ id: string }> = await db.query(
        `SELECT c.id FROM conversations c
          WHERE c.state = 'active' AND (c.turn_lease_until IS NULL OR c.turn_lease_until < now())
            AND (EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.session = c.session
                           AND m.direction = 'inbound' AND m.handled_at IS NULL AND m.created_at < now() - interval '5 seconds')
                 OR EXISTS (SELECT 1 FROM actions a WHERE a.conversation_id = c.id AND a.status = 'planned'
                              AND a.created_at < now() - interval '5 seconds'))`,
      );
      return { timers, turns };
    });
    if (!found) return { timers: 0, turns: 0 };
    await this.timers.armMany(found.timers.map((t) => ({ conversationId: t.id, dueAt: t.next_deadline_at })));
    for (const { id } of found.turns) await this.turns.requestTurn(id, 0);
    if (found.timers.length || found.turns.length) {
      this.logger.log({ timers: found.timers.length, turns: found.turns.length, msg: 'sweep re-armed from Postgres' });
    }
    return { timers: found.timers.length, turns: found.turns.length };
  }
}
