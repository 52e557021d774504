import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { IntakeService, type IntakeOutcome, type Recorded } from '../conversation/intake.service.js';
import type { IntakeEvent } from '../conversation/intake.repository.js';
import { toJsonbSafe } from '../database/jsonb-safe.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { EnvelopeSchema, parseEventData, type ParsedEvent } from './webhook-events.schema.js';
import { InvalidEventError, SignatureError, UnknownAgentError } from './webhook.errors.js';
import { isValidSignature } from './signature.js';

/**
 * The HTTP side of intake: verify, parse, log, hand over. Checks run in the order that reveals the
 * least to a stranger: signature before JSON, JSON before content. What an event does to its
 * conversation is `conversation/`'s business (IntakeService).
 */
@Injectable()
export class WebhookService {
  private readonly logger = new Logger(WebhookService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly intake: IntakeService,
    private readonly metrics: MetricsService,
  ) {}

  agentFor(agentId: string): AgentConfig {
    // Only an agent the file lists now: one a reload removed takes no new events (its open conversations end by their timers).
    const agent = this.config.servedAgent(agentId);
    if (!agent) throw new UnknownAgentError(agentId);
    return agent;
  }

  async accept(agent: AgentConfig, rawBody: Buffer, signature: string | undefined, now = new Date()): Promise<IntakeOutcome> {
    if (!isValidSignature(agent.secret, rawBody, signature)) {
      throw new SignatureError(signature ? 'X-Hootsuite-Signature does not match the body' : 'X-Hootsuite-Signature is missing');
    }
    const { json, sanitised } = this.parseJson(rawBody);
    const result = EnvelopeSchema.safeParse(json);
    if (!result.success) throw new InvalidEventError(`envelope is invalid: ${describe(result.error.issues)}`);
    const envelope = result.data;
    const age = now.getTime() - envelope.timestamp.getTime();
    const maxAge = this.config.env.WEBHOOK_MAX_AGE;
    if (Math.abs(age) > maxAge) {
      throw new SignatureError(`timestamp is ${Math.round(age / 1000)}s away from now, outside the ${maxAge / 1000}s window`);
    }
    const parsed = parseEventData(envelope);
    if (!parsed.success) throw new InvalidEventError(`${envelope.type} data is invalid: ${describe(parsed.error.issues)}`);

    const event = parsed.data;
    const inboxConversationId = event.type === 'UNKNOWN' ? undefined : event.data.conversationId;
    const logged: IntakeEvent = {
      agentId: agent.id,
      idempotencyKey: envelope.idempotencyKey,
      type: envelope.type,
      version: envelope.version,
      inboxConversationId,
      sentAt: envelope.timestamp,
      payload: json,
      rawBody: sanitised ? rawBody : null,
    };
    const recorded = await this.handOver(agent, logged, event);

    this.logger.log({
      agentId: agent.id,
      inboxConversationId,
      conversationId: recorded.conversationId,
      type: envelope.type,
      idempotencyKey: envelope.idempotencyKey,
      outcome: recorded.outcome,
      ...(sanitised ? { sanitised: true } : {}),
      msg: 'webhook accepted',
    });
    this.metrics.webhookEvents.inc({ agent: agent.id, type: event.type === 'UNKNOWN' ? 'unknown' : event.type, outcome: recorded.outcome });
    return recorded.outcome;
  }

  private handOver(agent: AgentConfig, event: IntakeEvent, parsed: ParsedEvent): Promise<Recorded> {
    switch (parsed.type) {
      case 'INBOUND_MESSAGE_RECEIVED': {
        const d = parsed.data;
        return this.intake.inbound(agent, {
          event,
          topics: d.conversationTopics ?? null,
          contactProfile: d.contactProfile ?? null,
          channel: d.channel ?? null,
          medium: d.medium ?? null,
          text: d.message.text ?? null,
          payload: d.message.payload ?? null,
          inboxMessageId: d.message.messageId ?? null,
          trigger: d.trigger ?? null,
        });
      }
      case 'CONVERSATION_STARTED':
      case 'CONVERSATION_DELEGATED': {
        const d = parsed.data;
        return this.intake.opening(agent, {
          event,
          type: parsed.type === 'CONVERSATION_STARTED' ? 'started' : 'delegated',
          contactProfile: d.contactProfile ?? null,
          contactAttributes: (d.contactAttributes ?? []).map(({ attribute, value, source }) => ({ attribute, value, source })),
          language: d.language ?? null,
          channel: d.channel ?? null,
          medium: d.medium ?? null,
        });
      }
      case 'UNKNOWN':
        return this.intake.other(event);
    }
  }

  /**
   * JSON as sent, made fit for PostgreSQL before anything reads it: a NUL or half an emoji in a
   * message must not fail every redelivery. The raw bytes are kept when anything was replaced.
   */
  private parseJson(rawBody: Buffer): { json: unknown; sanitised: boolean } {
    let json: unknown;
    try {
      json = JSON.parse(rawBody.toString('utf8'));
    } catch {
      throw new InvalidEventError('body is not valid JSON');
    }
    const { value, changed } = toJsonbSafe(json);
    return { json: value, sanitised: changed };
  }
}

function describe(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}
