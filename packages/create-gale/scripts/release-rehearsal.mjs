// The release rehearsal: a release of this repository to a real npm registry (Verdaccio, on a free
// port with throwaway storage), then the starters as a user gets them from it.
//
//   pnpm release:rehearsal                      (every template; REHEARSAL_TEMPLATES=echo,chat for some)
//   node scripts/release-rehearsal.mjs --report out.json   (also writes what happened as JSON)
//
// Round 1, a release: on a scratch copy of the repository (its files as they are, tracked and
// untracked but not ignored, and the packages' built dist/; `pnpm build` first), `changeset
// version`, the templates rebuilt with the new versions, and `pnpm publish -r` of every public
// package with a throwaway user's token. Then, in an empty directory outside the workspace with
// only that registry configured: `npm create gale@latest my-<template> -- --template <template>`,
// `npm install`, `npm run build`, `npm start`, the page (HTTP 200 with the app's element) and a
// WebSocket exchange (@gale/client's Node build from the workspace); and `npm run dev` starts.
// For the first template also `pnpm create gale`, `pnpm install` and `pnpm build`.
//
// Round 2, a patch to @gale/frame alone: `changeset version` and `pnpm publish -r` again, which
// must publish @gale/frame only (pnpm skips versions the registry has). The packages that depend
// on it are not re-released: changesets leaves `workspace:^` ranges as they are (so
// `updateInternalDependencies` has nothing to update and bumps no dependent), and their
// published `^x.y.z` ranges already take the patch, which a fresh install proves. create-gale
// is not re-released either: its starters write @gale/client, @gale/server, @gale/io and
// @gale/redis, not @gale/frame (see test/changesets.test.ts for what keeps create-gale released
// whenever those change).
//
// Third-party packages come from the public registry through Verdaccio's uplink; @gale/* and
// create-gale only from what was published here. Exits non-zero on the first thing that is wrong.
import { strict as assert } from 'node:assert';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import semver from 'semver';
import { runServer } from 'verdaccio';
import { checkPage, cleanEnv, command, STARTERS, startServer } from '../test/support/starters.mjs';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
/** The packages that go to the registry: every public one. */
const LOCAL_ONLY = ['@gale/*', 'create-gale'];

