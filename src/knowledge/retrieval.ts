import { pendingContactText, type ConversationContext } from '../agent/decision.js';

/** A chunk as the prompt shows it and a decision cites it. */
export interface RetrievedChunk {
  /** What the LLM cites: `kb-<chunk id>`. */
  id: string;
  title: string;
  url: string | null;
  /** The article's uri (file path or page URL): what an eval case names. */
  uri: string;
  headingPath: string[];
  text: string;
  /** 0–1: the better of the full-text and the vector score; compared with `minScore`. */
  score: number;
}

export const citationId = (chunkId: string) => `kb-${chunkId}`;

/** The constant of reciprocal rank fusion (Cormack et al.): ranks matter, raw scores of two scales do not. */
const RRF_K = 60;

/** Fuses ranked lists of ids: each list gives 1 / (60 + rank); the sum orders the result. */
export function reciprocalRankFusion(lists: string[][]): string[] {
  const scores = new Map<string, number>();
  for (const list of lists) list.forEach((id, rank) => scores.set(id, (scores.get(id) ?? 0) + 1 / (RRF_K + rank + 1)));
  return [...scores].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([id]) => id);
}

export function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

/**
 * What a turn searches for: the contact's unanswered messages; with the running summary too when
 * they are short ("and for boots?"), since a follow-up alone names nothing to search.
 */
export function retrievalQuery(ctx: Pick<ConversationContext, 'transcript' | 'summary'>): string {
  const asked = pendingContactText(ctx).join('\n').trim();
  return asked.length < 40 && ctx.summary ? `${asked}\n${ctx.summary}` : asked;
}

/** `returns.md`, `faq/returns.html` and `https://help.example/returns` all name the article `returns`. */
export function articleName(uri: string): string {
  return (uri.replace(/[?#].*$/, '').replace(/\/+$/, '').split('/').pop() ?? uri).replace(/\.(md|markdown|html?)$/i, '');
}
