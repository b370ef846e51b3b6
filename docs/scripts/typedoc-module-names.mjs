// A TypeDoc plugin: names each entry point's module after its package (`@gale/server`), not its
// path (`server/src`), so the API reference reads the way code imports it.
import { Converter } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const module of context.project.children ?? []) {
      const match = /^([\w-]+)\/src/.exec(module.name);
      if (match) module.name = `@gale/${match[1]}`;
    }
  });
}
