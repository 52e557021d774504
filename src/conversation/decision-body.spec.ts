import { parseAgents } from '../config/agents.loader.js';
import { cannedCall } from './decision-body.js';

const [agent] = parseAgents(
  `agents:
  - id: acme
    name: Acme
    mode: inception
    secretEnv: S
    llm: { model: m }
    prompt: Be kind.
    timeouts: { timeoutTopic: Timeout }
`,
  { S: 'abcd' },
);
const note = (why: string) => `note: ${why}`;

describe('cannedCall', () => {
  it('names why each call the bridge makes on its own ends the session, for its outcome', () => {
    expect(cannedCall(agent, { what: 'vaTimeout', complete: 'HANDOVER' }, note).endReason).toBe('va_deadline');
    expect(cannedCall(agent, { what: 'contactTimeout', complete: 'HANDOVER' }, note).endReason).toBe('contact_timeout');
    expect(cannedCall(agent, { what: 'contactTimeout', complete: 'RESOLVED' }, note).endReason).toBe('assumed');
    expect(cannedCall(agent, { what: 'fallback', complete: 'HANDOVER' }, note, 'refused').endReason).toBe('tool_failure');
    expect(cannedCall(agent, { what: 'greeting' }, note).endReason).toBeUndefined();
    expect(cannedCall(agent, { what: 'nudge' }, note).endReason).toBeUndefined();
  });
});
