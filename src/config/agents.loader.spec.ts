import { ConfigError } from './config.error.js';
import { parseAgents } from './agents.loader.js';
import { readFileSync } from 'node:fs';

const SECRET = 'a1b2c3d4';
const env = { ACME_SECRET: SECRET };

const agentYaml = (extra = '', timeouts = '') => `agents:
  - id: acme
    name: Acme
    mode: inception
    secretEnv: ACME_SECRET
    llm: { model: m }
    prompt: Be kind.
    topics: [Billing, Shipping]
${extra}${timeouts ? `    timeouts:\n${timeouts}` : ''}`;

function problemsOf(source: string, e: Record<string, string> = env): string[] {
  try {
    parseAgents(source, e, 'agents.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseAgents', () => {
  it('accepts the example file shipped with the project', () => {
    const sut = parseAgents(readFileSync('agents.example.yaml', 'utf8'), {
      ACME_TRIAGE_SECRET: SECRET,
      ACME_HELPER_SECRET: SECRET,
      SHOP_API_TOKEN: 'token',
    });
    expect(sut.map((a) => a.id)).toEqual(['acme-triage', 'acme-helper']);
    expect(sut[0].actions.map((a) => a.name)).toEqual(['order_status']);
    expect(sut[0].actionEnv).toEqual({ SHOP_API_TOKEN: 'token' });
    expect(sut[0].timeouts).toMatchObject({ turnDebounce: 1000, virtualAgent: 300_000, contactNudge: 600_000 });
    expect(sut[1].messages.handover).toMatch(/back to the agent/);
  });

  it('refuses an action whose header secret is not in the environment, naming the line', () => {
    const problems = problemsOf(readFileSync('agents.example.yaml', 'utf8'), { ACME_TRIAGE_SECRET: SECRET, ACME_HELPER_SECRET: SECRET });
    expect(problems).toEqual([expect.stringMatching(/^agents\.yaml:\d+: agent "acme-triage" action "order_status": environment variable SHOP_API_TOKEN is not set$/)]);
  });

  const action = (o: { method?: string; requires?: string }) => `    contactAttributes: { order_number: The order number }
    actions:
      - name: cancel
        description: Cancel an order.
        parameters: { type: object, required: [n], properties: { n: { type: string } } }
        request: { method: ${o.method ?? 'GET'}, url: "https://shop.example/orders/{n}/cancel" }
        response: { fields: [status] }
        requires: [${o.requires ?? 'order_number'}]
`;

  it('refuses a method with side effects unless the action says so', () => {
    expect(problemsOf(agentYaml(action({ method: 'POST' }))).join('\n')).toMatch(/actions.*request.*method/);
  });

  it('refuses an action that requires an attribute the agent does not collect', () => {
    expect(problemsOf(agentYaml(action({ requires: 'loyalty_id' }))).join('\n')).toMatch(/"loyalty_id" is not one of the agent's contactAttributes/);
  });

  it('fills defaults and decodes the hex secret', () => {
    const [sut] = parseAgents(agentYaml(), env);
    expect(sut.secret).toEqual(Buffer.from(SECRET, 'hex'));
    expect(sut.limits.minConfidence).toBe(0.6);
    expect(sut.timeouts.virtualAgent).toBe(300_000);
    expect(sut.messages.handover).toMatch(/colleague/);
  });

  it('names the line, agent and field of a timeout over the platform maximum', () => {
    const problems = problemsOf(agentYaml('', '      virtualAgent: 2h\n'));
    expect(problems).toEqual([expect.stringMatching(/^agents\.yaml:10: agent "acme" field timeouts\.virtualAgent: .*1h/)]);
  });

  it('refuses a contact timeout over 23h', () => {
    expect(problemsOf(agentYaml('', '      contact: 24h\n'))[0]).toMatch(/timeouts\.contact: .*23h/);
  });

  it('refuses a virtualAgentMargin under 1s: the handover call needs time before the platform’s deadline', () => {
    expect(problemsOf(agentYaml('', '      virtualAgentMargin: 500ms\n'))).toEqual([
      expect.stringMatching(/^agents\.yaml:10: agent "acme" field timeouts\.virtualAgentMargin: must be at least 1s/),
    ]);
    expect(parseAgents(agentYaml('', '      virtualAgentMargin: 1s\n'), env)[0].timeouts.virtualAgentMargin).toBe(1000);
  });

  it('refuses a firstQuestion under 3s: a turn keeps 2s of it, which would leave the LLM no time', () => {
    expect(problemsOf(agentYaml('', '      firstQuestion: 2s\n'))).toEqual([
      expect.stringMatching(/^agents\.yaml:10: agent "acme" field timeouts\.firstQuestion: must be at least 3s/),
    ]);
    expect(parseAgents(agentYaml('', '      firstQuestion: 3s\n'), env)[0].timeouts.firstQuestion).toBe(3000);
  });

  it('accepts a turnDebounce of 0s', () => {
    expect(parseAgents(agentYaml('', '      turnDebounce: 0s\n'), env)[0].timeouts.turnDebounce).toBe(0);
  });

  it('refuses a duration without a unit', () => {
    expect(problemsOf(agentYaml('', '      contact: 10\n'))[0]).toMatch(/timeouts\.contact: .*not a duration/);
  });

  it('refuses duplicate topics, whatever their case', () => {
    const source = agentYaml().replace('[Billing, Shipping]', '[Billing, billing]');
    expect(problemsOf(source)).toEqual([expect.stringMatching(/:8: agent "acme" field topics\.1: duplicate topic/)]);
  });

  it('refuses a duplicate agent id', () => {
    const body = agentYaml().split('\n').slice(1).join('\n');
    expect(problemsOf(`agents:\n${body}\n${body}`).join()).toMatch(/duplicate agent id "acme"/);
  });

  it('refuses a missing secret env var and a secret that is not hex', () => {
    expect(problemsOf(agentYaml(), {})[0]).toMatch(/:5: agent "acme" field secretEnv: .*ACME_SECRET is not set/);
    expect(problemsOf(agentYaml(), { ACME_SECRET: 'xyz' })[0]).toMatch(/not a hex string/);
  });

  it('names a missing required field and an unknown one', () => {
    const problems = problemsOf(agentYaml('    colour: blue\n').replace('    prompt: Be kind.\n', ''));
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/agent "acme" field prompt: is required/),
        expect.stringMatching(/agent "acme": unknown field\(s\) colour/),
      ]),
    );
  });

  it('refuses invalid attribute keys', () => {
    const problems = problemsOf(agentYaml('    contactAttributes:\n      "order-no": The order\n'));
    expect(problems[0]).toMatch(/contactAttributes.*\^\[a-zA-Z0-9_\]\+\$/);
  });

  it('reports YAML syntax errors with their line', () => {
    expect(problemsOf('agents:\n  - id: [unclosed\n')[0]).toMatch(/^agents\.yaml:\d+: YAML:/);
  });
  it("resolves an agent's own organisation and LLM endpoint from the environment, naming each missing variable", () => {
    const own = agentYaml('    inbox: { clientIdEnv: ORG_ID, clientSecretEnv: ORG_SECRET, organizationIdEnv: ORG }\n').replace('llm: { model: m }', 'llm: { model: m, baseUrlEnv: LLM_URL, apiKeyEnv: LLM_KEY }');
    const [agent] = parseAgents(own, { ...env, ORG_ID: 'app', ORG_SECRET: 's3cret', ORG: 'org-1', LLM_URL: 'http://llm.internal/v1', LLM_KEY: 'k' });
    expect(agent.organisation).toEqual({ clientId: 'app', clientSecret: 's3cret', organizationId: 'org-1' });
    expect(agent.llmEndpoint).toEqual({ baseUrl: 'http://llm.internal/v1', apiKey: 'k' });
    const problems = problemsOf(own, { ...env, ORG_ID: 'app', LLM_URL: 'not a url' });
    expect(problems).toEqual([
      expect.stringMatching(/agents\.yaml:\d+: agent "acme" field inbox\.clientSecretEnv: environment variable ORG_SECRET is not set/),
      expect.stringMatching(/field inbox\.organizationIdEnv: environment variable ORG is not set/),
      expect.stringMatching(/field llm\.baseUrlEnv: environment variable LLM_URL is not an http\(s\) URL/),
      expect.stringMatching(/field llm\.apiKeyEnv: environment variable LLM_KEY is not set/),
    ]);
    // An endpoint of its own without a key of its own would get OPENAI_API_KEY: refused.
    const keyless = agentYaml().replace('llm: { model: m }', 'llm: { model: m, baseUrlEnv: LLM_URL }');
    expect(problemsOf(keyless, { ...env, LLM_URL: 'http://llm.internal/v1' })).toEqual([expect.stringMatching(/field llm\.baseUrlEnv: name llm\.apiKeyEnv too/)]);
    // Named by neither: the INBOX_* and OPENAI_* defaults.
    const [plain] = parseAgents(agentYaml(), env);
    expect(plain.organisation).toBeUndefined();
    expect(plain.llmEndpoint).toBeUndefined();
  });
});
