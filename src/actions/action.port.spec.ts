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

  it('reports every other outcome of a side-effect call as it ended', () => {
    for (const status of ['ok', 'http_error', 'failed', 'too_large', 'invalid_response', 'refused', 'skipped', 'unknown'] as const) {
      const o = outcome({ status, error: status === 'ok' ? null : 'why' });
      expect(reportedOutcome({ sideEffects: true }, o)).toBe(o);
    }
  });
});
