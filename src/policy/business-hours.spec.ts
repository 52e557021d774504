import fc from 'fast-check';
import { parseAgents } from '../config/agents.loader.js';
import { BusinessHoursSchema } from './business-hours.schema.js';
import { isOpen, nextOpening, wallToInstant, type Schedule } from './business-hours.js';

const at = (iso: string) => new Date(iso);
const schedule = (input: Record<string, unknown>): Schedule => BusinessHoursSchema.parse({ timeZone: 'Europe/Berlin', ...input });

const officeWeek = schedule({
  weekly: { mon: ['09:00-12:00', '13:00-17:00'], tue: ['09:00-17:00'], wed: ['09:00-17:00'], thu: ['09:00-17:00'], fri: ['09:00-15:00'] },
  closures: ['2026-12-25', { from: '2026-12-28', to: '2026-12-31' }],
});

describe('business hours', () => {
  describe(wallToInstant.name, () => {
    it('reads a wall-clock time in the zone’s offset of that day (winter and summer)', () => {
      expect(new Date(wallToInstant('Europe/Berlin', 2026, 1, 15, 9 * 60)).toISOString()).toBe('2026-01-15T08:00:00.000Z');
      expect(new Date(wallToInstant('Europe/Berlin', 2026, 7, 15, 9 * 60)).toISOString()).toBe('2026-07-15T07:00:00.000Z');
      expect(new Date(wallToInstant('America/New_York', 2026, 7, 15, 9 * 60)).toISOString()).toBe('2026-07-15T13:00:00.000Z');
    });

    it('a time the clocks skip (02:30 on the last Sunday of March in Berlin) is the moment they jump', () => {
      expect(new Date(wallToInstant('Europe/Berlin', 2026, 3, 29, 150)).toISOString()).toBe('2026-03-29T01:00:00.000Z');
    });

    it('a time that happens twice (02:30 on the last Sunday of October in Berlin) is its first occurrence', () => {
      expect(new Date(wallToInstant('Europe/Berlin', 2026, 10, 25, 150)).toISOString()).toBe('2026-10-25T00:30:00.000Z');
      expect(new Date(wallToInstant('America/New_York', 2026, 11, 1, 90)).toISOString()).toBe('2026-11-01T05:30:00.000Z');
    });

    it('24:00 is the next day’s midnight', () => {
      expect(new Date(wallToInstant('Europe/Berlin', 2026, 3, 28, 24 * 60)).toISOString()).toBe('2026-03-28T23:00:00.000Z');
    });
  });

  describe(isOpen.name, () => {
    it('is open inside an interval and closed outside, with several intervals a day', () => {
      // Monday 2026-11-23, Berlin is UTC+1.
      expect(isOpen(officeWeek, at('2026-11-23T08:00:00Z'))).toBe(true); // 09:00
      expect(isOpen(officeWeek, at('2026-11-23T07:59:59Z'))).toBe(false); // 08:59:59
      expect(isOpen(officeWeek, at('2026-11-23T11:30:00Z'))).toBe(false); // 12:30, lunch
      expect(isOpen(officeWeek, at('2026-11-23T12:00:00Z'))).toBe(true); // 13:00
      expect(isOpen(officeWeek, at('2026-11-23T16:00:00Z'))).toBe(false); // 17:00: the end is exclusive
      expect(isOpen(officeWeek, at('2026-11-28T10:00:00Z'))).toBe(false); // Saturday
    });

    it('a closure is a whole local day, and a range includes both ends', () => {
      expect(isOpen(officeWeek, at('2026-12-25T10:00:00Z'))).toBe(false); // a Friday, closed
      expect(isOpen(officeWeek, at('2026-12-24T10:00:00Z'))).toBe(true);
      expect(isOpen(officeWeek, at('2026-12-28T10:00:00Z'))).toBe(false);
      expect(isOpen(officeWeek, at('2026-12-31T15:00:00Z'))).toBe(false);
      // 2027-01-01 is a Friday, not closed: 10:00 Berlin.
      expect(isOpen(officeWeek, at('2027-01-01T09:00:00Z'))).toBe(true);
    });

    it('closure dates are the zone’s dates, not UTC’s', () => {
      const tokyo = schedule({ timeZone: 'Asia/Tokyo', weekly: { fri: ['00:00-24:00'] }, closures: ['2026-12-25'] });
      // 2026-12-24T16:00Z is Friday 01:00 on the 25th in Tokyo: closed, though it is still the 24th in UTC.
      expect(isOpen(tokyo, at('2026-12-24T16:00:00Z'))).toBe(false);
    });

    it('00:00-24:00 is open the whole day, to the last second', () => {
      const always = schedule({ weekly: { sat: ['00:00-24:00'] } });
      expect(isOpen(always, at('2026-11-27T23:00:00Z'))).toBe(true); // Sat 00:00 Berlin
      expect(isOpen(always, at('2026-11-28T22:59:59Z'))).toBe(true); // Sat 23:59:59
      expect(isOpen(always, at('2026-11-28T23:00:00Z'))).toBe(false); // Sun 00:00
    });
  });

  describe(nextOpening.name, () => {
    it('is now when open, and the next interval’s start when closed', () => {
      expect(nextOpening(officeWeek, at('2026-11-23T09:00:00Z'))?.toISOString()).toBe('2026-11-23T09:00:00.000Z');
      expect(nextOpening(officeWeek, at('2026-11-23T11:30:00Z'))?.toISOString()).toBe('2026-11-23T12:00:00.000Z'); // after lunch
      expect(nextOpening(officeWeek, at('2026-11-27T15:00:00Z'))?.toISOString()).toBe('2026-11-30T08:00:00.000Z'); // Friday 16:00 → Monday 09:00
    });

    it('skips closures', () => {
      // Thursday 24 Dec after hours → 25th closed, weekend, 28th–31st closed → Friday 1 January 09:00.
      expect(nextOpening(officeWeek, at('2026-12-24T17:00:00Z'))?.toISOString()).toBe('2027-01-01T08:00:00.000Z');
    });

    it('is null for a week without hours, and for a closure longer than the search', () => {
      expect(nextOpening(schedule({ weekly: {} }), at('2026-11-23T10:00:00Z'))).toBeNull();
      expect(isOpen(schedule({ weekly: {} }), at('2026-11-23T10:00:00Z'))).toBe(false);
      const shut = schedule({ weekly: { mon: ['09:00-17:00'] }, closures: [{ from: '2026-01-01', to: '2028-12-31' }] });
      expect(nextOpening(shut, at('2026-11-23T10:00:00Z'))).toBeNull();
    });

    describe('across the DST changes of Europe/Berlin', () => {
      const daily = schedule({ weekly: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, ['09:00-17:00']])) });

      it('opens at 09:00 local on each side of the last Sunday of March', () => {
        // Saturday 28 March 2026, 18:00 CET → Sunday 29 March 09:00 CEST (07:00Z), then Monday 07:00Z.
        expect(nextOpening(daily, at('2026-03-28T17:00:00Z'))?.toISOString()).toBe('2026-03-29T07:00:00.000Z');
        expect(nextOpening(daily, at('2026-03-27T17:00:00Z'))?.toISOString()).toBe('2026-03-28T08:00:00.000Z');
        expect(nextOpening(daily, at('2026-03-29T16:00:00Z'))?.toISOString()).toBe('2026-03-30T07:00:00.000Z');
        expect(isOpen(daily, at('2026-03-29T07:00:00Z'))).toBe(true);
        expect(isOpen(daily, at('2026-03-29T06:59:59Z'))).toBe(false);
      });

      it('opens at 09:00 local on each side of the last Sunday of October', () => {
        expect(nextOpening(daily, at('2026-10-24T16:00:00Z'))?.toISOString()).toBe('2026-10-25T08:00:00.000Z');
        expect(nextOpening(daily, at('2026-10-25T16:00:00Z'))?.toISOString()).toBe('2026-10-26T08:00:00.000Z');
        expect(isOpen(daily, at('2026-10-25T15:59:59Z'))).toBe(true); // 16:59:59 CET
        expect(isOpen(daily, at('2026-10-25T16:00:00Z'))).toBe(false);
      });

      it('an interval inside the skipped hour never opens; one around it opens when the clocks jump', () => {
        const night = schedule({ weekly: { sun: ['02:00-03:00'] } });
        expect(nextOpening(night, at('2026-03-28T12:00:00Z'))?.toISOString()).toBe('2026-04-05T00:00:00.000Z'); // next Sunday 02:00 CEST
        const early = schedule({ weekly: { sun: ['02:30-05:00'] } });
        expect(nextOpening(early, at('2026-03-28T12:00:00Z'))?.toISOString()).toBe('2026-03-29T01:00:00.000Z'); // 03:00 CEST
      });

      it('the repeated hour of October is open both times', () => {
        const night = schedule({ weekly: { sun: ['02:00-03:00'] } });
        expect(nextOpening(night, at('2026-10-24T12:00:00Z'))?.toISOString()).toBe('2026-10-25T00:00:00.000Z'); // 02:00 CEST
        expect(isOpen(night, at('2026-10-25T00:30:00Z'))).toBe(true); // 02:30 CEST
        expect(isOpen(night, at('2026-10-25T01:30:00Z'))).toBe(true); // 02:30 CET
        expect(isOpen(night, at('2026-10-25T02:00:00Z'))).toBe(false); // 03:00 CET
      });
    });

    it('is always an instant that is open, with nothing open between the start and it', () => {
      const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'UTC'];
      const intervals = ['00:00-24:00', '09:00-17:00', '02:30-03:30', '22:00-24:00', '00:00-01:00', '12:15-12:45'];
      fc.assert(
        fc.property(
          fc.constantFrom(...zones),
          fc.dictionary(fc.constantFrom('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'), fc.constantFrom(...intervals).map((i) => [i])),
          fc.integer({ min: Date.UTC(2025, 0, 1), max: Date.UTC(2027, 11, 31) }),
          (timeZone, weekly, start) => {
            const s = schedule({ timeZone, weekly });
            const from = new Date(Math.floor(start / 60_000) * 60_000);
            const opening = nextOpening(s, from);
            if (!opening) return Object.values(weekly).length === 0;
            expect(opening.getTime()).toBeGreaterThanOrEqual(from.getTime());
            expect(isOpen(s, opening)).toBe(true);
            // Sampled every 15 minutes: closed from the start until the opening.
            for (let t = from.getTime(); t < opening.getTime(); t += 15 * 60_000) expect(isOpen(s, new Date(t))).toBe(false);
            return true;
          },
        ),
        { numRuns: 150 },
      );
    });
  });

  describe('the schema', () => {
    it('refuses overlapping intervals of a day and a closure range that ends before it starts', () => {
      const result = BusinessHoursSchema.safeParse({ timeZone: 'Europe/Berlin', weekly: { mon: ['09:00-12:00', '11:00-13:00'] }, closures: [{ from: '2026-12-31', to: '2026-12-24' }, '2026-02-30'] });
      expect(result.success).toBe(false);
      const messages = result.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
      expect(messages).toEqual(
        expect.arrayContaining([
          expect.stringContaining('weekly.mon: 09:00-12:00 overlaps 11:00-13:00'),
          expect.stringContaining('closures.0'),
          expect.stringContaining('closures.1'),
        ]),
      );
    });

    it('refuses a presence cacheFor under 5s, saying why, and takes 5s and the 30s default', () => {
      for (const cacheFor of ['0s', '0ms', '4999ms', '1s']) {
        const result = BusinessHoursSchema.safeParse({ timeZone: 'UTC', presence: { cacheFor } });
        expect(result.success).toBe(false);
        expect(result.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([expect.stringMatching(/^presence\.cacheFor: must be at least 5s: .*nearly every turn would start a request/)]);
      }
      expect(BusinessHoursSchema.parse({ timeZone: 'UTC', presence: { cacheFor: '5s' } }).presence?.cacheFor).toBe(5000);
      expect(BusinessHoursSchema.parse({ timeZone: 'UTC', presence: {} }).presence?.cacheFor).toBe(30_000);
      // Through the loader: the agents file is refused with the line and the field.
      const file = (cacheFor: string) => `agents:
  - id: acme
    name: Acme
    mode: inception
    secretEnv: S
    llm: { model: m }
    prompt: Be kind.
    businessHours:
      timeZone: UTC
      presence: { enabled: true, cacheFor: ${cacheFor} }
`;
      expect(() => parseAgents(file('0s'), { S: 'aa' })).toThrow(/:10\b.*presence\.cacheFor.*must be at least 5s/s);
      expect(parseAgents(file('10s'), { S: 'aa' })[0].businessHours?.presence?.cacheFor).toBe(10_000);
    });

    it('accepts touching intervals and a week without hours', () => {
      expect(BusinessHoursSchema.safeParse({ timeZone: 'UTC', weekly: { mon: ['09:00-12:00', '12:00-17:00'] } }).success).toBe(true);
      expect(BusinessHoursSchema.safeParse({ timeZone: 'UTC' }).success).toBe(true);
      expect(BusinessHoursSchema.safeParse({ timeZone: 'Mars/Olympus' }).success).toBe(false);
    });
  });
});
