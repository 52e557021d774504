import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { JOBS, QUEUES, type TurnJobData } from '../scheduler/queues.js';
import { TurnService } from './turn.service.js';
import { QueueProcessor } from './worker.js';

@Injectable()
export class TurnProcessor extends QueueProcessor<TurnJobData> {
  constructor(
    private readonly turns: TurnService,
    config: AppConfig,
  ) {
    super(QUEUES.turns, JOBS.turn, config, (c) => c.env.TURN_CONCURRENCY);
  }

  protected handle(data: TurnJobData): Promise<void> {
    return this.turns.run(data.conversationId);
  }
}
