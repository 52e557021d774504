import { marked } from 'marked';
import type { ArticleChunk, ParsedArticle } from '../knowledge.types.js';
import { inlineText } from './markdown.js';

// Sizes in characters, about 4 to a token in English. Chatwoot's Captain cuts 400–800 tokens with
// 120 of overlap; support articles are shorter and more to the point than the documents that serves,
// and the prompt must hold several chunks at once (the best matches, from different articles) next to
// the conversation. So the ceiling is ~400 tokens (1600 chars), the overlap ~50 (200 chars): enough
// to carry the sentence before a cut. A section under ~50 tokens (200 chars) says too little to be
// found or understood alone, and joins the next one.
const DEFAULT_MAX_CHARS = 1600;
const DEFAULT_OVERLAP_CHARS = 200;
const MIN_SECTION_CHARS = 200;

export interface ChunkOptions {
  maxChars?: number;
  overlapChars?: number;
}

interface Heading {
  depth: number;
  text: string;
}

/** A block of Markdown as written (`raw`), with its token type: a paragraph splits by sentences, the rest by lines. */
interface Block {
  type: string;
  raw: string;
}

interface Section {
  path: Heading[];
  blocks: Block[];
}

/**
 * Cuts an article into chunks along its headings. Each section (the blocks under a heading) is a
 * chunk with the heading path above it; tiny sections join the next one under the same parent (the
 * headings they bring are kept in the text); a section over `maxChars` is cut at blocks, then
 * sentences, then words, each piece after the first starting with the end of the one before
 * (at most `overlapChars`, from a word boundary). No chunk is longer than maxChars + overlapChars.
 */
export function chunkArticle(article: ParsedArticle, options: ChunkOptions = {}): ArticleChunk[] {
  const maxChars = options.maxChars ?? DEFAULT_MAX_CHARS;
  const overlapChars = options.overlapChars ?? DEFAULT_OVERLAP_CHARS;
  if (!(maxChars > 0) || !(overlapChars >= 0) || overlapChars >= maxChars) {
    throw new RangeError(`chunk sizes need 0 <= overlapChars < maxChars, got ${overlapChars} and ${maxChars}`);
  }

  const chunks: ArticleChunk[] = [];
  for (const group of mergeSmallSections(sectionsOf(article), maxChars)) {
    const path = commonPath(group.map((s) => s.path));
    const text = renderGroup(group, path.length);
    const headingPath = path.map((h) => h.text);
    // Only a lone section can be too long: merging stops at maxChars.
    const pieces = text.length <= maxChars ? [text] : splitBlocks(group[0].blocks, maxChars, overlapChars);
    for (const text of pieces) chunks.push({ ordinal: chunks.length, headingPath, text });
  }
  return chunks;
}

function sectionsOf(article: ParsedArticle): Section[] {
  const sections: Section[] = [];
  let stack: Heading[] = [];
  let current: Section = { path: [], blocks: [] };
  let titleSeen = false;
  for (const token of marked.lexer(article.markdown)) {
    if (token.type !== 'heading') {
      current.blocks.push({ type: token.type, raw: token.raw });
      continue;
    }
    sections.push(current);
    const heading = { depth: token.depth as number, text: inlineText(token.tokens) || String(token.text).trim() };
    if (!titleSeen && heading.depth === 1 && sameText(heading.text, article.title)) {
      titleSeen = true; // the article's own title: shown apart, not a section of it
      stack = [];
    } else {
      while (stack.length > 0 && stack[stack.length - 1].depth >= heading.depth) stack.pop();
      stack.push(heading);
    }
    current = { path: [...stack], blocks: [] };
  }
  sections.push(current);
  return sections.filter((s) => joined(s.blocks) !== '');
}

/**
 * Groups the sections to chunk together: a section under MIN_SECTION_CHARS takes the next one in
 * if it sits under the same parent (a sibling, or below one); one still that small at the end of its
 * parent joins the group before it on the same terms. A group never grows past maxChars.
 */
function mergeSmallSections(sections: Section[], maxChars: number): Section[][] {
  const canJoin = (group: Section[], next: Section[]) =>
    startsWith(next[0].path, group[0].path.slice(0, -1)) && groupText([...group, ...next]).length <= maxChars;
  const forward: Section[][] = [];
  for (const section of sections) {
    const last = forward[forward.length - 1];
    if (last && groupText(last).length < MIN_SECTION_CHARS && canJoin(last, [section])) last.push(section);
    else forward.push([section]);
  }
  const groups: Section[][] = [];
  for (const group of forward) {
    const last = groups[groups.length - 1];
    if (last && groupText(group).length < MIN_SECTION_CHARS && canJoin(last, group)) last.push(...group);
    else groups.push(group);
  }
  return groups;
}

