/** Minimal SVG charts for bench/RESULTS.md: no dependency, readable in any browser or on GitHub. */
export interface Series {
  name: string;
  points: Array<[number, number]>;
  color?: string;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const mag = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((m) => m >= v) ?? v;
}

export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[], opts: { xCategorical?: string[]; ticksAtData?: boolean } = {}): string {
  const W = 860, H = 420, L = 70, R = 250, T = 48, B = 55;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xMin = Math.min(...xs), xMax = Math.max(...xs);
  const yMax = niceMax(Math.max(...ys));
  const px = (x: number) => L + (xMax === xMin ? 0.5 : (x - xMin) / (xMax - xMin)) * (W - L - R);
  const py = (y: number) => T + (1 - y / yMax) * (H - T - B);
  const parts: string[] = [];
  parts.push(`<text x="${L}" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const y = (yMax * i) / 5;
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`);
    parts.push(`<text x="${L - 6}" y="${py(y) + 4}" text-anchor="end" font-size="11">${+y.toPrecision(3)}</text>`);
  }
  const ticks = opts.xCategorical || opts.ticksAtData ? xs.filter((v, i, a) => a.indexOf(v) === i) : Array.from({ length: 6 }, (_, i) => xMin + ((xMax - xMin) * i) / 5);
  for (const x of ticks) {
    const label = opts.xCategorical ? opts.xCategorical[x] ?? String(x) : String(+x.toPrecision(3));
    parts.push(`<text x="${px(x)}" y="${H - B + 18}" text-anchor="middle" font-size="11">${esc(label)}</text>`);
  }
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const d = s.points.map(([x, y], j) => `${j ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const [x, y] of s.points) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${color}"/>`);
    parts.push(`<rect x="${W - R + 14}" y="${T + i * 20}" width="12" height="12" fill="${color}"/><text x="${W - R + 32}" y="${T + i * 20 + 10}" font-size="12">${esc(s.name)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`;
}

/** Grouped bars: one group per category, one bar per series; a value that is not finite is shown as n/a. */
export function barChart(title: string, yLabel: string, categories: string[], series: Array<{ name: string; values: number[] }>): string {
  const W = 860, H = 420, L = 70, R = 250, T = 48, B = 55;
  const yMax = niceMax(Math.max(...series.flatMap((s) => s.values).filter(Number.isFinite)));
  const py = (y: number) => T + (1 - y / yMax) * (H - T - B);
  const groupW = (W - L - R) / categories.length;
  const barW = (groupW * 0.7) / series.length;
  const parts: string[] = [`<text x="${L}" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`];
  for (let i = 0; i <= 5; i++) {
    const y = (yMax * i) / 5;
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/><text x="${L - 6}" y="${py(y) + 4}" text-anchor="end" font-size="11">${+y.toPrecision(3)}</text>`);
  }
  categories.forEach((c, ci) => {
    const x0 = L + ci * groupW + groupW * 0.15;
    series.forEach((s, si) => {
      const v = s.values[ci];
      if (!Number.isFinite(v)) {
        // No figure for this series here: say so rather than draw a zero.
        parts.push(`<text x="${(x0 + si * barW + barW / 2).toFixed(1)}" y="${H - B - 4}" text-anchor="middle" font-size="10">n/a</text>`);
        return;
      }
      parts.push(`<rect x="${(x0 + si * barW).toFixed(1)}" y="${py(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(H - B - py(v)).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"/>`);
      parts.push(`<text x="${(x0 + si * barW + barW / 2).toFixed(1)}" y="${(py(v) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${+v.toPrecision(3)}</text>`);
    });
    parts.push(`<text x="${(x0 + (series.length * barW) / 2).toFixed(1)}" y="${H - B + 18}" text-anchor="middle" font-size="11">${esc(c)}</text>`);
  });
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>`);
  parts.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(yLabel)}</text>`);
  series.forEach((s, i) => parts.push(`<rect x="${W - R + 14}" y="${T + i * 20}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/><text x="${W - R + 32}" y="${T + i * 20 + 10}" font-size="12">${esc(s.name)}</text>`));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`;
}
