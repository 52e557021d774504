import { redactUrl } from './redact-url.js';

describe(redactUrl.name, () => {
  it('drops credentials and every query parameter but the harmless ones', () => {
    expect(redactUrl('postgres://user:pw@db:5432/app?password=x&sslmode=require')).toBe('postgres://db:5432/app?sslmode=require');
    expect(redactUrl('https://x.openai.azure.com/openai/v1?api-version=2025-01-01&api-key=SECRET')).toBe('https://x.openai.azure.com/openai/v1?api-version=2025-01-01');
    expect(redactUrl('http://u:hunter2@127.0.0.1:9/v1')).toBe('http://127.0.0.1:9/v1');
  });

  it('shows nothing of a string it cannot parse, which may hold a password anywhere', () => {
    expect(redactUrl('host=127.0.0.1 port=5999 password=KVSECRET')).toBe('(connection string)');
  });
});
