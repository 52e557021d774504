import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Parses `250ms`, `1s`, `1.5m`, `2h`, `7d` into milliseconds; anything else returns undefined. */
export function parseDuration(text: string): number | undefined {
  const match = PATTERN.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNITS[match[2]]);
}

/** A zod schema for a duration string, producing milliseconds. */
export const duration = () =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const text = String(value);
    const ms = typeof value === 'string' ? parseDuration(value) : undefined;
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use ms, s, m, h or d, like 500ms, 10s, 5m, 1h, 7d)` });
      return z.NEVER;
    }
    return ms;
  });

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 * 1024 };

/** Parses `512kb`, `1mb`, `100b` into bytes. */
export function parseByteSize(text: string): number | undefined {
  const match = /^(\d+)(b|kb|mb)$/i.exec(text.trim());
  return match ? Number(match[1]) * SIZE_UNITS[match[2].toLowerCase()] : undefined;
}
