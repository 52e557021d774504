import { readFileSync } from 'node:fs';
import { isSitemap, sitemapUrls } from './sitemap.js';

const fixture = readFileSync(new URL('../../../test/fixtures/kb/sitemap.xml', import.meta.url), 'utf8');

const sitemapIndex = `<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://help.example/sitemap-articles.xml</loc><lastmod>2024-01-01</lastmod></sitemap>
  <sitemap><loc> https://help.example/sitemap-faq.xml </loc></sitemap>
</sitemapindex>`;

describe(sitemapUrls.name, () => {
  it('lists the pages of a urlset', () => {
    expect(sitemapUrls(fixture)).toEqual({ pages: ['help-page.html', 'getting-started.md'], sitemaps: [] });
  });

  it('lists the nested sitemaps of a sitemapindex, trimmed', () => {
    expect(sitemapUrls(sitemapIndex)).toEqual({
      pages: [],
      sitemaps: ['https://help.example/sitemap-articles.xml', 'https://help.example/sitemap-faq.xml'],
    });
  });

  it('reads a single entry, decodes entities, accepts a namespace prefix and drops duplicates', () => {
    const xml = `<sm:urlset xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9">
      <sm:url><sm:loc>https://help.example/a?x=1&amp;y=2</sm:loc></sm:url>
      <sm:url><sm:loc>https://help.example/a?x=1&amp;y=2</sm:loc></sm:url>
    </sm:urlset>`;

    expect(sitemapUrls(xml).pages).toEqual(['https://help.example/a?x=1&y=2']);
    expect(sitemapUrls('<urlset><url><loc>https://help.example/only</loc></url></urlset>').pages).toEqual([
      'https://help.example/only',
    ]);
  });

  it('finds nothing in a document that is not a sitemap', () => {
    expect(sitemapUrls('<html><body><a href="/x">x</a></body></html>')).toEqual({ pages: [], sitemaps: [] });
  });
});

describe(isSitemap.name, () => {
  it('recognises a urlset, an empty urlset and a sitemapindex', () => {
    expect(isSitemap(fixture)).toBe(true);
    expect(isSitemap('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>')).toBe(
      true,
    );
    expect(isSitemap(sitemapIndex)).toBe(true);
  });

  it('rejects an HTML page, an RSS feed, plain text and broken XML', () => {
    expect(isSitemap('<!doctype html><html><head><title>urlset</title></head><body>sitemapindex</body></html>')).toBe(
      false,
    );
    expect(isSitemap('<?xml version="1.0"?><rss><channel><item><link>https://x</link></item></channel></rss>')).toBe(
      false,
    );
    expect(isSitemap('urlset sitemapindex')).toBe(false);
    expect(isSitemap('')).toBe(false);
  });

  it('is lenient, as sitemaps in the wild are: an unescaped & still reads', () => {
    const xml = '<urlset><url><loc>https://help.example/a?x=1&y=2</loc></url></urlset>';

    expect(isSitemap(xml)).toBe(true);
    expect(sitemapUrls(xml).pages).toEqual(['https://help.example/a?x=1&y=2']);
  });
});
