import { Injectable, Logger } from '@nestjs/common';
import { DecisionEngine } from '../agent/decision.engine.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { TimerQueue } from '../scheduler/timer-queue.js';
import { ActionRepository } from './action.repository.js';
import { ActionRunner, prior } from './action.runner.js';
import { contextFor } from './context.js';
import type { Conversation } from './conversation.types.js';
import { cannedCall } from './decision-body.js';
import { LeaseService, type Lease } from './lease.service.js';
import { sendOf, transition, type TimerName } from './state-machine.js';
import { durationsFor, machineConfig } from './timing.js';

/** The order in which due deadlines are handled when several are due at once. */
const PRIORITY: Array<[TimerName, 'firstQuestionAt' | 'vaDeadlineAt' | 'contactDeadlineAt' | 'nudgeAt']> = [
  ['firstQuestion', 'firstQuestionAt'],
  ['vaDeadline', 'vaDeadlineAt'],
  ['contactDeadline', 'contactDeadlineAt'],
  ['contactNudge', 'nudgeAt'],
];

/** How soon to look again at a deadline that could not be acted on. */
const STUCK_RETRY_MS = 30_000;

/** How soon to look again when the conversation is busy with a turn. */
const BUSY_RETRY_MS = 1000;

/**
 * A deadline this close is due. Jobs are delayed on the database's clock, but a deadline has
 * microseconds and a job only milliseconds: without this, a job a fraction early finds nothing due.
 */
const DUE_TOLERANCE_MS = 50;

@Injectable()
export class TimerService {
  private readonly logger = new Logger(TimerService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly leases: LeaseService,
    private readonly actions: ActionRepository,
    private readonly runner: ActionRunner,
    private readonly engine: DecisionEngine,
    private readonly timers: TimerQueue,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * A timer job woke us: the row says what is due. A job armed for a deadline that has since moved
   * finds nothing due and only re-arms the current one. `armedFor` is the deadline the job was armed
   * for: re-arming that same deadline from inside its own job needs an id of its own.
   */
  async fire(conversationId: string, armedFor?: number): Promise<void> {
    const outcome = await this.leases.withLease(conversationId, (lease, conversation) => this.handleDue(lease, conversation));
    if (outcome.kind === 'missing') return;
    if (outcome.kind === 'busy') {
      // A turn is running; it bounds its own LLM call by the VA deadline. Look again shortly.
      await this.timers.arm(conversationId, new Date(Date.now() + BUSY_RETRY_MS));
      return;
    }
    const next = outcome.released;
    if (next?.state !== 'active' || !next.nextDeadlineAt) return;
    const due = next.nextDeadlineAt.getTime();
    if (due !== armedFor) {
      await this.timers.arm(conversationId, next.nextDeadlineAt, { now: next.dbNow });
    } else if (due > next.dbNow.getTime()) {
      // Fired early: the same deadline again, under an id of its own (BullMQ ignores an active id).
      await this.timers.arm(conversationId, next.nextDeadlineAt, { now: next.dbNow, again: `again${Date.now()}` });
    } else {
      // Still due after this wake (its agent left the agents file, say): look again later, not in a loop.
      this.logger.warn({ conversationId, msg: 'a deadline is still due after acting on it; looking again in 30s' });
      await this.timers.arm(conversationId, new Date(next.dbNow.getTime() + STUCK_RETRY_MS), { now: next.dbNow });
    }
  }

  private async handleDue(lease: Lease, claimed: Conversation): Promise<void> {
    const agent = this.config.agent(claimed.agentId);
    if (!agent || claimed.state !== 'active') {
      if (!agent) this.logger.error({ conversationId: claimed.id, agentId: claimed.agentId, msg: 'no such agent in the agents file any more; its deadlines cannot act' });
      return;
    }
    // A VA deadline that has passed hands over whatever is planned (it supersedes those calls):
    // replaying a call that keeps failing first would keep the contact waiting in silence.
    const vaDue = claimed.vaDeadlineAt !== null && claimed.vaDeadlineAt.getTime() <= Date.now();
    const conversation = vaDue ? claimed : await this.runner.replayPlanned(lease, agent, claimed);
    if (conversation?.state !== 'active') return;

    // Decided and recorded with the row locked: a contact message cannot slip in between the check
    // and the close (intake waits for the lock, and the timer sees it if it came first).
    const planned = await lease.locked(async (c) => {
      const row = c.conversation;
      if (row.state !== 'active') return undefined;
      for (const [timer, field] of PRIORITY) {
        const due = row[field];
        if (!due || due.getTime() > c.dbNow.getTime() + DUE_TOLERANCE_MS) continue;
        const t = transition(prior(row), { type: 'timer', timer, ...(await c.exchange()) }, machineConfig(agent));
        await c.apply(t, { durations: durationsFor(agent) });
        const send = sendOf(t);
        if (!send) {
          this.logger.debug({ agentId: agent.id, conversationId: row.id, timer, msg: 'deadline passed with nothing to do' });
          continue;
        }
        const ctx = contextFor(agent, row, await c.transcript());
        const call = cannedCall(agent, send, (why) => this.engine.handoverNote(agent, ctx, why));
        const action = await this.actions.plan({ conversationId: row.id, session: row.session, decisionId: null, ...call }, c.db);
        return { timer, what: send.what, action, conversation: row };
      }
      return undefined;
    });
    if (!planned) return;
    this.logger.log({ agentId: agent.id, conversationId: conversation.id, timer: planned.timer, send: planned.what, msg: 'deadline passed: acting' });
    this.metrics.timerActions.inc({ agent: agent.id, what: planned.what });
    // One action per wake; the next deadline gets its own job.
    await this.runner.execute(lease, agent, planned.conversation, planned.action);
  }
}
