import { Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { safeError } from '../common/safe-error.js';
import { AppConfig } from '../config/app-config.js';
import { ConversationRepository, LeaseLostError, type LockedConversation, type Released } from './conversation.repository.js';
import type { Conversation } from './conversation.types.js';

/** This process; each lease taken adds a number, so two jobs of one process are two owners. */
const PROCESS_ID = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
let leases = 0;

/**
 * What the holder of a conversation's lease may do. `locked` runs a short transaction that first
 * checks the lease is still ours (LeaseLostError otherwise); `checkSend` does the same before each
 * attempt of a REST call, extending the lease so that it covers the attempt.
 */
export interface Lease {
  readonly conversationId: string;
  readonly owner: string;
  /** Before each attempt of a call: LeaseLostError, or false when the call was superseded (do not send). */
  checkSend(actionId: string, session: number): Promise<boolean>;
  locked<T>(work: (c: LockedConversation) => Promise<T>): Promise<T>;
}

export type LeaseOutcome<T> = { kind: 'done'; value: T; released: Released | undefined } | { kind: 'busy' } | { kind: 'missing' };

/**
 * The one way a worker — a turn or a timer — works on a conversation: take the lease
 * (one owner per job), renew it while working, and release it at the end, even on failure, so that
 * another job can retry at once. A renewal that finds the lease gone says so loudly; the work then
 * records and sends nothing more (every record and every send checks the lease first).
 */
@Injectable()
export class LeaseService {
  private readonly logger = new Logger(LeaseService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly conversations: ConversationRepository,
  ) {}

  async withLease<T>(conversationId: string, work: (lease: Lease, conversation: Conversation, dbNow: Date) => Promise<T>): Promise<LeaseOutcome<T>> {
    const leaseMs = this.config.env.TURN_LEASE;
    const owner = `${PROCESS_ID}-${++leases}`;
    const claim = await this.conversations.claim(conversationId, owner, leaseMs);
    if (claim.kind !== 'held') return claim;

    let lost = false;
    let finished = false;
    const lease: Lease = {
      conversationId,
      owner,
      checkSend: async (actionId, session) => {
        const verdict = lost ? 'lease-lost' : await this.conversations.checkSend(conversationId, owner, leaseMs, actionId, session);
        if (verdict === 'lease-lost') {
          lost = true;
          throw new LeaseLostError(conversationId);
        }
        return verdict === 'send';
      },
      locked: async (w) => {
        if (lost) throw new LeaseLostError(conversationId);
        try {
          return await this.conversations.locked(conversationId, { owner, leaseMs }, w);
        } catch (err) {
          if (err instanceof LeaseLostError) lost = true;
          throw err;
        }
      },
    };
    const renewal = setInterval(() => {
      this.conversations.renew(conversationId, owner, leaseMs).then(
        (held) => {
          if (!held && !lost && !finished) {
            lost = true;
            this.logger.error({ conversationId, owner, msg: 'lease lost while working (expired or taken): recording and sending nothing more' });
          }
        },
        (err: unknown) => this.logger.warn({ conversationId, owner, err: safeError(err), msg: 'could not renew the lease; it is checked again before anything is recorded or sent' }),
      );
    }, leaseMs / 3);
    renewal.unref();

    try {
      const value = await work(lease, claim.conversation, claim.dbNow);
      finished = true;
      return { kind: 'done', value, released: await this.release(conversationId, owner, renewal) };
    } catch (err) {
      finished = true;
      // Released even when the work fails, so that any process can retry it at once.
      await this.release(conversationId, owner, renewal).catch(() => undefined);
      throw err;
    }
  }

  private async release(conversationId: string, owner: string, renewal: NodeJS.Timeout): Promise<Released | undefined> {
    clearInterval(renewal);
    try {
      return await this.conversations.release(conversationId, owner);
    } catch (err) {
      // PostgreSQL away: keep trying in the background, or the lease would block every other job on
      // this conversation (its deadlines included) until it expires.
      this.releaseLater(conversationId, owner, Date.now() + this.config.env.TURN_LEASE);
      throw err;
    }
  }

  private releaseLater(conversationId: string, owner: string, until: number): void {
    if (Date.now() > until) return;
    setTimeout(() => {
      this.conversations.release(conversationId, owner).catch(() => this.releaseLater(conversationId, owner, until));
    }, 1000).unref();
  }
}
