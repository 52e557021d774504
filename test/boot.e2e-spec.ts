import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_AGENTS, testEnv } from './support/bridge.js';

const MAIN = 'dist/src/main.js';

/** Runs the built service the way an operator does, and returns how it died. */
function boot(env: Record<string, string>, agents = TEST_AGENTS) {
  const dir = mkdtempSync(join(tmpdir(), 'iva-boot-'));
  writeFileSync(join(dir, 'agents.yaml'), agents);
  const result = spawnSync(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, AGENTS_FILE: join(dir, 'agents.yaml'), ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stderr: result.stderr };
}

describe('boot', () => {
  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: the test command builds it first (npm test)`);
  });

  it('exits non-zero naming the variable when the environment is wrong', () => {
    const { INBOX_CLIENT_ID: _, ...env } = testEnv({ WEBHOOK_MAX_AGE: 'soon' });
    const sut = boot(env);
    expect(sut.status).toBe(78);
    expect(sut.stderr).toMatch(/environment variable INBOX_CLIENT_ID is required but not set/);
    expect(sut.stderr).toMatch(/environment variable WEBHOOK_MAX_AGE "soon" is not a duration/);
  });

  it('exits non-zero naming the line, agent and field when the agents file is wrong', () => {
    const agents = TEST_AGENTS.replace('virtualAgent: 5m', 'virtualAgent: 2h');
    const sut = boot(testEnv(), agents);
    expect(sut.status).toBe(78);
    expect(sut.stderr).toMatch(/agents\.yaml:\d+: agent "acme" field timeouts\.virtualAgent: is over the platform maximum of 1h/);
  });

  it('exits non-zero when an agent’s secret is not in the environment', () => {
    const { HELPER_SECRET: _, ...env } = testEnv();
    const sut = boot(env);
    expect(sut.status).toBe(78);
    expect(sut.stderr).toMatch(/agent "helper" field secretEnv: environment variable HELPER_SECRET is not set/);
  });
});
