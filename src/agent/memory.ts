import type { TranscriptEntry } from './decision.js';

/**
 * The transcript window: at most `window` messages verbatim. Past that, the oldest are folded
 * into the running summary, down to half the window, so the summary (and with it the prompt
 * prefix before the verbatim messages) changes once every `window / 2` messages, not every turn.
 */
export function planFold<T extends TranscriptEntry>(unsummarized: T[], window: number): { fold: T[]; keep: T[] } {
  if (unsummarized.length <= window) return { fold: [], keep: unsummarized };
  const keepCount = Math.ceil(window / 2);
  const cut = unsummarized.length - keepCount;
  return { fold: unsummarized.slice(0, cut), keep: unsummarized.slice(cut) };
}
