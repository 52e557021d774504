import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafeHtml, VIEWS_DIR, createViews, format, scriptJson } from './console.views.js';

describe(createViews.name, () => {
  it('escapes what a template prints, except HTML our own code built', () => {
    const sut = createViews();
    expect(sut.renderString('<%= it.a %>|<%= it.b %>|<%= it.c %>', { a: '<b onclick="x">&\'', b: new SafeHtml('<i>ok</i>'), c: null })).toBe(
      '&lt;b onclick=&quot;x&quot;&gt;&amp;&#39;|<i>ok</i>|',
    );
  });

  it('prints raw (<%~) only partials and the layout body, never data', () => {
    for (const file of readdirSync(VIEWS_DIR).filter((f) => f.endsWith('.eta'))) {
      const source = readFileSync(join(VIEWS_DIR, file), 'utf8');
      for (const [raw] of source.matchAll(/<%~[^%]*%>/g)) expect([file, raw]).toEqual([file, expect.stringMatching(/^<%~ (include\(|it\.body %>)/)]);
    }
  });
});

describe(scriptJson.name, () => {
  it('cannot close its script element', () => {
    const sut = scriptJson({ label: '</script><script>alert(1)</script><!--', sep: '\u2028' }).html;
    expect(sut).not.toMatch(/[<>&\u2028]/);
    expect(JSON.parse(sut)).toEqual({ label: '</script><script>alert(1)</script><!--', sep: '\u2028' });
  });
});

describe('format.time', () => {
  it('gives a time element with a UTC text for readers without JavaScript', () => {
    expect(String(format.time(new Date('2026-11-25T09:12:03.400Z'), { relative: true }))).toBe(
      '<time datetime="2026-11-25T09:12:03.400Z" data-relative>2026-11-25 09:12:03 UTC</time>',
    );
    expect(format.time(null)).toBe('–');
  });
});
