import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { ConversationRepository, type ConversationRef } from '../conversation/conversation.repository.js';
import { IntakeRepository } from './intake.repository.js';
import { durationsFor, machineConfig } from '../conversation/action.runner.js';
import { transition, type Input } from '../conversation/state-machine.js';
import { TimerQueue } from '../scheduler/timer-queue.js';
import { TurnQueue } from '../scheduler/turn-queue.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { EventLogRepository } from './event-log.repository.js';
import { EnvelopeSchema, parseEventData, type Envelope, type InboundMessage, type ParsedEvent } from './webhook-events.schema.js';
import { InvalidEventError, SignatureError, UnknownAgentError } from './webhook.errors.js';
import { isValidSignature } from './signature.js';

export type IntakeOutcome = 'stored' | 'duplicate' | 'ignored';

interface Recorded {
  outcome: IntakeOutcome;
  conversation?: ConversationRef;
  /** When set, the conversation wants a turn after this many milliseconds. */
  turnDelay?: number;
  /** The conversation's next deadline, for its timer job. */
  nextDeadline?: Date | null;
}

/** How long the webhook waits for Redis before answering anyway: the event is safe in Postgres. */
const ENQUEUE_TIMEOUT_MS = 1000;

@Injectable()
export class WebhookService {
  private readonly logger = new Logger(WebhookService.name);

  constructor(
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly eventLog: EventLogRepository,
    private readonly conversations: ConversationRepository,
    private readonly intake: IntakeRepository,
    private readonly turns: TurnQueue,
    private readonly timers: TimerQueue,
    private readonly metrics: MetricsService,
  ) {}

  agentFor(agentId: string): AgentConfig {
    const agent = this.config.agent(agentId);
    if (!agent) throw new UnknownAgentError(agentId);
    return agent;
  }

  /**
   * Verifies, parses and durably records one webhook, then asks for a turn. Checks run in the order
   * that reveals the least to a stranger: signature before JSON, JSON before content.
   */
  async accept(agent: AgentConfig, rawBody: Buffer, signature: string | undefined, now = new Date()): Promise<IntakeOutcome> {
    if (!isValidSignature(agent.secret, rawBody, signature)) {
      throw new SignatureError(signature ? 'X-Hootsuite-Signature does not match the body' : 'X-Hootsuite-Signature is missing');
    }
    const { json, envelope } = this.parseEnvelope(rawBody);
    const age = now.getTime() - envelope.timestamp.getTime();
    const maxAge = this.config.env.WEBHOOK_MAX_AGE;
    if (Math.abs(age) > maxAge) {
      throw new SignatureError(`timestamp is ${Math.round(age / 1000)}s away from now, outside the ${maxAge / 1000}s window`);
    }
    const parsed = parseEventData(envelope);
    if (!parsed.success) {
      throw new InvalidEventError(`${envelope.type} data is invalid: ${describe(parsed.error.issues)}`);
    }
    return this.record(agent, envelope, parsed.data, json);
  }

  private parseEnvelope(rawBody: Buffer): { json: unknown; envelope: Envelope } {
    let json: unknown;
    try {
      json = JSON.parse(rawBody.toString('utf8'));
    } catch {
      throw new InvalidEventError('body is not valid JSON');
    }
    const result = EnvelopeSchema.safeParse(json);
    if (!result.success) throw new InvalidEventError(`envelope is invalid: ${describe(result.error.issues)}`);
    return { json, envelope: result.data };
  }

  /** `payload` is the JSON as received: the event log keeps what the platform sent, not our reading of it. */
  private async record(agent: AgentConfig, envelope: Envelope, event: ParsedEvent, payload: unknown): Promise<IntakeOutcome> {
    const inboxConversationId = event.type === 'UNKNOWN' ? undefined : event.data.conversationId;
    const log = { agentId: agent.id, inboxConversationId, type: envelope.type, idempotencyKey: envelope.idempotencyKey };

    const result =
      event.type === 'INBOUND_MESSAGE_RECEIVED'
        ? await this.recordInbound(agent, envelope, event.data, payload)
        : await this.recordOpeningOrUnknown(agent, envelope, event, payload);

    this.logger.log({ ...log, conversationId: result.conversation?.id, outcome: result.outcome, msg: 'webhook accepted' });
    this.metrics.webhookEvents.inc({ agent: agent.id, type: event.type === 'UNKNOWN' ? 'unknown' : event.type, outcome: result.outcome });
    if (result.conversation) await this.trigger(result, log);
    return result.outcome;
  }

