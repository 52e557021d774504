import { BadFilterError, ListFilterSchema, OverviewFilterSchema, containsPattern, filterQuery, parseQuery } from './console.filters.js';

const problems = (query: Record<string, unknown>) => {
  try {
    parseQuery(ListFilterSchema, query);
  } catch (err) {
    if (err instanceof BadFilterError) return err.problems;
    throw err;
  }
  throw new Error('expected a BadFilterError');
};

describe(parseQuery.name, () => {
  it('reads every filter, and takes an empty value for no filter', () => {
    const sut = parseQuery(ListFilterSchema, { agent: 'acme-triage', mode: 'inception', state: 'handed_over', since: '24h', q: '  refund ', page: '3' });
    expect(sut).toMatchObject({ agent: 'acme-triage', mode: 'inception', state: 'handed_over', q: 'refund', page: 3 });
    expect(Date.now() - sut.since!.at.getTime()).toBeGreaterThanOrEqual(86_400_000);
    expect(parseQuery(ListFilterSchema, { agent: '', state: '', q: ' ' })).toEqual({ page: 1 });
  });

  it('takes a date or a time for since', () => {
    expect(parseQuery(ListFilterSchema, { since: '2026-01-05' }).since!.at.toISOString()).toBe('2026-01-05T00:00:00.000Z');
    expect(parseQuery(ListFilterSchema, { since: '2026-01-05T08:30:00+01:00' }).since!.at.toISOString()).toBe('2026-01-05T07:30:00.000Z');
  });

  it('names each bad filter and why', () => {
    expect(problems({ state: 'open', page: '0', since: 'last week', mode: 'x', colour: 'red' })).toEqual(
      expect.arrayContaining([
        'state: must be one of active, handed_over, resolved, lost',
        'page: must be at least 1',
        'since: "last week" is neither a duration up to 3650d (like 24h or 7d) nor a date (like 2026-11-01)',
        'mode: must be one of inception, delegation',
        'unknown filter "colour"',
      ]),
    );
    expect(problems({ state: ['active', 'lost'] })).toEqual(['state: given more than once']);
    expect(problems({ since: '99999d' })[0]).toMatch(/^since: /);
    expect(problems({ q: 'x'.repeat(201) })).toEqual(['q: must be at most 200 characters']);
  });

  it('reads the overview window', () => {
    expect(parseQuery(OverviewFilterSchema, {})).toEqual({ window: '24h' });
    expect(() => parseQuery(OverviewFilterSchema, { window: '30d' })).toThrow(BadFilterError);
  });
});

describe(filterQuery.name, () => {
  it('links to the same filters on another page', () => {
    const filter = parseQuery(ListFilterSchema, { agent: 'acme', q: 'a&b', since: '7d' });
    expect(filterQuery(filter, { page: 2 })).toBe('?agent=acme&since=7d&q=a%26b&page=2');
    expect(filterQuery(parseQuery(ListFilterSchema, {}))).toBe('');
  });
});

describe(containsPattern.name, () => {
  it("escapes LIKE's wildcards and its escape character", () => {
    expect(containsPattern('50%_off\\')).toBe('%50\\%\\_off\\\\%');
  });
});
