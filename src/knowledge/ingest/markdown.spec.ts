import { readFileSync } from 'node:fs';
import { parseMarkdownFile } from './markdown.js';

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/kb/${name}`, import.meta.url), 'utf8');

describe(parseMarkdownFile.name, () => {
  it('keeps the front matter title and url, and the body without the front matter', () => {
    const article = parseMarkdownFile('getting-started.md', fixture('getting-started.md'));

    expect(article).toMatchObject({
      uri: 'getting-started.md',
      title: 'Getting started with Acme',
      url: 'https://help.acme.example/articles/getting-started',
    });
    expect(article.markdown.startsWith('# Welcome to Acme')).toBe(true);
    expect(article.markdown).not.toContain('title:');
  });

  it('takes the title from the first # heading when the front matter has none', () => {
    const article = parseMarkdownFile('billing.md', fixture('billing.md'));

    expect(article.title).toBe('Billing and payments');
    expect(article.url).toBeNull();
  });

  it('takes the plain text of the heading, without its inline Markdown', () => {
    const article = parseMarkdownFile('a.md', '---\nurl: https://x.example/a\n---\nIntro.\n\n# Reset **your** `password`\n');

    expect(article.title).toBe('Reset your password');
    expect(article.url).toBe('https://x.example/a');
  });

  it('falls back to the file name when there is neither a title nor a # heading', () => {
    const article = parseMarkdownFile('docs/reset-password.md', 'Some text.\n\n## Not a title\n\nMore.');

    expect(article.title).toBe('reset-password');
  });

  it('reads a title that YAML parses as a number as text, and ignores an empty one', () => {
    expect(parseMarkdownFile('a.md', '---\ntitle: 2024\n---\nx').title).toBe('2024');
    expect(parseMarkdownFile('b.md', '---\ntitle: ""\n---\n# Heading\nx').title).toBe('Heading');
  });

  it('refuses JavaScript front matter instead of running it', () => {
    const source = "---js\n{ title: (globalThis.__kbPwned = 'yes') }\n---\nbody";

    expect(() => parseMarkdownFile('evil.md', source)).toThrow(/JavaScript front matter/);
    expect((globalThis as Record<string, unknown>).__kbPwned).toBeUndefined();
  });

  it('throws on invalid YAML front matter', () => {
    expect(() => parseMarkdownFile('bad.md', '---\ntitle: [oops\n---\nbody')).toThrow();
  });
});
