import { BullModule } from '@nestjs/bullmq';
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoggerModule } from 'nestjs-pino';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { DecisionEngine } from './agent/decision.engine.js';
import { DecisionRepository } from './agent/decision.repository.js';
import { KnowledgeRepository } from './knowledge/knowledge.repository.js';
import { KnowledgeService } from './knowledge/knowledge.service.js';
import { AgentsReloader } from './config/agents-reloader.js';
import { ActionCallRepository } from './actions/action-calls.repository.js';
import { ActionsService } from './actions/actions.service.js';
import { AllExceptionsFilter } from './common/all-exceptions.filter.js';
import { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { ConversationRepository } from './conversation/conversation.repository.js';
import { dataSourceOptions } from './database/data-source.options.js';
import { runMigrationsLocked } from './database/migrate.js';
import { HealthController } from './health/health.controller.js';
import { InboxClients } from './inbox/inbox-clients.js';
import { InboxClient } from './inbox/inbox.client.js';
import { LlmClient } from './llm/llm.client.js';
import { BudgetsRepository } from './policy/budgets.repository.js';
import { BudgetsService } from './policy/budgets.service.js';
import { PresenceService } from './policy/presence.service.js';
import { MetricsController } from './metrics/metrics.controller.js';
import { MetricsService } from './metrics/metrics.service.js';
import { OpenAiLlmClient } from './llm/openai-llm.client.js';
import { ActionRepository } from './conversation/action.repository.js';
import { ActionRunner } from './conversation/action.runner.js';
import { IntakeRepository } from './conversation/intake.repository.js';
import { IntakeService } from './conversation/intake.service.js';
import { LeaseService } from './conversation/lease.service.js';
import { SweepService } from './conversation/sweep.service.js';
import { RetentionService } from './retention/retention.service.js';
import { TimerProcessor } from './conversation/timer.processor.js';
import { TimerService } from './conversation/timer.service.js';
import { TurnProcessor } from './conversation/turn.processor.js';
import { TurnService } from './conversation/turn.service.js';
import { WakeUpService } from './conversation/wake-up.service.js';
import { QUEUES } from './scheduler/queues.js';
import { BullTimerQueue, TimerQueue } from './scheduler/timer-queue.js';
import { BullTurnQueue, TurnQueue } from './scheduler/turn-queue.js';
import { ProducerQueue, producerQueueOptions } from './scheduler/redis-connection.js';
import { WebhookErrorsFilter } from './webhook/webhook-errors.filter.js';
import { WebhookController } from './webhook/webhook.controller.js';
import { WebhookService } from './webhook/webhook.service.js';
import { ConsoleDatabase, ConsoleQueries } from './console/console.queries.js';
import { ConsoleServer } from './console/console.server.js';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    const { env } = config;
    // Every queue this app registers is a producer: it fails fast while Redis is down (the sweep
    // re-arms from Postgres). Workers get their own connection (conversation/worker.ts).
    BullModule.queueClass = ProducerQueue;
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot({
          pinoHttp: {
            level: env.LOG_LEVEL,
            autoLogging: { ignore: (req) => /^\/(health|metrics)/.test(req.url ?? '') },
            redact: ['req.headers.authorization', 'req.headers["x-hootsuite-signature"]', 'req.headers.cookie'],
            serializers: {
              req: (req: { method: string; url: string; id: unknown }) => ({ id: req.id, method: req.method, url: req.url }),
              res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
            },
          },
        }),
        TypeOrmModule.forRootAsync({
          useFactory: () => ({ ...dataSourceOptions(env.DATABASE_URL, env.DATABASE_POOL_SIZE, env.DATABASE_QUERY_TIMEOUT), retryAttempts: 5, retryDelay: 2000 }),
          dataSourceFactory: async (options?: DataSourceOptions) => {
            const dataSource = await new DataSource(options!).initialize();
            if (env.DATABASE_MIGRATE) await runMigrationsLocked(dataSource);
            return dataSource;
          },
        }),
        BullModule.forRoot(producerQueueOptions(env)),
        BullModule.registerQueue({ name: QUEUES.turns }, { name: QUEUES.timers }),
      ],
      controllers: [HealthController, MetricsController, ...(config.runsWeb ? [WebhookController] : [])],
      providers: [
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        { provide: APP_FILTER, useClass: WebhookErrorsFilter },
        MetricsService,
        AgentsReloader,
        IntakeRepository,
        IntakeService,
        WakeUpService,
        LeaseService,
        WebhookService,
        { provide: TurnQueue, useClass: BullTurnQueue },
        { provide: TimerQueue, useClass: BullTimerQueue },
        ConversationRepository,
        ActionRepository,
        ActionRunner,
        TurnService,
        TimerService,
        // ROLE=web runs intake only; ROLE=worker runs the queues and the sweep only.
        ...(config.runsWorkers ? [TurnProcessor, TimerProcessor, SweepService, RetentionService] : []),
        { provide: InboxClient, useFactory: () => new InboxClients(env) },
        { provide: LlmClient, useFactory: () => new OpenAiLlmClient(env) },
        DecisionEngine,
        DecisionRepository,
        KnowledgeRepository,
        KnowledgeService,
        ActionCallRepository,
        ActionsService,
        BudgetsRepository,
        BudgetsService,
        PresenceService,
        // The operator console (docs/console.md): createApp mounts its router at /console.
        ...(config.runsConsole ? [ConsoleDatabase, ConsoleQueries, ConsoleServer] : []),
      ],
    };
  }
}
