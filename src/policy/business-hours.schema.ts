import { z } from 'zod';
import { duration } from '../config/duration.js';
import { overlaps } from './business-hours.js';

/** The shortest `presence.cacheFor`: one presence request per organisation every 5 s at most. */
export const MIN_PRESENCE_CACHE_MS = 5000;

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof DAYS)[number];

/** `09:00-17:30`; `00:00-24:00` is the whole day. An interval never crosses midnight: split it. */
const INTERVAL = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/;
const interval = () =>
  z.string().trim().regex(INTERVAL, 'must be HH:MM-HH:MM, like 09:00-17:30').refine((s) => {
    const [from, to] = s.split('-');
    return from < to && to <= '24:00';
  }, 'must end after it starts, on the same day, by 24:00 (split a night shift at midnight)');

const isoDate = () =>
  z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date, YYYY-MM-DD')
    .refine((d) => {
      const t = Date.parse(`${d}T00:00:00Z`);
      return !Number.isNaN(t) && new Date(t).toISOString().startsWith(d);
    }, 'is not a calendar date');

export const BusinessHoursSchema = z
  .object({
    /** An IANA time zone, like Europe/Berlin: the weekly hours and closures are in it. */
    timeZone: z.string().refine((tz) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'is not an IANA time zone (like Europe/Berlin or America/New_York)'),
    /** Opening intervals per weekday; a day left out is closed. */
    weekly: z.partialRecord(z.enum(DAYS), z.array(interval())).default({}),
    /** Whole days closed (holidays), in the time zone: `2026-12-25`, or `{ from, to }` inclusive. */
    closures: z
      .array(
        z.union([
          isoDate(),
          z
            .object({ from: isoDate(), to: isoDate() })
            .strict()
            .refine((r) => r.from <= r.to, 'must not end (to) before it starts (from)'),
        ]),
      )
      .default([]),
    /** What the agent does while nobody is available: see docs/configuration.md. */
    outsideHours: z.enum(['answer-only', 'collect-and-handover', 'handover']).default('answer-only'),
    /** Ask Inbox 2.0 who is online; "nobody available" then counts as outside hours. */
    presence: z
      .object({
        enabled: z.boolean().default(true),
        /**
         * How long an answer is trusted before it is asked again (in the background). At least
         * MIN_PRESENCE_CACHE_MS: below that the cache hardly ever answers and nearly every turn
         * starts a request to Inbox 2.0 (0 would make it one per turn).
         */
        cacheFor: duration().refine((ms) => ms >= MIN_PRESENCE_CACHE_MS, {
          message: `must be at least ${MIN_PRESENCE_CACHE_MS / 1000}s: a shorter cache hardly ever answers, and nearly every turn would start a request to Inbox 2.0's presence API`,
        }).default(30_000),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((hours, ctx) => {
    for (const [day, intervals] of Object.entries(hours.weekly)) {
      const problem = overlaps(intervals ?? []);
      if (problem) ctx.addIssue({ code: 'custom', path: ['weekly', day], message: `${problem}: merge them into one interval` });
    }
  });
export type BusinessHoursConfig = z.infer<typeof BusinessHoursSchema>;
