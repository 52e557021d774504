import { readFileSync } from 'node:fs';
import { parseHtmlPage } from './html.js';

const fixture = readFileSync(new URL('../../../test/fixtures/kb/help-page.html', import.meta.url), 'utf8');

describe(parseHtmlPage.name, () => {
  const article = parseHtmlPage('https://help.acme.example/reset', fixture, 'https://help.acme.example/articles/reset');

  it('keeps the main content only: no navigation, cookie banner, script, style or footer', () => {
    expect(article.markdown).toContain('If you forgot your password');
    for (const absent of ['NAV_SHOULD_NOT_APPEAR', 'COOKIE_SHOULD_NOT_APPEAR', 'SCRIPT_SHOULD_NOT_APPEAR']) {
      expect(article.markdown).not.toContain(absent);
    }
    expect(article.markdown).not.toContain('FOOTER_SHOULD_NOT_APPEAR');
    expect(article.markdown).not.toContain('Accept all');
    expect(article.markdown).not.toContain('font-family');
  });

  it('keeps the headings as Markdown headings, lists with `-` and tables as pipe tables', () => {
    expect(article.markdown).toMatch(/^## From the web$/m);
    expect(article.markdown).toMatch(/^## From the mobile app$/m);
    expect(article.markdown).toMatch(/^### Password rules$/m);
    expect(article.markdown).toMatch(/^- Check your spam folder/m);
    expect(article.markdown).toContain('| Rule | Value |\n| --- | --- |\n| Minimum length | 12 characters |');
  });

  it('names the page by its h1 rather than the <title> with the site name', () => {
    expect(article).toMatchObject({
      uri: 'https://help.acme.example/reset',
      title: 'How to reset your password',
      url: 'https://help.acme.example/articles/reset',
    });
  });

  it('makes links absolute against the page URL', () => {
    expect(article.markdown).toContain('[Contact our support team](https://help.acme.example/contact)');
  });

  it('drops the chrome of a short page too, where Readability would keep it', () => {
    const html = `<html><head><title>Fees</title></head><body>
      <nav><a href="/">Home NAV</a></nav><div class="consent-popup">We use cookies COOKIE</div>
      <main><h1>Fees</h1><p>It costs $5 a month.</p></main><footer>FOOTER</footer></body></html>`;

    const short = parseHtmlPage('fees.html', html, null);

    expect(short.title).toBe('Fees');
    expect(short.markdown).toBe('It costs $5 a month.');
  });

  it('reads a fragment without <html> or <title>, named by its h1', () => {
    const fragment = parseHtmlPage('faq.html', '<h1>Opening hours</h1><p>We answer from 9 to 17, Monday to Friday.</p>', null);

    expect(fragment.title).toBe('Opening hours');
    expect(fragment.markdown).toContain('We answer from 9 to 17, Monday to Friday.');
  });

  it('replaces an inline data: image by its alt text', () => {
    const html = `<html><body><article><h1>Logo</h1><p>Our logo: <img alt="Acme logo" src="data:image/png;base64,${'A'.repeat(5000)}"></p>
      <p>Download it from the brand page. It comes in light and dark variants for every background.</p></article></body></html>`;

    const page = parseHtmlPage('logo.html', html, null);

    expect(page.markdown).toContain('Our logo: Acme logo');
    expect(page.markdown).not.toContain('base64');
  });
});
