#!/usr/bin/env node
// The `create-gale` bin: `npm create gale my-app -- --template chat` runs this file.
import { fileURLToPath } from 'node:url';
import { run } from './run.js';

// templates/ sits beside dist/ in the published package (scripts/copy-templates.mjs fills it).
process.exitCode = run(process.argv.slice(2), {
  templatesDir: fileURLToPath(new URL('../templates/', import.meta.url)),
  cwd: process.cwd(),
  userAgent: process.env['npm_config_user_agent'],
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
