import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { ParsedArticle } from '../knowledge.types.js';
import { chunkArticle } from './chunker.js';
import { parseMarkdownFile } from './markdown.js';

const fixture = (name: string) =>
  parseMarkdownFile(name, readFileSync(new URL(`../../../test/fixtures/kb/${name}`, import.meta.url), 'utf8'));
const article = (markdown: string, title = 'Article'): ParsedArticle => ({ uri: 'a.md', title, url: null, markdown });
const sentence = (i: number) => `Sentence number ${i} explains one more detail of the procedure in plain words.`;

describe(chunkArticle.name, () => {
  describe('heading paths', () => {
    it('gives each section the headings above it, without the article title', () => {
      const chunks = chunkArticle(fixture('billing.md'));

      expect(chunks.map((c) => c.headingPath)).toEqual([
        [],
        ['Invoices', 'Downloading an invoice'],
        ['Invoices', 'Downloading an invoice'],
        ['Invoices', 'Changing the billing address'],
        ['Refunds'],
      ]);
      expect(chunks.map((c) => c.ordinal)).toEqual([0, 1, 2, 3, 4]);
    });

    it('pops back to the right level, and ignores # lines inside code', () => {
      const long = (label: string) => `${label}: ${'detail '.repeat(40)}`;
      const markdown = [
        '# Article',
        '## A',
        '### A1',
        long('a1'),
        '```sh\n# not a heading\necho hi\n```',
        '#### A1x',
        long('a1x'),
        '## B',
        long('b'),
      ].join('\n\n');

      const chunks = chunkArticle(article(markdown));

      expect(chunks.map((c) => c.headingPath)).toEqual([['A', 'A1'], ['A', 'A1', 'A1x'], ['B']]);
      expect(chunks[0].text).toContain('# not a heading');
    });

    it('keeps a top heading that is not the title', () => {
      const chunks = chunkArticle(article(`# Welcome\n\n${'Some words here. '.repeat(15)}`, 'Getting started'));

      expect(chunks.map((c) => c.headingPath)).toEqual([['Welcome']]);
    });

    it('makes no chunk for headings without text', () => {
      expect(chunkArticle(article('# Article\n\n## Empty\n\n### Still empty\n'))).toEqual([]);
      expect(chunkArticle(article(''))).toEqual([]);
    });
  });

  describe('merging', () => {
    it('merges tiny sibling sections under their parent, keeping their headings in the text', () => {
      const markdown = [
        '# Article',
        '## Plans',
        '### Monthly',
        '29 EUR per seat.',
        '### Yearly',
        '290 EUR per seat.',
        '## Refunds',
        `Refund rules. ${'More about refunds. '.repeat(12)}`,
      ].join('\n\n');

      const chunks = chunkArticle(article(markdown));

      expect(chunks).toEqual([
        { ordinal: 0, headingPath: ['Plans'], text: '### Monthly\n\n29 EUR per seat.\n\n### Yearly\n\n290 EUR per seat.' },
        { ordinal: 1, headingPath: ['Refunds'], text: expect.stringMatching(/^Refund rules\./) },
      ]);
    });

    it('does not merge across parents when neither side is small', () => {
      const body = 'Words that make a section long enough to stand alone. '.repeat(5);
      const chunks = chunkArticle(article(`## A\n\n${body}\n\n## B\n\n${body}`));

      expect(chunks.map((c) => c.headingPath)).toEqual([['A'], ['B']]);
    });

    it('lets a small last section join the one before under the same parent', () => {
      const chunks = chunkArticle(fixture('getting-started.md'));

      expect(chunks.at(-1)).toMatchObject({ headingPath: ['Welcome to Acme'] });
      expect(chunks.at(-1)?.text).toMatch(/^## Invite your team\n\n[\s\S]*\n\n## Connect a channel\n\nOpen/);
    });
  });

  describe('splitting', () => {
    it('splits a long section at paragraphs and repeats the end of the previous piece, from a word', () => {
      const chunks = chunkArticle(fixture('billing.md')).filter((c) => c.headingPath[1] === 'Downloading an invoice');
      const [first, second] = chunks.map((c) => c.text);

      expect(chunks).toHaveLength(2);
      expect(first).toMatch(/Credit notes appear in the list too\.$/);
      const overlap = second.split('\n\n')[0];
      expect(overlap.length).toBeLessThanOrEqual(200);
      expect(overlap.length).toBeGreaterThan(150);
      expect(first.endsWith(overlap)).toBe(true);
      expect(first[first.length - overlap.length - 1]).toMatch(/\s/);
      expect(second).toMatch(/\n\nSome companies need a purchase order number/);
    });

    it('splits a paragraph longer than maxChars at sentences', () => {
      const paragraph = Array.from({ length: 20 }, (_, i) => sentence(i)).join(' ');

      const chunks = chunkArticle(article(paragraph), { maxChars: 300, overlapChars: 0 });

      expect(chunks.length).toBeGreaterThan(4);
      for (const chunk of chunks) {
        expect(chunk.text).toMatch(/^Sentence number \d+ .*\.$/);
        expect(chunk.text.length).toBeLessThanOrEqual(300);
      }
      expect(chunks.map((c) => c.text).join(' ')).toBe(paragraph);
    });

    it('cuts a single word longer than maxChars rather than exceed it', () => {
      const chunks = chunkArticle(article(`Link: ${'x'.repeat(1000)}`), { maxChars: 300, overlapChars: 50 });

      for (const chunk of chunks) expect(chunk.text.length).toBeLessThanOrEqual(350);
      expect(chunks.map((c) => c.ordinal)).toEqual(chunks.map((_, i) => i));
    });

    it('refuses an overlap as long as the chunk', () => {
      expect(() => chunkArticle(article('x'), { maxChars: 100, overlapChars: 100 })).toThrow(RangeError);
    });

    it('never makes an empty chunk nor one longer than maxChars + overlapChars, in order', () => {
      const block = fc.oneof(
        fc.integer({ min: 1, max: 6 }).chain((depth) => fc.constantFrom(`${'#'.repeat(depth)} Heading ${depth}`)),
        fc.array(fc.integer({ min: 0, max: 99 }), { minLength: 1, maxLength: 30 }).map((ns) => ns.map(sentence).join(' ')),
        fc.array(fc.integer({ min: 0, max: 99 }), { minLength: 1, maxLength: 30 }).map((ns) => ns.map((n) => `- ${sentence(n)}`).join('\n')),
        fc.string({ minLength: 1, maxLength: 800 }),
      );
      const sizes = fc.integer({ min: 80, max: 2000 }).chain((max) => fc.tuple(fc.constant(max), fc.integer({ min: 0, max: max - 1 })));

      fc.assert(
        fc.property(fc.array(block, { maxLength: 25 }), sizes, (blocks, [maxChars, overlapChars]) => {
          const chunks = chunkArticle(article(blocks.join('\n\n')), { maxChars, overlapChars });
          return chunks.every(
            (c, i) => c.ordinal === i && c.text.trim() !== '' && c.text === c.text.trim() && c.text.length <= maxChars + overlapChars,
          );
        }),
      );
    });

    it('keeps every fixture chunk within the default bound', () => {
      for (const name of ['billing.md', 'getting-started.md']) {
        for (const chunk of chunkArticle(fixture(name))) expect(chunk.text.length).toBeLessThanOrEqual(1800);
      }
    });
  });
});