/** Runs the rehearsal; resolves with what happened (see the end of the function). */
export async function rehearse(options = {}) {
  const templates = options.templates ?? Object.keys(STARTERS);
  const log = options.log ?? ((line) => console.log(`rehearsal: ${line}`));
  const timings = {};
  const started = performance.now();
  const step = async (label, fn) => {
    const start = performance.now();
    log(`${label}…`);
    try {
      return await fn();
    } finally {
      timings[label] = Number(((performance.now() - start) / 1000).toFixed(1));
    }
  };

  for (const dir of ['frame', 'io', 'server', 'client', 'redis', 'create-gale']) {
    if (!existsSync(join(repoRoot, 'packages', dir, 'dist'))) {
      throw new Error(`packages/${dir} is not built: run \`pnpm build\` first`);
    }
  }
  const work = mkdtempSync(join(tmpdir(), 'gale-release-rehearsal-'));
  assert.ok(
    relative(repoRoot, work).startsWith('..'),
    'the scratch directory is outside the workspace',
  );
  const registry = await step('start verdaccio', () => startRegistry(join(work, 'registry')));
  const report = { registry: registry.url, rounds: [], timings };
  try {
    const token = await addUser(registry.url);
    const scratch = join(work, 'repo');
    await step('scratch copy', () => scratchCopy(scratch, registry.url, token));

    // ─── Round 1: the release ───────────────────────────────────────────────────────────────
    const first = await step('round 1: changeset version + publish', () =>
      versionAndPublish(scratch, registry.url),
    );
    log(`round 1 published ${first.published.map((p) => `${p.name}@${p.version}`).join(', ')}`);
    const publicPackages = publicWorkspacePackages(scratch);
    assert.deepEqual(
      first.published.map((p) => p.name).sort(),
      publicPackages.map((p) => p.name).sort(),
      'round 1 publishes every public package',
    );
    await checkPublishedManifests(registry.url, publicPackages);
    report.rounds.push({ published: first.published });

    const user = join(work, 'user');
    mkdirSync(user);
    // Only this registry: the project's .npmrc and the environment name it, and the user's own
    // ~/.npmrc is not read. `npm create` gets an empty cache (an npx cache of an earlier run must
    // not answer create-gale@latest); installs share the machine's cache for third-party tarballs.
    writeFileSync(join(user, '.npmrc'), `registry=${registry.url}\n`);
    const userEnv = (extra = {}) =>
      cleanEnv({
        npm_config_registry: registry.url,
        npm_config_userconfig: join(user, '.npmrc'),
        npm_config_audit: 'false',
        npm_config_fund: 'false',
        npm_config_update_notifier: 'false',
        ...extra,
      });
    report.starters = {};
    for (const template of templates) {
      const starter = STARTERS[template];
      assert.ok(starter, `no template ${template}`);
      const name = `my-${template}`;
      const app = join(user, name);
      await step(`${template}: npm create gale@latest`, () =>
        command('npm', ['create', '--yes', 'gale@latest', name, '--', '--template', template], {
          cwd: user,
          env: userEnv({ npm_config_cache: join(work, `npx-cache-${template}`) }),
        }),
      );
      const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
      for (const [dep, range] of Object.entries(pkg.dependencies)) {
        if (!dep.startsWith('@gale/')) continue;
        const released = first.published.find((p) => p.name === dep);
        assert.equal(range, `^${released?.version}`, `${name} depends on the released ${dep}`);
      }
      await step(`${template}: npm install`, () =>
        command('npm', ['install'], { cwd: app, env: userEnv() }),
      );
      await step(`${template}: npm run build`, () =>
        command('npm', ['run', 'build'], { cwd: app, env: userEnv() }),
      );
      const server = await step(`${template}: npm start`, () =>
        startServer(app, template, {
          env: userEnv({ PORT: '0', HOST: '127.0.0.1', COOKIE_SECRET: 'rehearsal-secret' }),
        }),
      );
      try {
        await checkPage(server.url, starter.tag);
        await starter.exchange(server.url);
      } finally {
        await server.stop();
      }
      const dev = await step(`${template}: npm run dev`, () =>
        startServer(app, template, {
          script: 'dev',
          env: userEnv({ PORT: '0', HOST: '127.0.0.1' }),
          ready: /Local:\s+http:\/\//,
          timeoutMs: 60_000,
        }),
      );
      try {
        const page = await fetch(dev.url);
        assert.equal(page.status, 200, 'npm run dev serves the page');
      } finally {
        await dev.stop();
      }
      const installed = (dep) =>
        JSON.parse(readFileSync(join(app, 'node_modules', dep, 'package.json'), 'utf8')).version;
      report.starters[template] = {
        dependencies: Object.fromEntries(
          Object.keys(pkg.dependencies)
            .filter((dep) => dep.startsWith('@gale/'))
            .map((dep) => [dep, `${pkg.dependencies[dep]} → ${installed(dep)}`]),
        ),
      };
      log(`${template}: page and WebSocket answered; npm run dev started`);
    }

    // pnpm users: `pnpm create gale` (pnpm dlx create-gale), `pnpm install`, `pnpm build`, with
    // a fresh dlx cache so that an earlier run's create-gale cannot answer.
    const pnpmTemplate = templates[0];
    const pnpmApp = join(user, `my-pnpm-${pnpmTemplate}`);
    const pnpmEnv = userEnv({
      npm_config_cache_dir: join(work, 'pnpm-cache'),
      npm_config_dlx_cache_max_age: '0',
    });
    await step(`${pnpmTemplate}: pnpm create gale`, () =>
      command('pnpm', ['create', 'gale', `my-pnpm-${pnpmTemplate}`, '--template', pnpmTemplate], {
        cwd: user,
        env: pnpmEnv,
      }),
    );
    const pnpmPkg = JSON.parse(readFileSync(join(pnpmApp, 'package.json'), 'utf8'));
    for (const [dep, range] of Object.entries(pnpmPkg.dependencies)) {
      const released = first.published.find((p) => p.name === dep);
      if (released) assert.equal(range, `^${released.version}`, `pnpm create: ${dep}`);
    }
    await step(`${pnpmTemplate}: pnpm install`, () =>
      command('pnpm', ['install', '--registry', registry.url], { cwd: pnpmApp, env: pnpmEnv }),
    );
    await step(`${pnpmTemplate}: pnpm build`, () =>
      command('pnpm', ['build'], { cwd: pnpmApp, env: pnpmEnv }),
    );
    assert.ok(existsSync(join(pnpmApp, 'dist/server.js')), 'pnpm build wrote dist/server.js');
    log(`${pnpmTemplate}: pnpm create gale, pnpm install and pnpm build worked`);

    // The README's third way, `npx create-gale`: the same starter as `npm create gale@latest`
    // made (its files only: the installs and runs above covered them).
    const npxApp = join(user, `my-npx-${pnpmTemplate}`);
    await step(`${pnpmTemplate}: npx create-gale`, () =>
      command(
        'npx',
        ['--yes', 'create-gale', `my-npx-${pnpmTemplate}`, '--template', pnpmTemplate],
        {
          cwd: user,
          env: userEnv({ npm_config_cache: join(work, 'npx-cache-npx') }),
        },
      ),
    );
    const npxPkg = JSON.parse(readFileSync(join(npxApp, 'package.json'), 'utf8'));
    const npmPkg = JSON.parse(
      readFileSync(join(user, `my-${pnpmTemplate}`, 'package.json'), 'utf8'),
    );
    assert.deepEqual(
      { ...npxPkg, name: undefined },
      { ...npmPkg, name: undefined },
      'npx create-gale writes the package.json npm create gale@latest wrote',
    );
    assert.ok(existsSync(join(npxApp, 'README.md')), 'npx create-gale wrote the README');

    // ─── Round 2: a patch to @gale/frame alone ──────────────────────────────────────────────
    writeFileSync(
      join(scratch, '.changeset/rehearsal-frame-patch.md'),
      '---\n"@gale/frame": patch\n---\n\nA patch, in the release rehearsal.\n',
    );
    const second = await step('round 2: changeset version + publish', () =>
      versionAndPublish(scratch, registry.url),
    );
    log(`round 2 published ${second.published.map((p) => `${p.name}@${p.version}`).join(', ')}`);
    const frameBefore = first.published.find((p) => p.name === '@gale/frame').version;
    const frameAfter = second.published.find((p) => p.name === '@gale/frame')?.version;
    assert.deepEqual(
      second.published.map((p) => p.name),
      ['@gale/frame'],
      'a patch to @gale/frame publishes @gale/frame alone',
    );
    assert.equal(frameAfter, bumpPatch(frameBefore));
    // Its dependents' released versions and ranges are unchanged, and take the patch: a fresh
    // install of the latest @gale/client and @gale/server gets the new @gale/frame, once.
    for (const pkg of publicWorkspacePackages(scratch)) {
      if (pkg.name === '@gale/frame') continue;
      const released = first.published.find((p) => p.name === pkg.name).version;
      assert.equal(pkg.version, released, `${pkg.name} keeps its version`);
      assert.equal(await latest(registry.url, pkg.name), released);
    }
    const fresh = join(user, 'fresh');
    mkdirSync(fresh);
    writeFileSync(join(fresh, 'package.json'), '{"name":"fresh","private":true,"type":"module"}\n');
    await step('round 2: fresh install', () =>
      command('npm', ['install', '@gale/client', '@gale/server', '@gale/redis'], {
        cwd: fresh,
        env: userEnv(),
      }),
    );
    const lock = JSON.parse(readFileSync(join(fresh, 'package-lock.json'), 'utf8'));
    const frames = Object.entries(lock.packages).filter(([path]) =>
      path.endsWith('node_modules/@gale/frame'),
    );
    assert.deepEqual(
      frames.map(([, entry]) => entry.version),
      [frameAfter],
      'one @gale/frame, the patched one, under the released dependents',
    );
    report.rounds.push({ published: second.published, frame: `${frameBefore} → ${frameAfter}` });
  } finally {
    await registry.close();
    if (!options.keep) await rm(work, { recursive: true, force: true, maxRetries: 3 });
  }
  report.seconds = Number(((performance.now() - started) / 1000).toFixed(1));
  log(`done in ${report.seconds} s`);
  return report;
}

