import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { safeError } from '../common/safe-error.js';
import { AppConfig } from '../config/app-config.js';
import type { AgentConfig } from '../config/agents.schema.js';
import { InboxClient } from '../inbox/inbox.client.js';
import { InboxAuthError, InboxRequestError } from '../inbox/inbox.errors.js';
import { presenceOf } from '../inbox/presence.schema.js';
import type { PresenceState } from './availability.js';

/** An answer older than this many `cacheFor` is no longer used: unknown, the clock alone decides. */
const USABLE_FOR_CACHE_PERIODS = 4;
/** After a 401/403 (the organisation's app may not call the presence API), ask again only after this. */
export const PRESENCE_DENIED_RETRY_MS = 3_600_000;

interface Entry {
  state: 'someone' | 'nobody' | 'unknown';
  /** When the state was answered (0: never). */
  answeredAt: number;
  /** When a request was last started, answered or not: a failing endpoint is asked once per `cacheFor`. */
  askedAt: number;
  refreshing: boolean;
  deniedUntil: number;
  deniedLogged: boolean;
}

/**
 * Inbox 2.0's user presence, per organisation, for the business-hours policy: a turn reads the
 * cached answer and never waits; a stale or missing one is refreshed in the background, so the first
 * turn (and any turn while the API fails) is decided by the clock alone. See docs/configuration.md.
 */
@Injectable()
export class PresenceService implements OnApplicationBootstrap {
  private readonly logger = new Logger(PresenceService.name);
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly config: AppConfig,
    private readonly inbox: InboxClient,
  ) {}

  /** Asks once at start for every organisation whose agents use presence, so early turns can know. */
  onApplicationBootstrap(): void {
    if (!this.config.runsWorkers) return; // only turns read it
    for (const agent of this.config.agents) this.current(agent);
  }

  /** What is known of the agent's organisation now; `off` for an agent that does not use presence. */
  current(agent: AgentConfig, now = Date.now()): PresenceState {
    const presence = agent.businessHours?.presence;
    if (!presence?.enabled) return 'off';
    const key = organisationKey(agent);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { state: 'unknown', answeredAt: 0, askedAt: 0, refreshing: false, deniedUntil: 0, deniedLogged: false };
      this.entries.set(key, entry);
    }
    if (entry.deniedUntil > now) return 'unknown';
    if (!entry.refreshing && now - entry.answeredAt >= presence.cacheFor && now - entry.askedAt >= presence.cacheFor) {
      void this.refresh(agent, entry, now);
    }
    return entry.answeredAt > 0 && now - entry.answeredAt < presence.cacheFor * USABLE_FOR_CACHE_PERIODS ? entry.state : 'unknown';
  }

  private async refresh(agent: AgentConfig, entry: Entry, now: number): Promise<void> {
    entry.refreshing = true;
    entry.askedAt = now;
    const log = { agentId: agent.id, organizationId: agent.organisation?.organizationId ?? null };
    try {
      const answer = await this.inbox.forAgent(agent).onlineAgents();
      entry.state = presenceOf(answer);
      entry.answeredAt = Date.now();
      entry.deniedLogged = false;
    } catch (err) {
      const denied = err instanceof InboxAuthError || (err instanceof InboxRequestError && (err.status === 401 || err.status === 403));
      if (denied) {
        entry.deniedUntil = Date.now() + PRESENCE_DENIED_RETRY_MS;
        entry.state = 'unknown';
        entry.answeredAt = 0;
        // Once per refusal streak: an organisation whose app lacks the permission would otherwise warn every hour.
        if (!entry.deniedLogged) this.logger.warn({ ...log, err: safeError(err), msg: 'the user-presence API refused this organisation\'s app; business hours use the clock alone (asked again in an hour)' });
        else this.logger.debug({ ...log, msg: 'the user-presence API still refuses this organisation\'s app' });
        entry.deniedLogged = true;
      } else {
        this.logger.debug({ ...log, err: safeError(err), msg: 'user presence unavailable; the cached answer (or the clock alone) decides' });
      }
    } finally {
      entry.refreshing = false;
    }
  }
}

function organisationKey(agent: Pick<AgentConfig, 'organisation'>): string {
  const own = agent.organisation;
  return own ? `${own.apiUrl ?? ''} ${own.organizationId}` : 'default';
}
