import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { glob } from 'tinyglobby';
import type { ParsedArticle, SourceError } from '../knowledge.types.js';
import { parseHtmlPage } from './html.js';
import { parseMarkdownFile } from './markdown.js';
import { isSitemap, sitemapUrls } from './sitemap.js';
import { mapPool } from '../../common/map-pool.js';

/** Where an agent's knowledge comes from: files (a glob relative to the agents file's folder) or a page or sitemap URL. */
export type KnowledgeSource = { path: string } | { url: string };

export interface CollectOptions {
  /** The folder `path` globs are relative to, and article uris too. */
  baseDir: string;
  fetch?: typeof fetch;
  /** Per request, body included. */
  timeoutMs?: number;
  /** Pages read from URLs in all, sitemaps not counted; the rest of a sitemap is skipped with an error. */
  maxPages?: number;
  /** After each file, page or sitemap; `total` grows as sitemaps are read. */
  onProgress?: (done: number, total: number, current: string) => void;
}

export interface CollectedArticles {
  /** One per uri, sorted by uri. */
  articles: ParsedArticle[];
  errors: SourceError[];
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_PAGES = 500;
const PARALLEL_FETCHES = 4;
const MAX_BODY_BYTES = 5 * 1024 * 1024;
// An index of sitemaps of sitemaps… is followed this deep; deeper ones are unheard of.
const MAX_SITEMAP_DEPTH = 3;
const USER_AGENT = 'inbox-va-bridge-kb';

/**
 * Reads every source into articles. A file or page that fails is reported in `errors` (with the
 * HTTP status for a page) and the others are kept; the first article read for a uri wins.
 */
export async function collectArticles(sources: KnowledgeSource[], options: CollectOptions): Promise<CollectedArticles> {
  const run = new Collection(options);
  for (const source of sources) {
    if ('path' in source) await run.files(source.path);
    else await run.url(source.url);
  }
  return run.result();
}

interface Fetched {
  url: string;
  contentType: string;
  body: string;
}

class Collection {
  private readonly articles = new Map<string, ParsedArticle>();
  private readonly errors: SourceError[] = [];
  private readonly baseDir: string;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;
  private pagesLeft: number;
  private done = 0;
  private total = 0;

  constructor(private readonly options: CollectOptions) {
    this.baseDir = path.resolve(options.baseDir);
    this.fetchFn = options.fetch ?? fetch;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.pagesLeft = options.maxPages ?? DEFAULT_MAX_PAGES;
  }

  result(): CollectedArticles {
    const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    return {
      articles: [...this.articles.values()].sort((a, b) => byString(a.uri, b.uri)),
      errors: [...this.errors].sort((a, b) => byString(a.source, b.source)),
    };
  }

  async files(pattern: string): Promise<void> {
    const files = (await glob(pattern, { cwd: this.baseDir, absolute: true, onlyFiles: true })).sort();
    if (files.length === 0) {
      this.errors.push({ source: pattern, error: `no file matches in ${this.baseDir}` });
      return;
    }
    this.total += files.length;
    for (const file of files) {
      // Relative to the agents file when under its folder; else absolute ("../../x" would name nothing).
      const relative = path.relative(this.baseDir, file);
      const uri = (relative.startsWith('..') ? path.resolve(file) : relative).split(path.sep).join('/');
      await this.attempt(uri, async () => {
        if (/\.(md|markdown)$/i.test(file)) return parseMarkdownFile(uri, await readFile(file, 'utf8'));
        if (/\.html?$/i.test(file)) return parseHtmlPage(uri, await readFile(file, 'utf8'), null);
        throw new Error('not a Markdown (.md, .markdown) or HTML (.html, .htm) file');
      });
    }
  }

  async url(url: string): Promise<void> {
    this.total += 1;
    let fetched: Fetched;
    try {
      fetched = await this.fetchText(url);
    } catch (error) {
      this.fail(url, error);
      return;
    }
    if (!/html/.test(fetched.contentType) && isSitemap(fetched.body)) {
      const pages = await this.sitemapPages(fetched, new Set([url]), 1);
      this.step(url);
      await this.pages(url, pages);
    } else {
      await this.attempt(pageUri(url), async () => this.parsePage(url, fetched));
    }
  }

  /** The page URLs of a sitemap and of the sitemaps it lists, as many as the page budget allows. */
  private async sitemapPages(sitemap: Fetched, seen: Set<string>, depth: number): Promise<string[]> {
    // A <loc> should be absolute; a relative one is read against the sitemap's own URL.
    const { pages, sitemaps } = sitemapUrls(sitemap.body);
    // The sitemap protocol's own rule, and the guard against a sitemap that lists internal hosts:
    // only locations on the sitemap's origin are fetched.
    const origin = new URL(sitemap.url).origin;
    const listed = [...pages, ...sitemaps].map((u) => resolveUrl(u, sitemap.url));
    const foreign = listed.filter((u) => safeOrigin(u) !== origin);
    if (foreign.length) this.errors.push({ source: sitemap.url, error: `lists ${foreign.length} location(s) on another origin than ${origin}, not fetched (e.g. ${foreign[0]})` });
    const found = pages.map((u) => resolveUrl(u, sitemap.url)).filter((u) => safeOrigin(u) === origin);
    for (const nested of sitemaps.map((u) => resolveUrl(u, sitemap.url)).filter((u) => safeOrigin(u) === origin)) {
      if (found.length >= this.pagesLeft) break;
      if (seen.has(nested)) continue;
      seen.add(nested);
      if (depth >= MAX_SITEMAP_DEPTH) {
        this.errors.push({ source: nested, error: `sitemap nested deeper than ${MAX_SITEMAP_DEPTH} levels, skipped` });
        continue;
      }
      try {
        const fetched = await this.fetchText(nested);
        if (!isSitemap(fetched.body)) throw new Error('listed as a sitemap, but is not one');
        found.push(...(await this.sitemapPages(fetched, seen, depth + 1)));
      } catch (error) {
        this.fail(nested, error);
      }
    }
    return [...new Set(found)];
  }

