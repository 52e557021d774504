import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

/**
 * HTML that our own code built and escaped (a rendered report, a `<time>` element, JSON for a
 * script element). Templates print everything with `<%= %>`; the escape function lets only these
 * through as they are, so data can never reach the page unescaped by mistake.
 */
export class SafeHtml {
  constructor(readonly html: string) {}
  toString(): string {
    return this.html;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  if (value === null || value === undefined) return '';
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

export const VIEWS_DIR = fileURLToPath(new URL('./views/', import.meta.url));
export const ASSETS_DIR = fileURLToPath(new URL('./assets/', import.meta.url));

export function createViews(): Eta {
  return new Eta({
    views: VIEWS_DIR,
    cache: true,
    autoEscape: true,
    escapeFunction: (value: unknown) => (value instanceof SafeHtml ? value.html : escapeHtml(value)),
  });
}

/** JSON for a `<script type="application/json">`: nothing in it can close the element or open a comment. */
export function scriptJson(value: unknown): SafeHtml {
  return new SafeHtml(
    JSON.stringify(value)
      .replace(/</g, '\\u003c')
      .replace(/>/g, '\\u003e')
      .replace(/&/g, '\\u0026')
      .replace(/\u2028/g, '\\u2028')
      .replace(/\u2029/g, '\\u2029'),
  );
}

const pad = (n: number) => String(n).padStart(2, '0');

/** `2026-11-25 09:12 UTC`: what a reader without JavaScript sees; console.js shows the viewer's zone. */
export function utcText(date: Date): string {
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} UTC`;
}

/** The helpers every template gets as `it.f`. */
export const format = {
  /** A `<time>` element; `relative` adds "in 3 min" / "5 min ago" (for deadlines). */
  time(value: Date | string | null | undefined, options: { relative?: boolean } = {}): SafeHtml | string {
    if (!value) return '–';
    const date = value instanceof Date ? value : new Date(value);
    if (Number.isNaN(date.getTime())) return escapeHtml(value);
    return new SafeHtml(`<time datetime="${date.toISOString()}"${options.relative ? ' data-relative' : ''}>${utcText(date)}</time>`);
  },
  ms(value: number | null | undefined): string {
    if (value === null || value === undefined) return '–';
    return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(value < 10_000 ? 2 : 1)} s`;
  },
  pct(value: number | null | undefined): string {
    return value === null || value === undefined ? '–' : `${Math.round(value * 1000) / 10}%`;
  },
  ratio(part: number, whole: number): number | null {
    return whole === 0 ? null : part / whole;
  },
  num(value: number | null | undefined): string {
    return value === null || value === undefined ? '–' : value.toLocaleString('en');
  },
  usd(value: number | null | undefined): string {
    if (value === null || value === undefined) return '–';
    return value < 0.01 && value > 0 ? `$${value.toFixed(4)}` : `$${value.toFixed(2)}`;
  },
  json(value: unknown): string {
    if (value === null || value === undefined) return '';
    return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  },
  clip(text: string | null | undefined, max: number): string {
    if (!text) return '';
    return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
  },
  label(value: string | null | undefined): string {
    return value ? value.replace(/_/g, ' ') : '';
  },
};
export type Format = typeof format;

export const DEADLINE_LABELS: Record<string, string> = {
  va_deadline: 'virtual-agent deadline (hand over before it)',
  first_question: 'first question (delegation)',
  nudge: 'nudge the contact',
  contact_deadline: 'contact timeout (close)',
};
