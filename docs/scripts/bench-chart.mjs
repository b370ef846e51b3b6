// public/bench-server.svg: the `gale ÷ ws` ratios of the server benchmark as a bar chart, shown
// by the benchmarks page and the root README (so it is committed). The figures come from the
// table in packages/server/README.md: the published run, which its author copies from a
// `pnpm bench` (benchmarks/bench-results/ is not committed). After changing that table, run
// `pnpm --filter @gale/docs chart` and commit the chart; test/chart.test.ts fails until then.
// A static SVG: no chart library, nothing to run at page load.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const chartFile = new URL('../public/bench-server.svg', import.meta.url);

/** The chart of the `gale ÷ ws` table in packages/server/README.md, as SVG text. */
export function renderChart() {
  const root = new URL('../../', import.meta.url);
  const readme = readFileSync(new URL('packages/server/README.md', root), 'utf8');
  const table = readme.slice(readme.indexOf('| gale ÷ ws |'));
  /** @type {{ label: string, ratio: number, text: string, lowerIsBetter: boolean }[]} */
  const rows = [];
  for (const line of table.split('\n').slice(2)) {
    const match = /^\| (.+?) \| ([\d.]+)× \|$/.exec(line.trim());
    if (!match) break;
    const label = match[1] ?? '';
    rows.push({
      label,
      ratio: Number(match[2]),
      text: `${match[2]}×`,
      lowerIsBetter: /^RSS/.test(label),
    });
  }
  if (rows.length === 0) throw new Error('no `gale ÷ ws` table in packages/server/README.md');

  const escapeXml = (text) =>
    text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const width = 900;
  const labelWidth = 500;
  const barArea = width - labelWidth - 70;
  const rowHeight = 34;
  const top = 40;
  const height = top + rows.length * rowHeight + 30;
  const max = Math.max(...rows.map((row) => row.ratio), 1);
  const scale = (value) => (Math.log10(value + 1) / Math.log10(max + 1)) * barArea;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-labelledby="title">`,
    '<title id="title">Gale ÷ ws, server benchmark (2 cores)</title>',
    '<style>text{font:13px system-ui,sans-serif;fill:#333}.v{font-weight:600}</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${labelWidth}" y="22">gale ÷ ws (log scale; the line is 1×, ws)</text>`,
  ];
  rows.forEach((row, index) => {
    const y = top + index * rowHeight;
    const good = row.lowerIsBetter ? row.ratio <= 1 : row.ratio >= 1;
    const label = row.lowerIsBetter ? `${row.label} (lower is better)` : row.label;
    parts.push(
      `<text x="${labelWidth - 10}" y="${y + 18}" text-anchor="end">${escapeXml(label)}</text>`,
      `<rect x="${labelWidth}" y="${y + 5}" width="${scale(row.ratio).toFixed(1)}" height="${rowHeight - 12}" fill="${good ? '#3c8772' : '#c0504d'}"/>`,
      `<text class="v" x="${(labelWidth + scale(row.ratio) + 6).toFixed(1)}" y="${y + 18}">${row.text}</text>`,
    );
  });
  const one = labelWidth + scale(1);
  parts.push(
    `<line x1="${one.toFixed(1)}" y1="${top}" x2="${one.toFixed(1)}" y2="${top + rows.length * rowHeight}" stroke="#333" stroke-dasharray="4 3"/>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const svg = renderChart();
  writeFileSync(chartFile, svg);
  console.log(
    `bench-chart: ${svg.split('<text class="v"').length - 1} rows → public/bench-server.svg`,
  );
}
