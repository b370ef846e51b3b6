import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The `block`th (from 0) ```js block of `packageDir`'s README.md, exactly as printed. The first
 * ones of packages/{frame,server,client,redis} are examples/ files (examples/test checks them).
 */
export async function readmeExample(packageDir: string, block = 0): Promise<string> {
  const readme = await readFile(join(packageDir, 'README.md'), 'utf8');
  const code = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)][block]?.[1];
  if (code === undefined) {
    throw new Error(`${packageDir}/README.md has no \`\`\`js example number ${block}`);
  }
  return code;
}

/**
 * The one ```sh block of the README `file` for which `predicate` holds, exactly as printed (a
 * recipe a test runs with `runShellRecipe`). Chosen by what it says rather than by its place, so
 * that a block added above it cannot change what the test runs; throws if no block or several
 * match.
 */
export async function readmeShellBlock(
  file: string,
  predicate: (block: string) => boolean,
): Promise<string> {
  const readme = await readFile(file, 'utf8');
  const blocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
  const matching = blocks.filter(predicate);
  if (matching.length !== 1) {
    throw new Error(
      `${file}: ${matching.length} of its ${blocks.length} \`\`\`sh blocks match ${predicate}, not exactly one`,
    );
  }
  return matching[0]!;
}

/**
 * Runs the first (or the `block`th, from 0) ```js block of `packageDir`'s README.md exactly as
 * printed, as a module inside the package (so that it imports the package by its own name, from
 * its build, and the package's dependencies), and resolves with what it printed. Rejects if it fails or takes over `timeoutMs`.
 */
export async function runReadmeExample(
  packageDir: string,
  timeoutMs = 30_000,
  block = 0,
): Promise<{ stdout: string; stderr: string }> {
  const code = await readmeExample(packageDir, block);
  // Inside the package, outside node_modules: only there does the package import itself by name.
  // A folder of its own per run: two test files of a package may run the same example at once.
  await mkdir(join(packageDir, '.cache'), { recursive: true });
  const dir = await mkdtemp(join(packageDir, '.cache', 'readme-example-'));
  const file = join(dir, 'example.mjs');
  await writeFile(file, code);
  try {
    return await run(process.execPath, [file], { cwd: packageDir, timeout: timeoutMs });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
