import { z } from 'zod';
import type { TranscriptEntry } from '../agent/decision.js';
import { entryText } from '../agent/prompt.builder.js';
import { LlmClient, addUsage } from '../llm/llm.client.js';
import type { CaseSimulation } from './case.schema.js';
import { parseJsonOrUndefined as safeJson } from '../common/safe-json.js';
import type { Usage } from './types.js';

const ContactTurnSchema = z.object({ message: z.string(), done: z.boolean() }).strict();
export const CONTACT_JSON_SCHEMA = {
  name: 'simulated_contact',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['message', 'done'],
    properties: { message: { type: 'string' }, done: { type: 'boolean' } },
  },
};

/**
 * An LLM that plays the contact of a simulated case: it writes the contact's next message from a
 * goal and a persona, and says when it has what it came for. Its own failures throw: a simulation
 * without a contact measures nothing, so the run is reported as an eval error, not as the agent's.
 */
export class ContactSimulator {
  /** `model`: the contact's model; without one, each case's contact uses its agent's model. */
  constructor(
    private readonly llm: LlmClient,
    readonly model?: string,
  ) {}

  async next(sim: CaseSimulation, language: string | null, transcript: TranscriptEntry[], usage: Usage, model: string): Promise<{ message: string; done: boolean }> {
    const instructions = `You play a customer writing to a company's support chat, to test its virtual agent. Stay in character.
Persona: ${sim.persona}
Your goal: ${sim.goal}
${language ? `Write in this language: ${language}.` : ''}
The user message holds the conversation so far as JSON (you are "contact"). Write only your next chat message: short, as a real customer would.
Set "done" to true when your goal is met, or when you would give up or leave; your message is then your last one (a thanks, a goodbye).
Answer with {"message": "...", "done": true|false}.`;
    const conversation = transcript.map((e) => ({ from: e.direction === 'inbound' ? 'contact' : 'agent', text: entryText(e) }));
    const response = await this.llm.complete({
      model,
      temperature: 0.7,
      maxOutputTokens: 300,
      messages: [
        { role: 'system', content: instructions },
        { role: 'user', content: JSON.stringify({ conversation }) },
      ],
      schema: CONTACT_JSON_SCHEMA,
    });
    addUsage(usage, response.usage);
    const parsed = ContactTurnSchema.safeParse(safeJson(response.content));
    if (!parsed.success || !parsed.data.message.trim()) throw new Error(`the simulated contact gave no message: ${(response.content ?? response.refusal ?? '').slice(0, 200)}`);
    return { message: parsed.data.message.trim(), done: parsed.data.done };
  }
}
