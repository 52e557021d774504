import { XMLParser } from 'fast-xml-parser';

type Entry = { loc?: unknown };
type SitemapXml = { urlset?: { url?: Entry[] } | string; sitemapindex?: { sitemap?: Entry[] } | string };

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true, // `<sm:urlset>` as well as `<urlset xmlns=…>`
  parseTagValue: false, // a <loc> stays a string
  ignoreDeclaration: true,
  isArray: (tagName) => tagName === 'url' || tagName === 'sitemap',
});

/** The page URLs of a `<urlset>` and the nested sitemaps of a `<sitemapindex>`, in document order, without duplicates. */
export function sitemapUrls(xml: string): { pages: string[]; sitemaps: string[] } {
  const parsed = parse(xml);
  return {
    pages: locations(typeof parsed?.urlset === 'object' ? parsed.urlset.url : undefined),
    sitemaps: locations(typeof parsed?.sitemapindex === 'object' ? parsed.sitemapindex.sitemap : undefined),
  };
}

/** Whether the text is an XML sitemap (a `<urlset>` or a `<sitemapindex>`), rather than a page. */
export function isSitemap(xml: string): boolean {
  if (!xml.trimStart().startsWith('<')) return false;
  const parsed = parse(xml);
  return parsed !== null && (parsed.urlset !== undefined || parsed.sitemapindex !== undefined);
}

function parse(xml: string): SitemapXml | null {
  try {
    const parsed: unknown = parser.parse(xml);
    return parsed && typeof parsed === 'object' ? (parsed as SitemapXml) : null;
  } catch {
    return null;
  }
}

function locations(entries: Entry[] | undefined): string[] {
  const urls = (entries ?? []).map((e) => (typeof e?.loc === 'string' ? e.loc.trim() : '')).filter((u) => u !== '');
  return [...new Set(urls)];
}
