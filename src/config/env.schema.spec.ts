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
});