  private async pages(sitemapUrl: string, listed: string[]): Promise<void> {
    const fresh = listed.filter((u) => !this.articles.has(pageUri(u)));
    const pages = fresh.slice(0, Math.max(this.pagesLeft, 0));
    if (pages.length < fresh.length) {
      this.errors.push({
        source: sitemapUrl,
        error: `lists ${fresh.length} pages, more than the ${this.options.maxPages ?? DEFAULT_MAX_PAGES} allowed: ${fresh.length - pages.length} skipped`,
      });
    }
    this.pagesLeft -= pages.length;
    this.total += pages.length;
    await mapPool(pages, PARALLEL_FETCHES, (page) => this.attempt(pageUri(page), async () => this.parsePage(page, await this.fetchText(page))));
  }

  private parsePage(requested: string, fetched: Fetched): ParsedArticle {
    const uri = pageUri(requested);
    const type = fetched.contentType;
    const pathname = new URL(fetched.url).pathname;
    // text/plain is Markdown only at a .md path: a plain-text endpoint is not a help article.
    if (/^text\/(x-)?markdown$/.test(type) || /\.(md|markdown)$/i.test(pathname)) {
      const article = parseMarkdownFile(uri, fetched.body);
      return { ...article, url: article.url ?? fetched.url };
    }
    if (type === '' || type === 'text/html' || type === 'application/xhtml+xml') {
      return parseHtmlPage(uri, fetched.body, fetched.url);
    }
    throw new Error(`unsupported content type ${type}`);
  }

  private async fetchText(url: string): Promise<Fetched> {
    const protocol = safeProtocol(url);
    if (protocol !== 'http:' && protocol !== 'https:') throw new Error('not an http or https URL');
    // Redirects are followed by hand, and only within the origin asked for: a help centre that starts
    // redirecting elsewhere (a login page, an internal host) is reported, not indexed.
    const signal = AbortSignal.timeout(this.timeoutMs);
    let target = url;
    let response: Response;
    for (let hops = 0; ; hops++) {
      response = await this.fetchFn(target, {
        headers: { 'User-Agent': USER_AGENT, Accept: 'text/html, application/xhtml+xml, text/markdown, application/xml;q=0.9, */*;q=0.5' },
        signal,
        redirect: 'manual',
      });
      const location = response.status >= 300 && response.status < 400 ? response.headers.get('location') : null;
      if (!location) break;
      await response.body?.cancel().catch(() => undefined);
      const next = resolveUrl(location, target);
      if (safeOrigin(next) !== safeOrigin(url)) throw new Error(`redirected to another origin (${safeOrigin(next) ?? next}), not followed`);
      if (hops >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
      target = next;
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw new Error(`HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
    }
    const contentType = response.headers.get('content-type') ?? '';
    const body = await readCapped(response);
    return { url: target, contentType: mimeType(contentType), body: decode(body, contentType) };
  }

  private async attempt(uri: string, read: () => Promise<ParsedArticle>): Promise<void> {
    try {
      const article = await read();
      if (!this.articles.has(article.uri)) this.articles.set(article.uri, article);
    } catch (error) {
      this.fail(uri, error);
    } finally {
      this.step(uri);
    }
  }

  private fail(source: string, error: unknown): void {
    this.errors.push({ source, error: errorMessage(error, this.timeoutMs) });
  }

  private step(current: string): void {
    this.done += 1;
    this.options.onProgress?.(this.done, this.total, current);
  }
}

async function readCapped(response: Response): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length'));
  if (declared > MAX_BODY_BYTES) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error(`response larger than ${MAX_BODY_BYTES / 1024 / 1024} MB`);
  }
  if (!response.body) return new Uint8Array();
  const reader = response.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`response larger than ${MAX_BODY_BYTES / 1024 / 1024} MB`);
    }
    parts.push(value);
  }
  return Buffer.concat(parts);
}

function decode(body: Uint8Array, contentType: string): string {
  const charset = /charset\s*=\s*"?([\w.:-]+)/i.exec(contentType)?.[1] ?? 'utf-8';
  try {
    return new TextDecoder(charset).decode(body);
  } catch {
    return new TextDecoder('utf-8').decode(body);
  }
}

function mimeType(contentType: string): string {
  return contentType.split(';')[0].trim().toLowerCase();
}

/** A page's identity: its URL without the #fragment. */
function pageUri(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.hash = '';
    return parsed.href;
  } catch {
    return url;
  }
}

function resolveUrl(url: string, base: string): string {
  try {
    return new URL(url, base).href;
  } catch {
    return url;
  }
}

function safeProtocol(url: string): string | null {
  try {
    return new URL(url).protocol;
  } catch {
    return null;
  }
}

// Duck-typed: a fetch abort is a DOMException, which is no `instanceof Error` across realms (as under jest).
function errorMessage(error: unknown, timeoutMs: number): string {
  const { name, message, cause } = (error ?? {}) as { name?: unknown; message?: unknown; cause?: { message?: unknown } };
  if (name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
  if (typeof message !== 'string') return String(error);
  return typeof cause?.message === 'string' ? `${message}: ${cause.message}` : message;
}

const MAX_REDIRECTS = 5;

function safeOrigin(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}
