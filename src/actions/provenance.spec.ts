import { ActionSchema } from './action.schema.js';
import { provenanceProblem } from './provenance.js';

const action = ActionSchema.parse({
  name: 'order_status',
  description: 'Look up an order.',
  parameters: { type: 'object', required: ['order_number'], properties: { order_number: { type: 'string' } } },
  request: { url: 'https://shop.example/api/orders/{order_number}' },
  response: { fields: ['status'] },
  requires: ['order_number'],
});
const said = (...texts: string[]) => texts.map((text) => ({ direction: 'inbound' as const, text, payload: null }));
const ctx = (texts: string[], contactAttributes: Array<{ attribute: string; value: string; source?: string }> = []) => ({ transcript: said(...texts), contactAttributes });

describe('provenanceProblem (the requires rule)', () => {
  it('accepts a value the contact wrote, as a whole token, whatever its case', () => {
    expect(provenanceProblem(action, { order_number: 'A-12345' }, ctx(['where is my order a-12345?']))).toBeNull();
    expect(provenanceProblem(action, { order_number: 'A-12345' }, ctx(['Order: A-12345.']))).toBeNull();
  });

  it('refuses a value that is only part of what the contact wrote, or not there at all', () => {
    for (const value of ['A-1234', '1234', '12', 'l', 'A-99999']) {
      expect(provenanceProblem(action, { order_number: value }, ctx(['My order is A-123456, call me on 0612345678, hello']))).toMatch(/not one the contact gave/);
    }
  });

  it('takes a known attribute only from the medium or a CRM, not one an agent (or this agent) set', () => {
    expect(provenanceProblem(action, { order_number: 'A-55555' }, ctx(['hi'], [{ attribute: 'order_number', value: 'A-55555', source: 'CRM_CONFIRMED' }]))).toBeNull();
    expect(provenanceProblem(action, { order_number: 'A-55555' }, ctx(['hi'], [{ attribute: 'order_number', value: 'A-55555', source: 'AGENT' }]))).toMatch(/not one the contact gave/);
    expect(provenanceProblem(action, { order_number: 'A-55555' }, ctx(['hi'], [{ attribute: 'order_number', value: 'A-55555' }]))).toMatch(/not one the contact gave/);
  });

  it('does not quote the refused value (the reason reaches the logs of callers)', () => {
    expect(provenanceProblem(action, { order_number: 'A-77777' }, ctx(['hi']))).not.toContain('A-77777');
  });
});
