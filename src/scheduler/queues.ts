import type { JobsOptions } from 'bullmq';

/** Every queue and job name of the bridge, in one place. */
export const QUEUES = { turns: 'turns', timers: 'timers' } as const;
export const JOBS = { turn: 'turn' } as const;

export interface TurnJobData {
  conversationId: string;
}

/**
 * One pending turn per conversation: a message that lands while a turn is running gets the next
 * turn (`keepLastIfActive`), never a second concurrent one. The id carries no `:` (BullMQ forbids it).
 */
export function turnJobOptions(conversationId: string, delayMs: number): JobsOptions {
  return {
    deduplication: { id: `turn-${conversationId}`, keepLastIfActive: true },
    delay: Math.max(0, delayMs),
    attempts: 3,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 5000 },
  };
}
