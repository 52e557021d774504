import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { JOBS, QUEUES, turnJobOptions, type TurnJobData } from './queues.js';

/** Asks for a turn of a conversation; a port so that intake never depends on Redis directly. */
export abstract class TurnQueue {
  abstract requestTurn(conversationId: string, delayMs: number): Promise<void>;
}

@Injectable()
export class BullTurnQueue extends TurnQueue {
  constructor(@InjectQueue(QUEUES.turns) private readonly queue: Queue<TurnJobData>) {
    super();
  }

  async requestTurn(conversationId: string, delayMs: number): Promise<void> {
    await this.queue.add(JOBS.turn, { conversationId }, turnJobOptions(conversationId, delayMs));
  }
}
