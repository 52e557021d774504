import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { QUEUES } from '../scheduler/queues.js';

/** The bridge's Prometheus metrics, one registry per process (so tests can run several apps). */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly webhookEvents = new Counter({
    name: 'iva_webhook_events_total',
    help: 'Accepted webhook events by agent, type and outcome (stored, duplicate, ignored)',
    labelNames: ['agent', 'type', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly retentionDeleted = new Counter({
    name: 'iva_retention_deleted_total',
    help: 'Rows retention deleted, by table (conversations take their messages, decisions and calls with them)',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });

  readonly decisions = new Counter({
    name: 'iva_decisions_total',
    help: 'Decisions by agent, action, and whether the LLM failed or a guardrail forced a handover',
    labelNames: ['agent', 'action', 'cause'] as const,
    registers: [this.registry],
  });

  readonly llmLatency = new Histogram({
    name: 'iva_llm_latency_seconds',
    help: 'Time the LLM took for one decision, retries included',
    labelNames: ['agent'] as const,
    buckets: [0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
    registers: [this.registry],
  });

  readonly inboxActions = new Counter({
    name: 'iva_inbox_actions_total',
    help: 'Inbox 2.0 calls by kind and result (done, lost, failed, retry)',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });

  readonly timerActions = new Counter({
    name: 'iva_timer_actions_total',
    help: 'What the bridge sent on its own when a deadline passed (greeting, nudge, vaTimeout, contactTimeout)',
    labelNames: ['agent', 'what'] as const,
    registers: [this.registry],
  });

  readonly actionCalls = new Counter({
    name: 'iva_action_calls_total',
    help: 'Agent action calls by agent, action and result (ok, http_error, timeout, failed, too_large, invalid_response, refused, reused, unknown)',
    labelNames: ['agent', 'action', 'result'] as const,
    registers: [this.registry],
  });

  readonly actionLatency = new Histogram({
    name: 'iva_action_latency_seconds',
    help: 'Time one agent action call took, by agent and action',
    labelNames: ['agent', 'action'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30],
    registers: [this.registry],
  });

  readonly agentsFileReloads = new Counter({
    name: 'iva_agents_file_reloads_total',
    help: 'Reloads of the agents file (SIGHUP or a change of the file) by result: applied, unchanged, invalid',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly agentsFileValid = new Gauge({
    name: 'iva_agents_file_valid',
    help: '1 when the agents file last read was valid; 0 when the last reload found it invalid and the agents loaded before still serve',
    registers: [this.registry],
  });

  readonly usageLimitHandovers = new Counter({
    name: 'iva_usage_limit_handovers_total',
    help: 'Turns handed over without the LLM because a budget was spent, by agent and budget (conversation, daily)',
    labelNames: ['agent', 'budget'] as const,
    registers: [this.registry],
  });

  /** Set by BudgetsService: each agent's daily budgets and whether each is spent today, from PostgreSQL. */
  budgetsProbe?: () => Promise<Array<{ agent: string; budget: string; spent: boolean }>>;

  readonly agentBudgetSpent = new Gauge({
    name: 'iva_agent_budget_spent',
    help: "1 when the agent's daily budget (tokens or costUsd) is spent today (UTC): its new conversations are handed over at once",
    labelNames: ['agent', 'budget'] as const,
    registers: [this.registry],
    // Read at scrape time, so every replica reports the shared count; PostgreSQL away keeps the last values.
    collect: async () => {
      const budgets = await this.budgetsProbe?.().catch(() => undefined);
      if (!budgets) return;
      this.agentBudgetSpent.reset();
      for (const b of budgets) this.agentBudgetSpent.set({ agent: b.agent, budget: b.budget }, b.spent ? 1 : 0);
    },
  });

  constructor(
    @InjectQueue(QUEUES.turns) turns: Queue,
    @InjectQueue(QUEUES.timers) timers: Queue,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'iva_' });
    new Gauge({
      name: 'iva_queue_jobs',
      help: 'Jobs in each queue by state, read at scrape time',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        for (const queue of [turns, timers]) {
          const counts = await queue.getJobCounts('waiting', 'delayed', 'active', 'failed');
          for (const [state, n] of Object.entries(counts)) this.set({ queue: queue.name, state }, n);
        }
      },
    });
  }
}
