import { Readability } from '@mozilla/readability';
import { parseHTML } from 'linkedom';
import TurndownService from 'turndown';
import type { ParsedArticle } from '../knowledge.types.js';

type HtmlDocument = ReturnType<typeof parseHTML>['document'];
type HtmlElement = ReturnType<HtmlDocument['createElement']>;

/**
 * A web page reduced to its main content, as Markdown with its headings (`##`…) kept. Readability
 * picks the content; when it finds none, the page's <main>, <article> or <body> is used. Either way
 * the site's chrome (navigation, cookie banners, scripts, forms) is removed first: on a short page
 * Readability keeps whatever surrounds the text. Links and images are made absolute against `url`.
 */
export function parseHtmlPage(uri: string, html: string, url: string | null): ParsedArticle {
  const document = loadDocument(html, url);
  const pageTitle = textOf(document.querySelector('title'));
  const firstH1 = textOf(document.querySelector('h1'));

  const readable = new Readability(document).parse();
  let contentHtml = readable?.content ?? '';
  if (!hasText(readable?.textContent)) {
    // Readability mutates the document it reads: start again from the source.
    const fresh = loadDocument(html, url);
    const main = fresh.querySelector('main') ?? fresh.querySelector('article') ?? fresh.querySelector('[role="main"]');
    contentHtml = (main ?? fresh.body)?.innerHTML ?? '';
  }

  return {
    uri,
    title: chooseTitle(readable?.title?.trim() || pageTitle, firstH1) || uri,
    url,
    markdown: turndown.turndown(contentHtml).trim(),
  };
}

/** Readability keeps the site name (`Reset your password | Acme Help`); the page's own h1 inside it is the better name. */
function chooseTitle(title: string, firstH1: string): string {
  if (!title) return firstH1;
  if (firstH1 && title !== firstH1 && title.includes(firstH1)) return firstH1;
  return title;
}

function loadDocument(html: string, url: string | null): HtmlDocument {
  let { document } = parseHTML(html);
  // linkedom makes a fragment's first element the document element; Readability needs <html><body>.
  if (document.documentElement?.nodeName !== 'HTML' || !document.body) {
    document = parseHTML(`<!doctype html><html><head></head><body>${html}</body></html>`).document;
  }
  removeChrome(document);
  if (url) absolutizeLinks(document, url);
  return document;
}

const ALWAYS_REMOVED = 'script, style, noscript, template, iframe, object, embed, svg, canvas, nav, form, dialog';
// A site's header, footer and sidebar, unless they belong to the content itself.
const REMOVED_OUTSIDE_CONTENT = 'header, footer, aside, [role="navigation"], [role="banner"], [role="contentinfo"]';
const CONSENT = /cookie|consent|gdpr|banner/i;
const NEVER_REMOVED_FOR_CONSENT = new Set(['HTML', 'HEAD', 'BODY', 'MAIN', 'ARTICLE']);

function removeChrome(document: HtmlDocument): void {
  for (const element of [...document.querySelectorAll(ALWAYS_REMOVED)]) element.remove();
  for (const element of [...document.querySelectorAll(REMOVED_OUTSIDE_CONTENT)]) {
    if (!element.parentElement?.closest('article, main, [role="main"]')) element.remove();
  }
  for (const element of [...document.querySelectorAll('[id], [class]')]) {
    if (NEVER_REMOVED_FOR_CONSENT.has(element.nodeName)) continue;
    const names = `${element.getAttribute('id') ?? ''} ${element.getAttribute('class') ?? ''}`;
    if (CONSENT.test(names)) element.remove();
  }
}

function absolutizeLinks(document: HtmlDocument, url: string): void {
  const baseHref = document.querySelector('base[href]')?.getAttribute('href');
  const base = resolve(baseHref ?? '', url) ?? url;
  for (const [selector, attribute] of [
    ['a[href]', 'href'],
    ['img[src]', 'src'],
  ] as const) {
    for (const element of [...document.querySelectorAll(selector)]) {
      const value = element.getAttribute(attribute) ?? '';
      if (value.startsWith('#')) continue;
      const absolute = resolve(value, base);
      if (absolute && !/^javascript:/i.test(absolute)) element.setAttribute(attribute, absolute);
      else element.removeAttribute(attribute);
    }
  }
}

function resolve(href: string, base: string): string | null {
  try {
    return new URL(href, base).href;
  } catch {
    return null;
  }
}

function textOf(element: HtmlElement | null): string {
  return (element?.textContent ?? '').replace(/\s+/g, ' ').trim();
}

function hasText(text: string | null | undefined): boolean {
  return !!text && text.trim() !== '';
}

const turndown = createTurndown();

/** The little of domino's DOM (Turndown parses with domino, not linkedom) that the rules below use. */
interface DominoElement {
  nodeName: string;
  parentNode: DominoElement | null;
  nextSibling: unknown;
  children: ArrayLike<DominoElement>;
  getAttribute(name: string): string | null;
  getElementsByTagName(name: string): ArrayLike<DominoElement>;
}

function createTurndown(): TurndownService {
  const service = new TurndownService({ headingStyle: 'atx', bulletListMarker: '-', codeBlockStyle: 'fenced' });
  service.remove(['script', 'style', 'noscript', 'template', 'iframe', 'button', 'select', 'input', 'textarea']);

  // Turndown writes `-   item` (marker padded to four columns); one space is what people write.
  service.addRule('listItem', {
    filter: 'li',
    replacement(content, node) {
      const item = node as unknown as DominoElement;
      const parent = item.parentNode;
      let prefix = '- ';
      if (parent?.nodeName === 'OL') {
        const start = Number(parent.getAttribute('start') ?? 1) || 1;
        prefix = `${start + Array.prototype.indexOf.call(parent.children, item)}. `;
      }
      const isParagraph = /\n$/.test(content);
      const body = content.replace(/^\n+|\n+$/g, '') + (isParagraph ? '\n' : '');
      return prefix + body.replace(/\n/g, `\n${' '.repeat(prefix.length)}`) + (item.nextSibling ? '\n' : '');
    },
  });

  // Turndown has no tables without its GFM plugin (not installed): a plain pipe table, first row as header.
  service.addRule('tableSection', { filter: ['thead', 'tbody', 'tfoot'], replacement: (content) => content });
  service.addRule('tableCell', {
    filter: ['th', 'td'],
    replacement: (content) => ` ${content.replace(/\s*\n+\s*/g, ' ').replace(/\|/g, '\\|').trim()} |`,
  });
  service.addRule('tableRow', {
    filter: 'tr',
    replacement(content, node) {
      const row = node as unknown as DominoElement;
      let table = row.parentNode;
      while (table && table.nodeName !== 'TABLE') table = table.parentNode;
      const isFirst = table?.getElementsByTagName('tr')[0] === row;
      const cells = Array.prototype.filter.call(row.children, (c: DominoElement) => /^T[HD]$/.test(c.nodeName)).length;
      return `|${content}\n${isFirst ? `|${' --- |'.repeat(Math.max(cells, 1))}\n` : ''}`;
    },
  });
  service.addRule('table', { filter: 'table', replacement: (content) => `\n\n${content.trim()}\n\n` });

  // An inline image (`data:`) would put kilobytes of base64 into the text: its alt text stands in.
  service.addRule('image', {
    filter: 'img',
    replacement(_content, node) {
      const image = node as unknown as DominoElement;
      const alt = (image.getAttribute('alt') ?? '').replace(/\s+/g, ' ').trim();
      const src = image.getAttribute('src') ?? '';
      return /^https?:\/\//i.test(src) ? `![${alt}](${src})` : alt;
    },
  });
  return service;
}
