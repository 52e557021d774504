import matter from 'gray-matter';
import { marked, type Token, type Tokens } from 'marked';
import type { ParsedArticle } from '../knowledge.types.js';

// Passing options at all stops gray-matter from keeping every input in its module-wide cache, which
// would grow without bound over a crawl. Its `---js` front matter is `eval`ed: refused, since a
// fetched page must never run code here.
const refuseJavaScript = (): never => {
  throw new Error('JavaScript front matter is not supported');
};
const MATTER_OPTIONS = { engines: { javascript: refuseJavaScript, js: refuseJavaScript } };

/**
 * A Markdown article: front matter `title` and `url` are kept, the body is the Markdown without
 * the front matter. Without a front matter title, the first `#` heading, then the file name, names it.
 * Invalid YAML front matter throws (the caller reports it as a source error).
 */
export function parseMarkdownFile(uri: string, source: string): ParsedArticle {
  const { data, content } = matter(source, MATTER_OPTIONS);
  const markdown = content.replace(/\r\n?/g, '\n').trim();
  return {
    uri,
    title: nonEmptyString(data.title) ?? firstTopHeading(markdown) ?? nameOf(uri),
    url: nonEmptyString(data.url),
    markdown,
  };
}

/** The plain text of a heading (or any inline) token list: `## Sec **A** [b](x)` → `Sec A b`. */
export function inlineText(tokens: Token[] | undefined): string {
  if (!tokens) return '';
  return tokens
    .map((t) => {
      if (t.type === 'html') return '';
      if ('tokens' in t && t.tokens) return inlineText(t.tokens);
      return 'text' in t && typeof t.text === 'string' ? t.text : '';
    })
    .join('')
    .replace(/\s+/g, ' ')
    .trim();
}

function firstTopHeading(markdown: string): string | null {
  const heading = marked.lexer(markdown).find((t): t is Tokens.Heading => t.type === 'heading' && t.depth === 1);
  return heading ? inlineText(heading.tokens) || null : null;
}

/** `docs/reset-password.md` → `reset-password`; a URL's last path segment likewise. */
function nameOf(uri: string): string {
  let path = uri;
  if (/^https?:\/\//i.test(uri)) {
    try {
      path = new URL(uri).pathname;
    } catch {
      // not a URL after all: use it as a path
    }
  }
  const base = path.replace(/\/+$/, '').split('/').pop() ?? '';
  return base.replace(/\.(md|markdown|html?)$/i, '') || uri;
}

function nonEmptyString(value: unknown): string | null {
  if (value === undefined || value === null || typeof value === 'object') return null;
  const text = String(value).trim();
  return text === '' ? null : text;
}
