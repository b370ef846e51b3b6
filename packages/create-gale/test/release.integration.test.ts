import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { cleanEnv } from './support/starters.mjs';

// The release rehearsal (scripts/release-rehearsal.mjs, `pnpm release:rehearsal`) on a real
// registry: Verdaccio on a free port, every public package released to it from a scratch copy,
// then starters made with `npm create gale@latest` from it, built, started and answered; then a
// patch to @gale/frame alone, which must publish @gale/frame alone. The script checks each step
// and fails on the first that is wrong; this test runs it (two templates: the third adds nothing
// the starter tests do not cover) and checks its report. Needs `pnpm build` first and the npm
// registry (Verdaccio's uplink, for third-party packages).

const packageDir = fileURLToPath(new URL('../', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'gale-rehearsal-report-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface Published {
  name: string;
  version: string;
}
interface Report {
  rounds: { published: Published[]; frame?: string }[];
  starters: Record<string, { dependencies: Record<string, string> }>;
  timings: Record<string, number>;
  seconds: number;
}

it(
  'releases every public package, serves the starters, then releases a patch alone',
  async () => {
    const file = join(out, 'report.json');
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('node', ['scripts/release-rehearsal.mjs', '--report', file], {
        cwd: packageDir,
        env: cleanEnv({ REHEARSAL_TEMPLATES: 'echo,chat' }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => {
        text += chunk;
      });
      child.stderr.on('data', (chunk: Buffer) => {
        text += chunk;
      });
      child.once('error', reject);
      child.once('close', (code) =>
        code === 0
          ? resolve(text)
          : reject(new Error(`the rehearsal failed:\n${text.slice(-6000)}`)),
      );
    });
    const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
    console.log(
      `release rehearsal: ${report.seconds} s\n` +
        output
          .split('\n')
          .filter((line) => line.startsWith('rehearsal:'))
          .join('\n'),
    );
    const [first, second] = report.rounds;
    expect(first!.published.map((p) => p.name)).toEqual([
      '@gale/client',
      '@gale/frame',
      '@gale/io',
      '@gale/redis',
      '@gale/server',
      'create-gale',
    ]);
    // Nothing leaves 0.x on its first release: @gale/redis's peer range on @gale/server admits
    // every 0.x minor, so changesets does not force it to a major (see CONTRIBUTING.md).
    for (const { name, version } of first!.published) expect(`${name}@${version}`).toMatch(/@0\./);
    expect(second!.published).toEqual([
      { name: '@gale/frame', version: expect.stringMatching(/^\d+\.\d+\.[1-9]\d*$/) },
    ]);
    expect(Object.keys(report.starters).sort()).toEqual(['chat', 'echo']);
    // What each starter asked for and what npm installed: the versions released in round 1.
    for (const { dependencies } of Object.values(report.starters)) {
      for (const [dep, resolved] of Object.entries(dependencies)) {
        const version = first!.published.find((p) => p.name === dep)!.version;
        expect(resolved).toBe(`^${version} → ${version}`);
      }
    }
  },
  10 * 60_000,
);
