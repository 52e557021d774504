import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { collectArticles } from './sources.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/kb/', import.meta.url));
const fixture = (name: string) => readFileSync(`${fixtures}${name}`, 'utf8');

type Route = { status?: number; type?: string; body: string | Buffer; chunked?: boolean } | 'hang';

/** Serves the fixture folder under /kb/, plus the routes a test adds; anything else is a 404. */
class FixtureServer {
  readonly requests: Array<{ path: string; headers: IncomingHttpHeaders }> = [];
  private readonly routes = new Map<string, Route>();
  private server: Server;
  origin = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = req.url ?? '/';
      this.requests.push({ path, headers: req.headers });
      const route = this.routes.get(path) ?? this.fixtureRoute(path);
      if (route === 'hang') return; // never answers
      res.writeHead(route.status ?? 200, { 'content-type': route.type ?? 'text/html; charset=utf-8' });
      if (route.chunked) res.write(route.body); // no Content-Length: the size shows only while reading
      res.end(route.chunked ? undefined : route.body);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  route(path: string, route: Route): void {
    this.routes.set(path, route);
  }

  private fixtureRoute(path: string): Route {
    const types: Record<string, string> = { html: 'text/html; charset=utf-8', md: 'text/markdown', xml: 'application/xml' };
    const match = /^\/kb\/([\w-]+)\.(html|md|xml)$/.exec(path);
    if (!match) return { status: 404, type: 'text/plain', body: 'not found' };
    return { type: types[match[2]], body: fixture(`${match[1]}.${match[2]}`) };
  }
}