  /** A contact message: one statement (see IntakeRepository), the state machine deciding its effects. */
  private async recordInbound(agent: AgentConfig, envelope: Envelope, d: InboundMessage, payload: unknown): Promise<Recorded> {
    const effects = transition('active', { type: 'inbound' }, machineConfig(agent)).effects;
    const conversation = await this.intake.recordInbound(
      {
        event: { agentId: agent.id, idempotencyKey: envelope.idempotencyKey, type: envelope.type, version: envelope.version, inboxConversationId: d.conversationId, sentAt: envelope.timestamp, payload },
        mode: agent.mode,
        topics: d.conversationTopics ?? null,
        contactProfile: d.contactProfile ?? null,
        channel: d.channel ?? null,
        medium: d.medium ?? null,
        text: d.message.text ?? null,
        payload: d.message.payload ?? null,
        inboxMessageId: d.message.messageId ?? null,
        trigger: d.trigger ?? null,
      },
      effects,
      durationsFor(agent),
    );
    if (!conversation) return { outcome: 'duplicate' };
    // Outside `active` the message is stored and not answered.
    const turn = transition(conversation.state, { type: 'inbound' }, machineConfig(agent)).effects.some((e) => e.type === 'requestTurn');
    return {
      outcome: 'stored',
      conversation,
      nextDeadline: conversation.next_deadline_at,
      turnDelay: turn ? agent.timeouts.turnDebounce : undefined,
    };
  }

  /** CONVERSATION_STARTED / _DELEGATED (and unknown types), in one short transaction. */
  private recordOpeningOrUnknown(agent: AgentConfig, envelope: Envelope, event: Exclude<ParsedEvent, { type: 'INBOUND_MESSAGE_RECEIVED' }>, payload: unknown): Promise<Recorded> {
    return this.dataSource.transaction(async (db): Promise<Recorded> => {
      const eventId = await this.eventLog.insert(db, {
        agentId: agent.id,
        idempotencyKey: envelope.idempotencyKey,
        type: envelope.type,
        version: envelope.version,
        inboxConversationId: event.type === 'UNKNOWN' ? undefined : event.data.conversationId,
        sentAt: envelope.timestamp,
        payload,
      });
      if (eventId === undefined) return { outcome: 'duplicate' };
      if (event.type === 'UNKNOWN') return { outcome: 'ignored' };

      const d = event.data;
      const input: Input = { type: event.type === 'CONVERSATION_STARTED' ? 'started' : 'delegated' };
      const mode = input.type === 'started' ? 'inception' : 'delegation';
      if (mode !== agent.mode) {
        this.logger.warn({ agentId: agent.id, inboxConversationId: d.conversationId, msg: `a ${mode} event reached a ${agent.mode} agent; check the VA's activation in Inbox 2.0` });
      }
      // The upsert makes the row active and begins a new session where one is due (see openSession).
      const conversation = await this.conversations.openSession(db, {
        agentId: agent.id,
        inboxConversationId: d.conversationId,
        mode,
        reason: input.type,
        contactProfile: d.contactProfile ?? null,
        contactAttributes: (d.contactAttributes ?? []).map(({ attribute, value, source }) => ({ attribute, value, source })),
        language: d.language ?? null,
        channel: d.channel ?? null,
        medium: d.medium ?? null,
      });
      const t = transition(conversation.state, input, machineConfig(agent));
      const { nextDeadline } = await this.conversations.applyTransition(db, conversation.id, t, durationsFor(agent));
      // A delegated conversation has no contact message to wait for: the VA speaks first, at once.
      const opening = t.effects.some((e) => e.type === 'requestTurn');
      return { outcome: 'stored', conversation, nextDeadline, turnDelay: opening ? 0 : undefined };
    });
  }

  /** Redis is only the trigger: if it is slow or down, the scheduler's sweep finds the pending work in Postgres. */
  private async trigger(result: Recorded, log: object): Promise<void> {
    const conversation = result.conversation!;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ENQUEUE_TIMEOUT_MS}ms`)), ENQUEUE_TIMEOUT_MS);
    });
    const work = Promise.all([
      result.nextDeadline ? this.timers.arm(conversation.id, result.nextDeadline) : undefined,
      result.turnDelay !== undefined ? this.turns.requestTurn(conversation.id, result.turnDelay) : undefined,
    ]);
    try {
      await Promise.race([work, timeout]);
    } catch (err) {
      this.logger.error({ ...log, conversationId: conversation.id, err: (err as Error).message, msg: 'could not enqueue; the sweep will re-arm from Postgres' });
    } finally {
      clearTimeout(timer);
    }
  }
}

function describe(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}
