import pg from 'pg';
import pino from 'pino';
import { QueryFailedError } from 'typeorm';
import { runInNewContext } from 'node:vm';
import { safeError } from './safe-error.js';

const SECRET = 'my card is 4111 1111 1111 1111';

/** What Postgres answers to a NUL in a jsonb parameter, with the contact's text where it quotes it. */
function jsonbRefusal(): pg.DatabaseError {
  const err = new pg.DatabaseError(`unsupported Unicode escape sequence near "${SECRET}"`, 200, 'error');
  Object.assign(err, {
    severity: 'ERROR',
    code: '22P05',
    detail: `\\u0000 cannot be converted to text. ${SECRET}`,
    where: `JSON data, line 1: {"text":"${SECRET}`,
    hint: SECRET,
    internalQuery: SECRET,
    table: 'webhook_events',
    column: 'payload',
    routine: 'json_errsave_error',
  });
  return err;
}

function queryFailed(): QueryFailedError {
  return new QueryFailedError(
    'INSERT INTO webhook_events (agent_id, payload) VALUES ($1, $2)',
    ['agent-1', JSON.stringify({ text: SECRET })],
    jsonbRefusal(),
  );
}

describe(safeError.name, () => {
  it('keeps the codes of a failed query and nothing it quoted', () => {
    const err = queryFailed();
    // The reason this exists: pino's own serializer would log the secret.
    expect(JSON.stringify(pino.stdSerializers.err(err))).toContain(SECRET);

    const sut = safeError(err);

    expect(JSON.stringify(sut)).not.toContain(SECRET);
    expect(sut).toMatchObject({
      type: 'database',
      name: 'QueryFailedError',
      code: '22P05',
      table: 'webhook_events',
      column: 'payload',
      routine: 'json_errsave_error',
    });
    for (const key of ['message', 'detail', 'where', 'hint', 'query', 'parameters', 'driverError']) {
      expect(sut).not.toHaveProperty(key);
    }
  });

  it('keeps the codes of a bare pg error and nothing it quoted', () => {
    const err = Object.assign(jsonbRefusal(), { code: '23505', constraint: 'webhook_events_agent_id_idempotency_key_key' });

    const sut = safeError(err);

    expect(JSON.stringify(sut)).not.toContain(SECRET);
    expect(sut).toMatchObject({ type: 'database', code: '23505', constraint: 'webhook_events_agent_id_idempotency_key_key' });
  });

  it('summarizes a database error found as the cause of another', () => {
    const err = new Error('storing the event failed', { cause: queryFailed() });

    const sut = safeError(err);

    expect(JSON.stringify(sut)).not.toContain(SECRET);
    expect(sut).toMatchObject({ message: 'storing the event failed', cause: { type: 'database', code: '22P05' } });
  });

  it('clips the message of any other error and keeps the stack frames without it', () => {
    const err = new TypeError(`${'x'.repeat(300)} ${SECRET}\n    at ${SECRET}`);

    const sut = safeError(err);

    expect(JSON.stringify(sut)).not.toContain(SECRET);
    expect(sut.name).toBe('TypeError');
    expect(sut.message).toBe(`${'x'.repeat(300)}…`);
    const frames = String(sut.stack).split('\n');
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.length).toBeLessThanOrEqual(8);
    expect(frames.every((line) => line.startsWith('at '))).toBe(true);
  });

  it('keeps a system error code', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', address: '127.0.0.1' });

    expect(safeError(err)).toMatchObject({ name: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:5432', code: 'ECONNREFUSED' });
    expect(safeError(err)).not.toHaveProperty('address');
  });

  it('recognises an error from another realm', () => {
    const err: unknown = runInNewContext('new RangeError("out of range")');

    expect(safeError(err)).toMatchObject({ name: 'RangeError', message: 'out of range' });
  });

  it('names only the type of anything that is not an error', () => {
    expect(safeError(SECRET)).toEqual({ type: 'string' });
    expect(safeError({ text: SECRET })).toEqual({ type: 'object' });
    expect(safeError(undefined)).toEqual({ type: 'undefined' });
    expect(safeError(null)).toEqual({ type: 'null' });
  });
});