/** Verdaccio on 127.0.0.1:<free port>, with its storage, htpasswd and config under `dir`. */
async function startRegistry(dir) {
  mkdirSync(join(dir, 'storage'), { recursive: true });
  // The registry third-party packages come from: the one npm is configured with, else npmjs.
  const upstream = process.env.npm_config_registry || 'https://registry.npmjs.org/';
  const local = { access: '$all', publish: '$authenticated', unpublish: '$authenticated' };
  const config = {
    self_path: join(dir, 'config.yaml'),
    storage: join(dir, 'storage'),
    auth: { htpasswd: { file: join(dir, 'htpasswd'), max_users: 10 } },
    // A slow or failed fetch from the public registry must not take the uplink down: by default
    // Verdaccio answers 404 for every package for 5 minutes after 2 failures (seen in CI, on a
    // loaded machine, as a 404 for @tsconfig/strictest).
    uplinks: {
      npmjs: { url: upstream, timeout: '120s', max_fails: 100, fail_timeout: '1s' },
    },
    packages: {
      // Ours only from here: no proxy, so nothing of the public registry's can stand in for them.
      ...Object.fromEntries(LOCAL_ONLY.map((pattern) => [pattern, local])),
      '@*/*': { ...local, proxy: 'npmjs' },
      '**': { ...local, proxy: 'npmjs' },
    },
    max_body_size: '200mb',
    web: { enable: false },
    middlewares: { audit: { enabled: false } },
    log: { type: 'stdout', format: 'pretty', level: 'error' },
  };
  writeFileSync(config.self_path, JSON.stringify(config, null, 2));
  const server = await runServer(config);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const registry = {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
  // Verdaccio answers 404 for a third-party package when it cannot reach its uplink (a TLS
  // proxy whose CA is only in NODE_EXTRA_CA_CERTS, which turbo's strict env mode drops, is one
  // way): say so here rather than as a missing package in the middle of a starter's install.
  const probe = await fetch(new URL('lit', registry.url));
  if (probe.status !== 200) {
    await registry.close();
    throw new Error(
      `Verdaccio cannot fetch from its uplink ${upstream} (GET /lit: ${probe.status}). Check ` +
        'that this process can reach it: npm_config_registry, HTTPS_PROXY, NODE_EXTRA_CA_CERTS.',
    );
  }
  return registry;
}

/** A throwaway user (as `npm adduser` makes one); resolves with its token. */
async function addUser(url) {
  const name = 'rehearsal';
  const response = await fetch(new URL(`-/user/org.couchdb.user:${name}`, url), {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name, password: `pw-${process.pid}-${Date.now()}`, type: 'user' }),
  });
  assert.equal(
    response.status,
    201,
    `adduser: ${response.status} ${await response.clone().text()}`,
  );
  const { token } = await response.json();
  assert.ok(token);
  return token;
}

