import { ConfigError } from './config.error.js';
import { parseEnv } from './env.schema.js';

const required = { INBOX_CLIENT_ID: 'id', INBOX_CLIENT_SECRET: 's', INBOX_ORGANIZATION_ID: 'o', OPENAI_API_KEY: 'k' };

describe(parseEnv.name, () => {
  it('applies the documented defaults', () => {
    const sut = parseEnv(required);
    expect(sut).toMatchObject({
      PORT: 3000,
      ROLE: 'all',
      INBOX_API_URL: 'https://platform.hootsuite.com',
      WEBHOOK_MAX_AGE: 300_000,
      WEBHOOK_BODY_LIMIT: 1024 * 1024,
      LOG_LEVEL: 'info',
      TURN_LEASE: 60_000,
      WORKER_LOCK_DURATION: 30_000,
      SCHEDULER_SWEEP_INTERVAL: 60_000,
    });
  });

  it('names every missing or wrong variable', () => {
    try {
      parseEnv({ ...required, INBOX_CLIENT_ID: '', PORT: 'abc', WEBHOOK_MAX_AGE: '5 minutes' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as Error).message;
      expect(message).toMatch(/INBOX_CLIENT_ID is required but not set/);
      expect(message).toMatch(/PORT/);
      expect(message).toMatch(/WEBHOOK_MAX_AGE "5 minutes" is not a duration/);
    }
  });

  it.each(['TURN_LEASE', 'WORKER_LOCK_DURATION', 'SCHEDULER_SWEEP_INTERVAL'])('refuses a %s under 1s, which would break at run time', (name) => {
    expect(() => parseEnv({ ...required, [name]: '500ms' })).toThrow(`environment variable ${name} must be at least 1s`);
    expect(() => parseEnv({ ...required, [name]: '0s' })).toThrow(`environment variable ${name} must be at least 1s`);
    expect(parseEnv({ ...required, [name]: '1s' })[name as 'TURN_LEASE']).toBe(1000);
  });

  it('reports a floored duration that is not a duration once, as not a duration', () => {
    try {
      parseEnv({ ...required, TURN_LEASE: 'soon' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([expect.stringMatching(/^environment variable TURN_LEASE "soon" is not a duration/)]);
    }
  });
});

describe('console settings', () => {
  it('leaves the console off by default, with an 8h session and cookies without Secure', () => {
    const sut = parseEnv(required);
    expect(sut.CONSOLE_PASSWORD).toBeUndefined();
    expect(sut).toMatchObject({ CONSOLE_SESSION_TTL: 8 * 3_600_000, CONSOLE_SECURE_COOKIE: false, EVAL_RESULTS_DIR: 'eval-results' });
  });

  it('refuses a short password without quoting it', () => {
    try {
      parseEnv({ ...required, CONSOLE_PASSWORD: 'hunter2' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as ConfigError).problems).toEqual(['environment variable CONSOLE_PASSWORD must be at least 12 characters']);
    }
  });

  it('reads the session settings', () => {
    const sut = parseEnv({ ...required, CONSOLE_PASSWORD: 'correct horse battery', CONSOLE_SESSION_TTL: '30m', CONSOLE_SECURE_COOKIE: 'true' });
    expect(sut).toMatchObject({ CONSOLE_PASSWORD: 'correct horse battery', CONSOLE_SESSION_TTL: 1_800_000, CONSOLE_SECURE_COOKIE: true });
    expect(() => parseEnv({ ...required, CONSOLE_SESSION_SECRET: 'short' })).toThrow('CONSOLE_SESSION_SECRET must be at least 32 characters');
  });
});
