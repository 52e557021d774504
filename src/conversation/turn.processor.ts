import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Job, Worker } from 'bullmq';
import { AppConfig } from '../config/app-config.js';
import { JOBS, QUEUES, type TurnJobData } from '../scheduler/queues.js';
import { TurnService } from './turn.service.js';
import { startWorker } from './worker.js';

/** The turns queue's inbound adapter: a job carries a conversation id, the service re-reads Postgres. */
@Injectable()
export class TurnProcessor implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(TurnProcessor.name);
  private worker?: Worker<TurnJobData>;

  constructor(
    private readonly turns: TurnService,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.worker = startWorker(QUEUES.turns, this.config.env, this.config.env.TURN_CONCURRENCY, (job) => this.process(job), this.logger);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.worker?.close();
  }

  async process(job: Job<TurnJobData>): Promise<void> {
    switch (job.name) {
      case JOBS.turn:
        return this.turns.run(job.data.conversationId);
      default:
        throw new Error(`unknown job "${job.name}" on queue ${QUEUES.turns}`);
    }
  }
}