/**
 * The repository's files as they are (tracked and untracked, not ignored) and the packages' built
 * dist/, in `scratch`, as a git repository of its own; node_modules is the workspace's (for the
 * changesets CLI). Its .npmrc sends publishing to the registry with the token.
 */
async function scratchCopy(scratch, url, token) {
  mkdirSync(scratch);
  const files = (
    await command('git', ['ls-files', '-z', '-co', '--exclude-standard'], { cwd: repoRoot })
  )
    .split('\0')
    .filter((file) => file !== '' && existsSync(join(repoRoot, file)));
  for (const file of files) {
    mkdirSync(dirname(join(scratch, file)), { recursive: true });
    cpSync(join(repoRoot, file), join(scratch, file));
  }
  for (const pkg of publicWorkspacePackages(repoRoot)) {
    cpSync(join(pkg.dir, 'dist'), join(scratch, relative(repoRoot, pkg.dir), 'dist'), {
      recursive: true,
      filter: (source) => !source.endsWith('.tsbuildinfo'),
    });
  }
  await command('ln', ['-s', join(repoRoot, 'node_modules'), join(scratch, 'node_modules')]);
  const host = url.replace(/^https?:/, '');
  writeFileSync(join(scratch, '.npmrc'), `registry=${url}\n${host}:_authToken=${token}\n`);
  await command('git', ['init', '--quiet'], { cwd: scratch });
  await commitAll(scratch, 'scratch');
}

/** Commits everything in the scratch copy: changesets reads what changed from its history. */
async function commitAll(scratch, message) {
  const author = ['-c', 'user.name=rehearsal', '-c', 'user.email=rehearsal@localhost'];
  await command('git', ['add', '--all'], { cwd: scratch });
  await command('git', [...author, 'commit', '--quiet', '-m', message], { cwd: scratch });
}

