import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { safeError } from '../common/safe-error.js';
import { AppConfig } from '../config/app-config.js';
import { Periodic } from '../scheduler/periodic.js';
import { TimerQueue, sweepHorizonMs } from '../scheduler/timer-queue.js';
import { TurnQueue } from '../scheduler/turn-queue.js';
import { ConversationRepository } from './conversation.repository.js';

/** One sweeper at a time across replicas; the others skip that round. */
const SWEEP_LOCK = 7_420_150_002;

/**
 * Postgres is the source of truth, Redis only the trigger. At boot and on every interval, this arms
 * from the table the timer jobs for the deadlines coming up (which also re-arms whatever Redis lost
 * in a flush or failover, and retries a timer job that failed while Postgres was away), and turns
 * for contact messages nobody is answering.
 */
@Injectable()
export class SweepService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(SweepService.name);
  private readonly rounds = new Periodic(
    () => this.sweep(),
    (err) => this.logger.error({ err: safeError(err), msg: 'sweep failed' }),
  );

  constructor(
    private readonly config: AppConfig,
    private readonly timers: TimerQueue,
    private readonly turns: TurnQueue,
    private readonly conversations: ConversationRepository,
  ) {}

  onApplicationBootstrap(): void {
    this.rounds.start(this.config.env.SCHEDULER_SWEEP_INTERVAL);
  }

  async onModuleDestroy(): Promise<void> {
    await this.rounds.stop();
  }

  /**
   * Returns what it armed. This is how every deadline further out than the horizon gets its job,
   * not only a safety net: a write arms at once only what falls due within the horizon.
   */
  async sweep(): Promise<{ timers: number; turns: number }> {
    const found = await this.conversations.forSweep(sweepHorizonMs(this.config.env.SCHEDULER_SWEEP_INTERVAL), SWEEP_LOCK);
    if (!found) return { timers: 0, turns: 0 };
    await this.timers.armMany(found.timers.map((t) => ({ conversationId: t.id, dueAt: t.dueAt })), found.dbNow);
    for (const id of found.turns) await this.turns.requestTurn(id, 0);
    if (found.timers.length || found.turns.length) {
      this.logger.log({ timers: found.timers.length, turns: found.turns.length, msg: 'sweep re-armed from Postgres' });
    }
    return { timers: found.timers.length, turns: found.turns.length };
  }
}
