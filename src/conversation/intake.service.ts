import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { IntakeRepository, type InboundRecord, type IntakeEvent, type OpeningRecord } from './intake.repository.js';
import { requestsTurn, transition } from './state-machine.js';
import { durationsFor, machineConfig } from './timing.js';
import { WakeUpService } from './wake-up.service.js';

export type IntakeOutcome = 'stored' | 'duplicate' | 'ignored';

export interface Recorded {
  outcome: IntakeOutcome;
  conversationId?: string;
}

/**
 * Intake, as the conversation sees it: a verified, parsed event is recorded atomically with what
 * it does to its conversation (the state machine decides), and after the commit the conversation
 * is woken (its next deadline armed, a turn requested). `webhook/` only verifies, parses and logs.
 */
@Injectable()
export class IntakeService {
  private readonly logger = new Logger(IntakeService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly intake: IntakeRepository,
    private readonly wakeUp: WakeUpService,
  ) {}

  /** A contact message: one statement; outside `active` it is stored and not answered. */
  async inbound(agent: AgentConfig, r: Omit<InboundRecord, 'mode'>): Promise<Recorded> {
    const durations = durationsFor(agent);
    const result = await this.intake.recordInbound({ ...r, mode: agent.mode }, machineConfig(agent), durations.vaDeadline!);
    if (!result) return { outcome: 'duplicate' };
    // The same messageId under a new idempotency key: the event is logged, the message was stored before.
    if (!result.stored) return { outcome: 'duplicate', conversationId: result.conversationId };
    await this.wakeUp.after(result.conversationId, {
      nextDeadline: result.nextDeadlineAt,
      now: result.dbNow,
      turnDelay: requestsTurn(result.transition) ? agent.timeouts.turnDebounce : undefined,
    });
    return { outcome: 'stored', conversationId: result.conversationId };
  }

  /** CONVERSATION_STARTED / _DELEGATED: the VA owns the conversation (again). */
  async opening(agent: AgentConfig, r: OpeningRecord): Promise<Recorded> {
    const mode = r.type === 'started' ? 'inception' : 'delegation';
    if (mode !== agent.mode) {
      this.logger.warn({ agentId: agent.id, inboxConversationId: r.event.inboxConversationId, msg: `a ${mode} event reached a ${agent.mode} agent; check the VA's activation in Inbox 2.0` });
    }
    const cfg = machineConfig(agent);
    const result = await this.intake.recordOpening(r, (prior, waiting) => transition(prior, { type: r.type, waiting }, cfg), {
      durations: durationsFor(agent),
      waitingWindowMs: this.config.env.WEBHOOK_MAX_AGE,
    });
    if (!result) return { outcome: 'duplicate' };
    // A delegated conversation has no contact message to wait for: the VA speaks first, at once.
    await this.wakeUp.after(result.conversationId, {
      nextDeadline: result.applied.nextDeadlineAt,
      now: result.applied.dbNow,
      turnDelay: requestsTurn(result.transition) ? (r.type === 'delegated' ? 0 : agent.timeouts.turnDebounce) : undefined,
    });
    return { outcome: 'stored', conversationId: result.conversationId };
  }

  /** A type this version does not know: kept in the event log, no effect. */
  async other(event: IntakeEvent): Promise<Recorded> {
    return { outcome: (await this.intake.recordOther(event)) ? 'ignored' : 'duplicate' };
  }
}
