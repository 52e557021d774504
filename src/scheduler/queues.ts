import type { JobsOptions } from 'bullmq';

/** Every queue and job name of the bridge, in one place. */
export const QUEUES = { turns: 'turns', timers: 'timers' } as const;
export const JOBS = { turn: 'turn', timer: 'timer' } as const;

export interface TurnJobData {
  conversationId: string;
}

export interface TimerJobData {
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

/**
 * One job per (conversation, deadline): arming the same deadline twice (the sweep re-arming after a
 * Redis loss) is a no-op, and a job for a deadline that moved fires, finds nothing due, and re-arms.
 */
export function timerJobOptions(conversationId: string, dueAt: Date): JobsOptions {
  return {
    jobId: `timer-${conversationId}-${dueAt.getTime()}`,
    delay: Math.max(0, dueAt.getTime() - Date.now()),
    attempts: 5,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: true,
    removeOnFail: { count: 5000 },
  };
}
