import { z } from 'zod';

const positiveInt = () => z.number().int().min(1);

export const BudgetsSchema = z
  .object({
    /** One session of a conversation: past either, it is handed over with a note saying so. */
    conversation: z.object({ tokens: positiveInt().optional(), llmCalls: positiveInt().optional() }).strict().optional(),
    /** One agent per UTC day: past either, new conversations are handed over at once. */
    daily: z
      .object({
        tokens: positiveInt().optional(),
        /** Estimated from the agents file's `pricing`; an agent whose model is unpriced cannot set this. */
        costUsd: z.number().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type BudgetsConfig = z.infer<typeof BudgetsSchema>;
