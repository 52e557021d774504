import { isContactDetails } from '../../src/agent/prompt.builder.js';
import type { ChatRequest } from '../fakes/fake-llm.js';

/** Agents with second-scale timeouts, so that nudges, closes and deadlines happen within a test. */
export const ORCHESTRATION_AGENTS = `
agents:
  - id: acme
    name: Acme Support
    mode: inception
    secretEnv: TRIAGE_SECRET
    llm: { model: test-model }
    prompt: You are Acme's assistant.
    topics: [Billing, Shipping, Returns]
    contactAttributes:
      order_number: The order number, like A-12345
    timeouts:
      turnDebounce: 300ms
      virtualAgent: 4s
      virtualAgentMargin: 1s
      contactNudge: 1500ms
      contact: 3s
      onContactTimeout: resolve
      timeoutTopic: Timeout
    messages:
      nudge: Still there?
      contactTimeout: Closing this conversation now. Bye!
      error: Sorry, I am stuck. A colleague will take over.
  - id: helper
    name: Acme Helper
    mode: delegation
    secretEnv: HELPER_SECRET
    handoffRule: previous-agent
    llm: { model: helper-model }
    prompt: Collect the order number, then hand back.
    timeouts: { turnDebounce: 0s, virtualAgent: 5m, firstQuestion: 3s, contact: 1h }
    messages:
      greeting: Hello! What is your order number?
`;

/** The text of the newest contact message in an LLM request (the contact-details message is not one). */
export const lastContactText = (req: ChatRequest) =>
  [...req.messages].reverse().find((m) => m.role === 'user' && !isContactDetails(m))?.content ?? '';
