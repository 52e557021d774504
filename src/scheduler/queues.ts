import type { JobsOptions } from 'bullmq';

/** Every queue and job name of the bridge, in one place. */
export const QUEUES = { turns: 'turns', timers: 'timers' } as const;
export const JOBS = { turn: 'turn', timer: 'timer' } as const;

export interface TurnJobData {
  conversationId: string;
}

export interface TimerJobData {
  conversationId: string;
  /** The deadline this job was armed for (epoch ms); absent in jobs armed by older versions. */
  dueAt?: number;
}

/**
 * Retries come quickly and often, not exponentially: a job fails mostly while PostgreSQL is away,
 * and a deadline must fire as soon as it is back. 20 attempts 2 s apart ride out a 40 s outage;
 * past that, the scheduler's sweep retries a failed timer job and requests turns again.
 */
const RETRY = { attempts: 20, backoff: { type: 'fixed', delay: 2000 } } as const;

/**
 * One pending turn per conversation: a message that lands while a turn is running gets the next
 * turn (`keepLastIfActive`), never a second concurrent one. The id carries no `:` (BullMQ forbids it).
 */
export function turnJobOptions(conversationId: string, delayMs: number): JobsOptions {
  return {
    deduplication: { id: `turn-${conversationId}`, keepLastIfActive: true },
    delay: Math.max(0, delayMs),
    ...RETRY,
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 5000 },
  };
}

export const timerJobId = (conversationId: string, dueAt: Date) => `timer-${conversationId}-${dueAt.getTime()}`;

/**
 * One job per (conversation, deadline): arming the same deadline twice (the sweep re-arming after a
 * Redis loss) is a no-op, and a job for a deadline that moved fires, finds nothing due, and re-arms.
 * `now` is the database's clock, the one deadlines are on; `again` gives a job armed from inside the
 * job for the same deadline an id of its own (BullMQ ignores an id that is still active).
 */
export function timerJobOptions(conversationId: string, dueAt: Date, now: Date = new Date(), again?: string): JobsOptions {
  return {
    jobId: again ? `${timerJobId(conversationId, dueAt)}-${again}` : timerJobId(conversationId, dueAt),
    delay: Math.max(0, dueAt.getTime() - now.getTime()),
    ...RETRY,
    removeOnComplete: true,
    removeOnFail: { count: 5000 },
  };
}
