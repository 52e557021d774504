import { z } from 'zod';

const envName = () => z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

/** An agent's own Hootsuite organisation; the global INBOX_* variables when absent. */
export const AgentInboxSchema = z
  .object({
    clientIdEnv: envName(),
    clientSecretEnv: envName(),
    organizationIdEnv: envName(),
    apiUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
  })
  .strict();
export type AgentInboxConfig = z.infer<typeof AgentInboxSchema>;

/** The resolved credentials of one organisation, read from the environment at load. */
export interface InboxOrganisation {
  /** INBOX_API_URL when the agent names none. */
  apiUrl?: string;
  clientId: string;
  clientSecret: string;
  organizationId: string;
}

/** The resolved endpoint of an agent's own LLM; the global OPENAI_* variables when absent. */
export interface LlmEndpoint {
  /** OPENAI_BASE_URL when the agent names only a key. */
  baseUrl?: string;
  /** OPENAI_API_KEY when the agent names only an endpoint. */
  apiKey?: string;
}
