import { reportedOutcome, type ActionCallOutcome } from './action.port.js';

const outcome = (o: Partial<ActionCallOutcome>): ActionCallOutcome => ({ status: 'ok', httpStatus: null, result: null, error: null, latencyMs: 3000, resultBytes: 0, ...o });

describe(reportedOutcome.name, () => {
  const timedOut = outcome({ status: 'timeout', error: 'no answer within 3000 ms' });

  it('reports a side-effect call that timed out as unknown: it may have been carried out', () => {
    expect(reportedOutcome({ sideEffects: true }, timedOut)).toEqual({ ...timedOut, status: 'unknown', error: 'no answer within 3000 ms; it may have been carried out' });
  });

  it('reports a lookup that timed out as the timeout it is: trying again changes nothing', () => {
    expect(reportedOutcome({ sideEffects: false }, timedOut)).toBe(timedOut);
  });

  it('reports a side-effect call that failed after it may have reached the API as unknown too', () => {
    for (const o of [outcome({ status: 'failed', error: 'connection failed: ECONNRESET' }), outcome({ status: 'http_error', httpStatus: 502, error: 'HTTP 502' }), outcome({ status: 'http_error', httpStatus: 504, error: 'HTTP 504' })]) {
      expect(reportedOutcome({ sideEffects: true }, o).status).toBe('unknown');
    }
  });

  it('reports every other outcome of a side-effect call as it ended', () => {
    const others = [
      ...(['ok', 'too_large', 'invalid_response', 'refused', 'skipped', 'unknown'] as const).map((status) => outcome({ status, error: status === 'ok' ? null : 'why' })),
      outcome({ status: 'failed', error: 'connection failed: ECONNREFUSED' }),
      outcome({ status: 'failed', error: 'connection failed: ENOTFOUND' }),
      outcome({ status: 'http_error', httpStatus: 409, error: 'HTTP 409 (already cancelled)' }),
      outcome({ status: 'http_error', httpStatus: 500, error: 'HTTP 500' }),
    ];
    for (const o of others) expect(reportedOutcome({ sideEffects: true }, o)).toBe(o);
  });
});
