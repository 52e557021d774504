import { z } from 'zod';

const positiveInt = () => z.number().int().min(1);

export const BudgetsSchema = z
  .object({
    /**
     * One session of a conversation (a new session starts at zero): once either is used up, the
     * next turn hands over with a note saying so.
     */
    conversation: z
      .object({
        /** Prompt plus completion tokens of every LLM call the session made (rejected answers, action rounds, summaries, query embeddings). */
        tokens: positiveInt().optional(),
        /** Chat completion requests the session made, each rejected answer and action round counted. */
        llmCalls: positiveInt().optional(),
      })
      .strict()
      .refine((c) => c.tokens !== undefined || c.llmCalls !== undefined, 'names no limit: give tokens, llmCalls or both')
      .optional(),
    /** One agent per UTC day: once either is used up, new conversations are handed over at once. */
    daily: z
      .object({
        tokens: positiveInt().optional(),
        /** Estimated from the agents file's `pricing`; an agent whose model is unpriced cannot set this. */
        costUsd: z.number().positive().optional(),
      })
      .strict()
      .refine((d) => d.tokens !== undefined || d.costUsd !== undefined, 'names no limit: give tokens, costUsd or both')
      .optional(),
  })
  .strict();
export type BudgetsConfig = z.infer<typeof BudgetsSchema>;
