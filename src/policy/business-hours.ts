import type { BusinessHoursConfig, Weekday } from './business-hours.schema.js';

/**
 * When people are at work, by the agents file's `businessHours`: pure functions of the schedule and
 * an instant. The weekly hours and the closures are wall-clock times in the schedule's IANA zone.
 *
 * Intl alone is enough here, so no date library: reading an instant's wall clock in a zone is what
 * `Intl.DateTimeFormat#formatToParts` does (with the runtime's own tz database), and the only
 * other step, a wall-clock opening time back to an instant, is an offset lookup corrected once
 * (the way Luxon does it), plus a search for the transition when the time falls in a DST gap.
 */
export type Schedule = Pick<BusinessHoursConfig, 'timeZone' | 'weekly' | 'closures'>;

const WEEKDAYS: Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const DAY_MS = 86_400_000;
/** How far ahead an opening is looked for: a closure longer than a year means "closed". */
const HORIZON_DAYS = 400;

/** The wall clock of an instant in a zone. */
interface Wall {
  year: number;
  month: number;
  day: number;
  /** Minutes since local midnight. */
  minutes: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(timeZone, f);
  }
  return f;
}

function wallClock(timeZone: string, epochMs: number): Wall & { seconds: number } {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(epochMs)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { year: parts.year, month: parts.month, day: parts.day, minutes: (parts.hour % 24) * 60 + parts.minute, seconds: parts.second };
}

/** The zone's offset from UTC at an instant, in ms (positive east of Greenwich), to the minute. */
function offsetAt(timeZone: string, epochMs: number): number {
  const w = wallClock(timeZone, epochMs);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, 0, w.minutes, w.seconds);
  return asUtc - Math.floor(epochMs / 1000) * 1000;
}

/**
 * The instant a wall-clock time happens in a zone. A time that happens twice (clocks going back)
 * is its first occurrence; one that never happens (clocks going forward over it) is the moment the
 * clocks jump, the first instant whose wall clock is past it.
 */
export function wallToInstant(timeZone: string, year: number, month: number, day: number, minutes: number): number {
  const local = Date.UTC(year, month - 1, day, 0, minutes);
  const o1 = offsetAt(timeZone, local);
  const t1 = local - o1;
  const o2 = offsetAt(timeZone, t1);
  if (o1 === o2) return earliest(timeZone, local, t1, o1);
  const t2 = local - o2;
  const o3 = offsetAt(timeZone, t2);
  if (o2 === o3) return earliest(timeZone, local, t2, o2);
  // A gap: the clocks jump somewhere between the two candidates; find where, to the second.
  let lo = Math.min(local - o2, local - o3);
  let hi = Math.max(local - o2, local - o3);
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (local - offsetAt(timeZone, mid) <= mid) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Of the instants showing this wall time, the first (an overlap when clocks go back shows it twice). */
function earliest(timeZone: string, local: number, found: number, offset: number): number {
  // The other occurrence, if any, is under an offset at most a few hours apart: try the offset an hour earlier.
  for (const shift of [3_600_000, 1_800_000]) {
    const other = local - (offset + shift);
    if (other < found && offsetAt(timeZone, other) === offset + shift) return other;
  }
  return found;
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

/** `09:00-17:00` as minutes since midnight, [from, to). */
export function parseInterval(interval: string): { from: number; to: number } {
  const [from, to] = interval.split('-');
  return { from: minutesOf(from), to: minutesOf(to) };
}

const isoDay = (w: Pick<Wall, 'year' | 'month' | 'day'>) =>
  `${String(w.year).padStart(4, '0')}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;

/** Whether a local date (YYYY-MM-DD) is one of the closures. */
export function isClosedDay(schedule: Pick<Schedule, 'closures'>, date: string): boolean {
  return schedule.closures.some((c) => (typeof c === 'string' ? c === date : c.from <= date && date <= c.to));
}

/** The weekday of a civil date (timezone-free arithmetic). */
function weekdayOf(year: number, month: number, day: number): Weekday {
  return WEEKDAYS[new Date(Date.UTC(year, month - 1, day)).getUTCDay()];
}

function intervalsOn(schedule: Schedule, date: { year: number; month: number; day: number }): Array<{ from: number; to: number }> {
  if (isClosedDay(schedule, isoDay(date))) return [];
  return (schedule.weekly[weekdayOf(date.year, date.month, date.day)] ?? []).map(parseInterval).sort((a, b) => a.from - b.from);
}

/** Whether the team is at work at this instant, by the clock alone. */
export function isOpen(schedule: Schedule, at: Date): boolean {
  const w = wallClock(schedule.timeZone, at.getTime());
  return intervalsOn(schedule, w).some((i) => i.from <= w.minutes && w.minutes < i.to);
}

/**
 * The first instant at or after `from` when the team is at work: `from` itself when open, null
 * when no opening comes within a year (a week without hours, or a closure that long).
 */
export function nextOpening(schedule: Schedule, from: Date): Date | null {
  if (isOpen(schedule, from)) return from;
  const start = wallClock(schedule.timeZone, from.getTime());
  const day0 = Date.UTC(start.year, start.month - 1, start.day);
  for (let i = 0; i <= HORIZON_DAYS; i++) {
    const civil = new Date(day0 + i * DAY_MS);
    const date = { year: civil.getUTCFullYear(), month: civil.getUTCMonth() + 1, day: civil.getUTCDate() };
    for (const interval of intervalsOn(schedule, date)) {
      const opens = wallToInstant(schedule.timeZone, date.year, date.month, date.day, interval.from);
      // 24:00 is the next day's midnight, in whatever offset that day starts with.
      const closes = wallToInstant(schedule.timeZone, date.year, date.month, date.day, interval.to);
      if (closes <= opens || closes <= from.getTime()) continue;
      return new Date(Math.max(opens, from.getTime()));
    }
  }
  return null;
}

/** Whether any opening exists at all in the week (a schedule with none is never open). */
export function hasWeeklyHours(schedule: Pick<Schedule, 'weekly'>): boolean {
  return Object.values(schedule.weekly).some((list) => (list ?? []).length > 0);
}

/** Overlapping or touching intervals of one day, as `mon: 09:00-12:00 overlaps 11:00-13:00`, for the schema. */
export function overlaps(intervals: string[]): string | undefined {
  const sorted = intervals.map((s) => ({ s, ...parseInterval(s) })).sort((a, b) => a.from - b.from);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].from < sorted[i - 1].to) return `${sorted[i - 1].s} overlaps ${sorted[i].s}`;
  }
  return undefined;
}
