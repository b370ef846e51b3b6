import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script, without types
import { chartFile, renderChart } from '../scripts/bench-chart.mjs';

// The benchmark chart is committed (the root README shows it, where no build runs): it must be
// the chart of the table in packages/server/README.md as it is now.
it('the committed chart is the one the server README’s table makes (`pnpm --filter @gale/docs chart`)', () => {
  const svg: string = renderChart();
  expect(svg).toContain('<svg');
  expect(svg.split('<text class="v"').length - 1).toBeGreaterThan(3);
  expect(readFileSync(chartFile, 'utf8')).toBe(svg);
});

it('the benchmarks page shows the same table as packages/server/README.md', () => {
  const table = (file: URL) => {
    const text = readFileSync(file, 'utf8');
    const start = text.indexOf('| gale ÷ ws |');
    return text.slice(start, text.indexOf('\n\n', start));
  };
  const page = table(new URL('../benchmarks.md', import.meta.url));
  expect(page).toMatch(/\| \d/);
  expect(page).toBe(table(new URL('../../packages/server/README.md', import.meta.url)));
});