/**
 * `changeset version`, the templates rebuilt with the new versions (as `pnpm build` would), then
 * `pnpm publish -r` as a release publishes: resolves with what it published.
 */
async function versionAndPublish(scratch, url) {
  // Only the rehearsal's registry, named three ways, and not the maintainer's ~/.npmrc (which may
  // hold a token for the public registry): nothing here can publish anywhere else.
  const env = cleanEnv({
    npm_config_registry: url,
    npm_config_userconfig: join(scratch, '.npmrc'),
  });
  await command(join(repoRoot, 'node_modules/.bin/changeset'), ['version'], { cwd: scratch, env });
  await command('node', ['packages/create-gale/scripts/copy-templates.mjs'], { cwd: scratch, env });
  const summary = join(scratch, 'pnpm-publish-summary.json');
  await rm(summary, { force: true });
  await command(
    'pnpm',
    ['publish', '--recursive', '--registry', url, '--no-git-checks', '--report-summary'],
    {
      cwd: scratch,
      env,
    },
  );
  const { publishedPackages } = JSON.parse(readFileSync(summary, 'utf8'));
  await rm(summary);
  await commitAll(scratch, 'version');
  return {
    published: publishedPackages
      .map(({ name, version }) => ({ name, version }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  };
}

/** The workspace's public packages under packages/: name, version, dir. */
function publicWorkspacePackages(root) {
  const dir = join(root, 'packages');
  return readdirSync(dir)
    .filter((name) => existsSync(join(dir, name, 'package.json')))
    .map((name) => ({
      dir: join(dir, name),
      ...JSON.parse(readFileSync(join(dir, name, 'package.json'), 'utf8')),
    }))
    .filter((pkg) => !pkg.private)
    .map((pkg) => ({ name: pkg.name, version: pkg.version, dir: pkg.dir }));
}

/**
 * What the registry has for each package: no `workspace:` anywhere, and every dependency on
 * another @gale package is what its `workspace:` range says with the released version:
 * `workspace:^` → `^<version>`, an explicit `workspace:<range>` → `<range>`, which must then
 * include the released version (@gale/redis's peer range on @gale/server, CONTRIBUTING.md).
 */
async function checkPublishedManifests(url, packages) {
  const versions = Object.fromEntries(packages.map((p) => [p.name, p.version]));
  const sources = Object.fromEntries(
    packages.map((p) => [p.name, JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8'))]),
  );
  for (const pkg of packages) {
    const manifest = await (await fetch(new URL(pkg.name.replace('/', '%2f'), url))).json();
    const published = manifest.versions[pkg.version];
    assert.ok(published, `${pkg.name}@${pkg.version} is on the registry`);
    assert.ok(
      !JSON.stringify(published).includes('workspace:'),
      `${pkg.name} has no workspace: range`,
    );
    for (const field of ['dependencies', 'peerDependencies']) {
      for (const [dep, range] of Object.entries(published[field] ?? {})) {
        if (!(dep in versions)) continue;
        const spec = sources[pkg.name][field][dep].slice('workspace:'.length);
        const expected = spec === '^' || spec === '~' ? `${spec}${versions[dep]}` : spec;
        assert.equal(range, expected, `${pkg.name} ${field} ${dep}`);
        assert.ok(
          semver.satisfies(versions[dep], range),
          `${pkg.name} ${field} ${dep}@${range} includes the released ${versions[dep]}`,
        );
      }
    }
  }
}

async function latest(url, name) {
  const manifest = await (await fetch(new URL(name.replace('/', '%2f'), url))).json();
  return manifest['dist-tags'].latest;
}

function bumpPatch(version) {
  const [major, minor, patch] = version.split('.').map(Number);
  return `${major}.${minor}.${patch + 1}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { report: { type: 'string' }, keep: { type: 'boolean', default: false } },
  });
  const templates = process.env.REHEARSAL_TEMPLATES?.split(',').filter(Boolean);
  try {
    const report = await rehearse({ templates, keep: values.keep });
    if (values.report) writeFileSync(values.report, `${JSON.stringify(report, null, 2)}\n`);
    console.log(JSON.stringify(report, null, 2));
    process.exit(0);
  } catch (error) {
    console.error(error);
    process.exit(1);
  }
}
