import { z } from 'zod';

/**
 * `GET /inbox/v1/user-presence/online-agents`, as Hootsuite's "Inbox 2.0 API Reference" (User
 * Presence API, OpenAPI `OnlineAgentsResponse`) describes it:
 * `{ "agents": [ { "id", "userPresence": "AVAILABLE" | "AWAY", "awayStateId"?, "statusChangedAt" } ] }`.
 * Read loosely: unknown fields pass, and a presence value other than the two is kept as it came,
 * so that the caller can treat it as unknown rather than as "away".
 */
export const OnlineAgentsSchema = z.looseObject({
  agents: z.array(
    z.looseObject({
      id: z.string(),
      userPresence: z.string(),
      awayStateId: z.string().nullish(),
      statusChangedAt: z.string().nullish(),
    }),
  ),
});
export type OnlineAgents = z.infer<typeof OnlineAgentsSchema>;

/** Someone can take a conversation, nobody can, or the answer does not say (an unknown presence value). */
export function presenceOf(answer: OnlineAgents): 'someone' | 'nobody' | 'unknown' {
  if (answer.agents.some((a) => a.userPresence === 'AVAILABLE')) return 'someone';
  if (answer.agents.every((a) => a.userPresence === 'AWAY')) return 'nobody';
  return 'unknown';
}
