import { parseCaseFile } from './case.loader.js';

/** A file of one case with this `expect`, written as a flow mapping on line 5. */
const file = (expect: string) => `agent: acme\ncases:\n  - id: c\n    transcript: [{ contact: hi }]\n    expect: ${expect}\n`;
const problems = (expect: string) => {
  try {
    parseCaseFile(file(expect), 'cases.yaml');
    return [];
  } catch (err) {
    return (err as { problems?: string[] }).problems ?? [String(err)];
  }
};

describe(`${parseCaseFile.name}: expect.handoverReason`, () => {
  it('takes one reason of the taxonomy, a list of them, or none for a handover without one', () => {
    expect(parseCaseFile(file('{ action: handover, handoverReason: customer_request }'), 'cases.yaml').cases[0].expect.handoverReason).toBe('customer_request');
    expect(parseCaseFile(file('{ action: handover, handoverReason: [policy_restriction, unsupported_request] }'), 'cases.yaml').cases[0].expect.handoverReason).toEqual([
      'policy_restriction',
      'unsupported_request',
    ]);
    expect(parseCaseFile(file('{ action: [reply, handover], handoverReason: none }'), 'cases.yaml').cases[0].expect.handoverReason).toBe('none');
    // Guardrails and failures set reasons too: a case may expect them.
    expect(problems('{ action: handover, handoverReason: usage_limit }')).toEqual([]);
  });

  it('names the file, line, case and field of a reason outside the taxonomy', () => {
    expect(problems('{ action: handover, handoverReason: customer_requets }')).toEqual([
      expect.stringMatching(/^cases\.yaml:5: case "c" field expect\.handoverReason: Invalid option: expected one of "customer_request"\|.*\|"none"$/),
    ]);
    expect(problems('{ action: handover, handoverReason: [] }')).toEqual(['cases.yaml:5: case "c" field expect.handoverReason: lists no reason']);
  });

  it('refuses a reason on a case that does not accept a handover: it could never be checked', () => {
    expect(problems('{ action: [reply, resolve], handoverReason: customer_request }')).toEqual([
      'cases.yaml:5: case "c" field expect.handoverReason: is checked only on a handover, and the case does not accept one',
    ]);
  });
});
