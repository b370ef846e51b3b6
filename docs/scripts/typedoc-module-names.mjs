// A TypeDoc plugin: names each entry point's module after its package (`@gale/server`) or subpath
// (`@gale/server/bun`), not its path (`server/src`, `server/src/bun`), so the API reference reads
// the way code imports it.
import { Converter } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const module of context.project.children ?? []) {
      // `client/src/index.node` is @gale/client; `server/src/bun` is @gale/server/bun.
      const match = /^([\w-]+)\/src(?:\/([\w-]+))?/.exec(module.name);
      const subpath = match?.[2] === undefined || match[2] === 'index' ? '' : `/${match[2]}`;
      if (match) module.name = `@gale/${match[1]}${subpath}`;
    }
  });
}
