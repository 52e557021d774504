import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadRunNameError, listRuns, renderMarkdown, runDirectory, runFile } from './console.evals.js';

describe(renderMarkdown.name, () => {
  it('shows raw HTML as text: a report can quote a contact who wrote <script>', () => {
    const sut = renderMarkdown('Contact: <script>alert(1)</script>\n\n<div onclick="x()">block</div>\n\n<img src=x onerror=alert(2)>').html;
    expect(sut).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(sut).toContain('&lt;div onclick=&quot;x()&quot;&gt;');
    expect(sut).not.toMatch(/<(script|div|img)\b/);
  });

  it('keeps http(s) links and drops script ones; images become links', () => {
    const sut = renderMarkdown('[ok](https://example.com) [bad](javascript:alert(1)) [data](data:text/html,x) ![pic](https://example.com/p.png)').html;
    expect(sut).toContain('<a href="https://example.com">ok</a>');
    expect(sut).not.toContain('javascript:');
    expect(sut).not.toContain('data:text');
    expect(sut).not.toContain('<img');
    expect(sut).toContain('[image: pic]');
  });

  it("puts the report's headings under the page's h1, and renders tables", () => {
    const sut = renderMarkdown('# Title\n\n## Part\n\n| a | b |\n|---|---|\n| 1 | 2 |\n').html;
    expect(sut).toContain('<h2>Title</h2>');
    expect(sut).toContain('<h3>Part</h3>');
    expect(sut).toContain('<table>');
  });
});

describe(runDirectory.name, () => {
  let root: string;
  let outside: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'iva-runs-'));
    outside = mkdtempSync(join(tmpdir(), 'iva-outside-'));
    mkdirSync(join(root, '2026-11-25T09-12-12-027Z'));
    writeFileSync(join(root, '2026-11-25T09-12-12-027Z', 'report.md'), '# r');
    writeFileSync(join(outside, 'report.md'), 'secret');
    symlinkSync(outside, join(root, 'escape'));
    symlinkSync(join(outside, 'report.md'), join(root, '2026-11-25T09-12-12-027Z', 'report.json'));
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('finds a run by its name', () => {
    expect(runDirectory(root, '2026-11-25T09-12-12-027Z')).toMatch(/2026-11-25T09-12-12-027Z$/);
    expect(runDirectory(root, '2026-01-01T00-00-00-000Z')).toBeUndefined();
    expect(runFile(root, '2026-11-25T09-12-12-027Z', 'report.md')).toMatch(/report\.md$/);
  });

  it.each(['..', '../x', 'a/b', 'a\\b', '.hidden', '', 'x..y', '%2e%2e', 'a\0b'])('refuses the name %p', (name) => {
    expect(() => runDirectory(root, name)).toThrow(BadRunNameError);
  });

  it('refuses a symlink that leads out of the results folder, and a file that is not a report', () => {
    expect(() => runDirectory(root, 'escape')).toThrow(BadRunNameError);
    expect(() => runFile(root, '2026-11-25T09-12-12-027Z', 'report.json')).toThrow(BadRunNameError);
    expect(() => runFile(root, '2026-11-25T09-12-12-027Z', '../../etc/passwd')).toThrow(BadRunNameError);
  });

  it('lists the runs, newest first, leaving out what leads outside', () => {
    mkdirSync(join(root, '2026-11-26T10-00-00-000Z-replay'));
    writeFileSync(join(root, '2026-11-26T10-00-00-000Z-replay', 'report.md'), '# r');
    const sut = listRuns(root);
    expect(sut.runs.map((r) => r.name)).toEqual(['2026-11-26T10-00-00-000Z-replay', '2026-11-25T09-12-12-027Z']);
    expect(sut.runs[0]).toMatchObject({ kind: 'replay', startedAt: new Date('2026-11-26T10:00:00.000Z') });
    expect(listRuns(join(root, 'nope'))).toEqual({ runs: [], missing: true, more: 0 });
  });
});