function groupText(group: Section[]): string {
  return renderGroup(group, commonPath(group.map((s) => s.path)).length);
}

/**
 * The Markdown of a group: a lone section as written; merged ones each introduced by the headings
 * below the shared path that it does not share with the section before.
 */
function renderGroup(group: Section[], sharedDepth: number): string {
  if (group.length === 1) return joined(group[0].blocks);
  return group
    .map((section, i) => {
      const from = i === 0 ? sharedDepth : Math.max(sharedDepth, commonPath([group[i - 1].path, section.path]).length);
      const headings = section.path.slice(from).map((h) => `${'#'.repeat(h.depth)} ${h.text}`);
      return [...headings, joined(section.blocks)].join('\n\n');
    })
    .join('\n\n');
}

function splitBlocks(blocks: Block[], maxChars: number, overlapChars: number): string[] {
  const pieces: string[] = [];
  let current = '';
  for (const atom of blocks.flatMap((b) => atomize(b, maxChars))) {
    if (current.trim() !== '' && (current + atom).trim().length > maxChars) {
      pieces.push(current);
      current = atom;
    } else {
      current += atom;
    }
  }
  if (current.trim() !== '') pieces.push(current);
  return pieces.map((piece, i) => (i === 0 ? piece.trim() : withOverlap(pieces[i - 1], piece, overlapChars)));
}

const sentences = new Intl.Segmenter('en', { granularity: 'sentence' });
const lines = (text: string): string[] => text.split(/(?<=\n)/);
const sentencesOf = (text: string): string[] => [...sentences.segment(text)].map((s) => s.segment);
const words = (text: string): string[] => text.split(/(?<=\s)(?=\S)/);

/** A block cut into pieces of at most maxChars: a paragraph at sentences, anything else at lines first. */
function atomize(block: Block, maxChars: number): string[] {
  if (block.raw.trim().length <= maxChars) return [block.raw];
  // A paragraph's line breaks are soft (they render as spaces), and would otherwise end "sentences".
  return block.type === 'paragraph'
    ? cut(block.raw.replace(/[ \t]*\n[ \t]*/g, ' '), maxChars, [sentencesOf, words])
    : cut(block.raw, maxChars, [lines, sentencesOf, words]);
}

function cut(text: string, maxChars: number, splitters: Array<(text: string) => string[]>): string[] {
  if (text.trim().length <= maxChars) return [text];
  const [split, ...finer] = splitters;
  if (!split) {
    const chars = [...text];
    const parts: string[] = [];
    for (let i = 0; i < chars.length; i += maxChars) parts.push(chars.slice(i, i + maxChars).join(''));
    return parts;
  }
  const parts = split(text);
  return parts.length > 1 ? parts.flatMap((p) => cut(p, maxChars, finer)) : cut(text, maxChars, finer);
}

/** The piece, preceded by the end of the previous one (at most overlapChars, starting at a word). */
function withOverlap(previous: string, piece: string, overlapChars: number): string {
  const between = (previous.match(/\s*$/)?.[0] ?? '') + (piece.match(/^\s*/)?.[0] ?? '');
  const joiner = between.includes('\n\n') ? '\n\n' : between.includes('\n') ? '\n' : ' ';
  const before = previous.trimEnd();
  const budget = overlapChars - joiner.length;
  if (budget <= 0) return piece.trim();
  let tail = before.slice(-budget);
  const cutInWord = tail.length < before.length && !/\s/.test(before[before.length - tail.length - 1]);
  if (cutInWord) tail = tail.replace(/^\S*/, '');
  tail = tail.trimStart();
  return tail === '' ? piece.trim() : `${tail}${joiner}${piece.trim()}`;
}

function joined(blocks: Block[]): string {
  return blocks
    .map((b) => b.raw)
    .join('')
    .trim();
}

function commonPath(paths: Heading[][]): Heading[] {
  const [first = [], ...rest] = paths;
  let length = first.length;
  for (const path of rest) {
    let i = 0;
    while (i < length && i < path.length && path[i] === first[i]) i++;
    length = i;
  }
  return first.slice(0, length);
}

function startsWith(path: Heading[], prefix: Heading[]): boolean {
  return prefix.every((heading, i) => path[i] === heading);
}

function sameText(a: string, b: string): boolean {
  const normalize = (s: string) => s.replace(/\s+/g, ' ').trim().toLowerCase();
  return normalize(a) === normalize(b);
}
