import { relative } from 'node:path';

/** A path as a person reads it: relative to the working directory when under it, else absolute ("../../tmp/x" helps nobody). */
export function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') ? path : rel;
}