describe(collectArticles.name, () => {
  describe('files', () => {
    it('reads the Markdown files a glob matches, with their paths relative to baseDir as uris', async () => {
      const { articles, errors } = await collectArticles([{ path: '*.md' }], { baseDir: fixtures });

      expect(errors).toEqual([]);
      expect(articles.map((a) => [a.uri, a.title, a.url])).toEqual([
        ['billing.md', 'Billing and payments', null],
        ['getting-started.md', 'Getting started with Acme', 'https://help.acme.example/articles/getting-started'],
      ]);
    });

    it('reads an HTML file, reports a file of another kind and a glob that matches nothing', async () => {
      const { articles, errors } = await collectArticles(
        [{ path: 'help-page.html' }, { path: 'sitemap.xml' }, { path: 'missing/**/*.md' }],
        { baseDir: fixtures },
      );

      expect(articles.map((a) => [a.uri, a.title])).toEqual([['help-page.html', 'How to reset your password']]);
      expect(errors).toEqual([
        { source: 'missing/**/*.md', error: expect.stringContaining('no file matches') },
        { source: 'sitemap.xml', error: expect.stringContaining('not a Markdown') },
      ]);
    });

    it('keeps one article per uri, sorted by uri, and reports progress', async () => {
      const progress: Array<[number, number, string]> = [];

      const { articles } = await collectArticles([{ path: 'getting-started.md' }, { path: '*.{md,html}' }], {
        baseDir: fixtures,
        onProgress: (done, total, current) => progress.push([done, total, current]),
      });

      expect(articles.map((a) => a.uri)).toEqual(['billing.md', 'getting-started.md', 'help-page.html']);
      expect(progress.at(-1)).toEqual([4, 4, 'help-page.html']);
    });
  });

  describe('URLs', () => {
    const server = new FixtureServer();
    beforeAll(() => server.start());
    afterAll(() => server.stop());

    it('reads every page a sitemap lists, HTML and Markdown, sending its User-Agent', async () => {
      const { articles, errors } = await collectArticles([{ url: `${server.origin}/kb/sitemap.xml` }], { baseDir: fixtures });

      expect(errors).toEqual([]);
      expect(articles.map((a) => [a.uri, a.title, a.url])).toEqual([
        [
          `${server.origin}/kb/getting-started.md`,
          'Getting started with Acme',
          'https://help.acme.example/articles/getting-started',
        ],
        [`${server.origin}/kb/help-page.html`, 'How to reset your password', `${server.origin}/kb/help-page.html`],
      ]);
      expect(articles[1].markdown).toMatch(/^## From the web$/m);
      expect(articles[1].markdown).not.toContain('COOKIE_SHOULD_NOT_APPEAR');
      expect(server.requests.at(-1)?.headers['user-agent']).toBe('inbox-va-bridge-kb');
    });

    it('follows a sitemap index and reports a page that answers 404 while keeping the rest', async () => {
      server.route(
        '/index.xml',
        sitemap('sitemapindex', [`${server.origin}/kb/sitemap.xml`, `${server.origin}/more.xml`, `${server.origin}/gone.xml`]),
      );
      server.route('/more.xml', sitemap('urlset', [`${server.origin}/missing.html`, `${server.origin}/kb/help-page.html`]));

      const { articles, errors } = await collectArticles([{ url: `${server.origin}/index.xml` }], { baseDir: fixtures });

      expect(articles.map((a) => a.uri)).toEqual([`${server.origin}/kb/getting-started.md`, `${server.origin}/kb/help-page.html`]);
      expect(errors).toEqual([
        { source: `${server.origin}/gone.xml`, error: 'HTTP 404 Not Found' },
        { source: `${server.origin}/missing.html`, error: 'HTTP 404 Not Found' },
      ]);
    });

    it('reads a single page URL, and reports a server error, a non-http URL and an unsupported type', async () => {
      server.route('/broken.html', { status: 500, body: 'oops' });
      server.route('/manual.pdf', { type: 'application/pdf', body: '%PDF-1.4' });

      const { articles, errors } = await collectArticles(
        [
          { url: `${server.origin}/kb/help-page.html#top` },
          { url: `${server.origin}/broken.html` },
          { url: 'ftp://example.com/a.html' },
          { url: `${server.origin}/manual.pdf` },
        ],
        { baseDir: fixtures },
      );

      expect(articles.map((a) => a.uri)).toEqual([`${server.origin}/kb/help-page.html`]);
      expect(errors).toEqual([
        { source: 'ftp://example.com/a.html', error: 'not an http or https URL' },
        { source: `${server.origin}/broken.html`, error: 'HTTP 500 Internal Server Error' },
        { source: `${server.origin}/manual.pdf`, error: 'unsupported content type application/pdf' },
      ]);
    });

    it('stops at maxPages and says how many pages it skipped', async () => {
      const { articles, errors } = await collectArticles([{ url: `${server.origin}/kb/sitemap.xml` }], {
        baseDir: fixtures,
        maxPages: 1,
      });

      expect(articles).toHaveLength(1);
      expect(errors).toEqual([{ source: `${server.origin}/kb/sitemap.xml`, error: expect.stringContaining('1 skipped') }]);
    });

    it('gives up on a page that does not answer in time, or whose body is over 5 MB', async () => {
      const sixMegabytes = Buffer.alloc(6 * 1024 * 1024, 'a');
      server.route('/slow.html', 'hang');
      server.route('/huge.html', { body: sixMegabytes });
      server.route('/huge-chunked.html', { body: sixMegabytes, chunked: true });

      // Two runs: a short timeout for the page that never answers, a generous one for the big bodies,
      // so that a busy machine reading 6 MB slowly still meets the size limit first.
      const slow = await collectArticles([{ url: `${server.origin}/slow.html` }], { baseDir: fixtures, timeoutMs: 300 });
      const huge = await collectArticles(
        ['/huge.html', '/huge-chunked.html'].map((path) => ({ url: `${server.origin}${path}` })),
        { baseDir: fixtures, timeoutMs: 30_000 },
      );

      expect([...slow.articles, ...huge.articles]).toEqual([]);
      expect(slow.errors).toEqual([{ source: `${server.origin}/slow.html`, error: 'timed out after 300 ms' }]);
      expect(huge.errors).toEqual([
        { source: `${server.origin}/huge-chunked.html`, error: 'response larger than 5 MB' },
        { source: `${server.origin}/huge.html`, error: 'response larger than 5 MB' },
      ]);
    });

    it('reports a server that refuses the connection', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const { port } = closed.address() as AddressInfo;
      await new Promise((resolve) => closed.close(resolve));

      const { errors } = await collectArticles([{ url: `http://127.0.0.1:${port}/` }], { baseDir: fixtures });

      expect(errors).toEqual([{ source: `http://127.0.0.1:${port}/`, error: expect.stringMatching(/ECONNREFUSED/) }]);
    });

    it('uses the fetch it is given', async () => {
      const fetchStub: typeof fetch = async () =>
        new Response('# Hello\n\nFrom a stub.', { status: 200, headers: { 'content-type': 'text/markdown' } });

      const { articles } = await collectArticles([{ url: 'https://docs.example/hello' }], { baseDir: fixtures, fetch: fetchStub });

      expect(articles).toEqual([{ uri: 'https://docs.example/hello', title: 'Hello', url: 'https://docs.example/hello', markdown: '# Hello\n\nFrom a stub.' }]);
    });
  });
});

function sitemap(kind: 'urlset' | 'sitemapindex', urls: string[]): Route {
  const entry = kind === 'urlset' ? 'url' : 'sitemap';
  const body = urls.map((u) => `<${entry}><loc>${u}</loc></${entry}>`).join('');
  return { type: 'application/xml', body: `<?xml version="1.0"?><${kind} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">${body}</${kind}>` };
}
