import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// Type-checks the ```ts blocks of markdown files against the packages' published types.
//
// Most blocks are fragments: they use a `routes` or a `board` the page never defines, or are the
// members of a class. What a fragment needs is written in the markdown, in an HTML comment right
// before the block (GitHub and VitePress render nothing for it):
//
//   <!-- ts-context: declare const routes: Route[]; -->
//
// The comment's code comes first and the block after it. A line holding only `...` places the
// block inside the code instead, as the members of a class; the block's leading imports still go
// to the top of the module:
//
//   <!-- ts-context:
//   declare const board: { state(): string[] };
//   class Board extends WebSocketHandler {
//   ...
//   }
//   -->
//
// A block is Node code unless the comment says `ts-context browser` (DOM types, no Node globals,
// and @gale/client's browser build). A block that cannot be checked says why instead,
// `<!-- ts-unchecked: reason -->`; the test lists those, so none is skipped silently.
//
// Every block also gets the imports in `defaultImports`, except the names it (or its context)
// declares itself. The packages resolve through their `exports` to the built .d.ts, so they must
// be built first (turbo's test task depends on the build).

/** The repository root; markdown files are named relative to it. */
const root = fileURLToPath(new URL('../../', import.meta.url));

// The fragments are compiled as files of the docs package: @gale/* resolve as a user's do, through
// each package's `exports` to its built .d.ts (docs/node_modules has every @gale package), and
// docs/package.json's "type": "module" makes them ES modules.
const docs = join(root, 'docs');

export type Environment = 'node' | 'browser';

/** A ```ts block, with what its comment says about it. */
export interface TsBlock {
  /** The markdown file, relative to the repository root. */
  readonly file: string;
  /** The 1-based line of the block's opening fence. */
  readonly line: number;
  readonly code: string;
  readonly environment: Environment;
  /** The comment's code and the markdown line its first line is on. */
  readonly context: { readonly code: string; readonly line: number } | undefined;
  /** Why the block is not checked, from `<!-- ts-unchecked: reason -->`. */
  readonly unchecked: string | undefined;
}

/** The blocks of some markdown files and every problem found in them, as `file:line: message`. */
export interface Check {
  readonly blocks: readonly TsBlock[];
  readonly errors: readonly string[];
}

/**
 * The names most fragments use without importing them. A name the fragment or its context
 * declares or imports itself is left out, so that its own import wins.
 */
const defaultImports: Record<Environment, Record<string, readonly string[]>> = {
  node: {
    '@gale/server': [
      'Application',
      'HTTPError',
      'MemoryBroker',
      'RequestHandler',
      'type Route',
      'WebSocketHandler',
    ],
    '@gale/client': ['ConnectionController', 'createConnection', 'websocketConnect'],
    '@gale/redis': ['RedisBroker'],
  },
  browser: {
    '@gale/client': ['ConnectionController', 'createConnection', 'websocketConnect'],
  },
};

// What a user's strict ESM project would use: one for Node, one for a page a bundler builds.
// Handlers are subclasses, so a missing `override` is an error, as under @tsconfig/strictest.
// `moduleDetection` makes every fragment a module: top-level await is allowed even without imports.
const common = {
  strict: true,
  noImplicitOverride: true,
  target: 'es2022',
  moduleDetection: 'force',
  noEmit: true,
  skipLibCheck: true,
};
const compilerOptions: Record<Environment, object> = {
  node: {
    ...common,
    module: 'nodenext',
    moduleResolution: 'nodenext',
    lib: ['es2022'],
    types: ['node'],
  },
  // The `browser` condition picks @gale/client's browser build, as Vite and other bundlers do.
  browser: {
    ...common,
    module: 'esnext',
    moduleResolution: 'bundler',
    customConditions: ['browser'],
    lib: ['es2022', 'dom', 'dom.iterable'],
    types: [],
  },
};

/** The markdown files whose blocks are checked: the packages' READMEs and the site's pages. */
export function markdownFiles(): { file: string; text: string }[] {
  const files = readdirSync(join(root, 'packages'))
    .map((name) => join('packages', name, 'README.md'))
    .filter((file) => existsSync(join(root, file)));
  // docs/api is TypeDoc's output, and .vitepress holds the site's config and build.
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && !['node_modules', 'api', '.vitepress'].includes(entry.name)) {
        walk(path);
      } else if (entry.isFile() && entry.name.endsWith('.md')) {
        files.push(path);
      }
    }
  };
  walk('docs');
  return files.sort().map((file) => ({ file, text: readFileSync(join(root, file), 'utf8') }));
}

interface Directive {
  readonly line: number;
  readonly environment: Environment;
  readonly context: TsBlock['context'];
  readonly unchecked: string | undefined;
}

/** The ```ts blocks of one markdown file, and what is wrong with its `ts-` comments. */
export function readBlocks(
  file: string,
  markdown: string,
): { blocks: TsBlock[]; problems: string[] } {
  const lines = markdown.split(/\r?\n/);
  const blocks: TsBlock[] = [];
  const problems: string[] = [];
  // A comment applies to the next thing in the file, which must be a ```ts block.
  let pending: Directive | undefined;
  const drop = () => {
    if (pending) {
      problems.push(`${file}:${pending.line}: this comment is not right before a \`\`\`ts block`);
    }
    pending = undefined;
  };
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] ?? '';
    const open = /^([ \t]*)(`{3,}|~{3,})[ \t]*([^`]*)$/.exec(text);
    const comment = /^[ \t]*<!--[ \t]*(ts-.*)$/.exec(text);
    if (open) {
      const [, indent = '', marker = '', info = ''] = open;
      let end = i + 1;
      while (end < lines.length && !isFenceClose(lines[end] ?? '', marker)) end++;
      // The info string may go on after the language: `ts [vite.config.ts]`, `ts{2}`.
      const language = /^[\w-]*/.exec(info.trim())?.[0];
      if (language === 'ts' || language === 'typescript') {
        // A block in a list item is indented like its fence; the code is not.
        const code = lines
          .slice(i + 1, end)
          .map((line) => line.replace(new RegExp(`^ {0,${indent.length}}`), ''))
          .join('\n');
        blocks.push({
          file,
          line: i + 1,
          code,
          environment: pending?.environment ?? 'node',
          context: pending?.context,
          unchecked: pending?.unchecked,
        });
        pending = undefined;
      } else {
        drop();
      }
      i = end;
    } else if (comment) {
      drop();
      // The comment runs to the first line that holds `-->`, and must end there.
      let end = i;
      while (end < lines.length && !(lines[end] ?? '').includes('-->')) end++;
      const body = [comment[1], ...lines.slice(i + 1, end + 1)].join('\n');
      const close = body.indexOf('-->');
      const directive =
        close === -1 || body.slice(close + 3).trim() !== ''
          ? 'a ts- comment must end with --> at the end of a line'
          : readDirective(body.slice(0, close).trimEnd(), i + 1);
      if (typeof directive === 'string') problems.push(`${file}:${i + 1}: ${directive}`);
      else pending = directive;
      i = end;
    } else if (text.trim() !== '') {
      drop();
    }
  }
  drop();
  return { blocks, problems };
}

function isFenceClose(line: string, marker: string): boolean {
  const close = /^[ \t]*(`{3,}|~{3,})[ \t]*$/.exec(line)?.[1];
  return close !== undefined && close[0] === marker[0] && close.length >= marker.length;
}

/** Reads a comment's text from `ts-` on (`line` is its first line), or says what is wrong. */
function readDirective(content: string, line: number): Directive | string {
  const reason = /^ts-unchecked:\s*(\S[\s\S]*)$/.exec(content)?.[1];
  if (reason !== undefined) {
    return { line, environment: 'node', context: undefined, unchecked: reason };
  }
  const match = /^ts-context(?:[ \t]+(node|browser))?[ \t]*(?::([\s\S]*))?$/.exec(content);
  if (!match) {
    return 'expected `ts-context`, `ts-context browser` (either with `: code`) or `ts-unchecked: reason`';
  }
  const [, environment = 'node', code] = match;
  // The code's first line is the comment's first line plus the line breaks before the code.
  const codeLine =
    line + content.slice(0, content.length - (code ?? '').length).split('\n').length - 1;
  return {
    line,
    environment: environment as Environment,
    context: code === undefined ? undefined : { code, line: codeLine },
    unchecked: undefined,
  };
}

/** A piece of a generated module and the markdown line of its first line (none for the imports). */
interface Piece {
  readonly text: string;
  readonly line: number | undefined;
}

/** One block as a module: its text, and for each of its lines the markdown line it came from. */
interface Module {
  readonly block: TsBlock;
  readonly path: string;
  readonly text: string;
  readonly lines: readonly (number | undefined)[];
  readonly problems: readonly string[];
}

function toModule(block: TsBlock, index: number): Module {
  const problems: string[] = [];
  const codeLine = block.line + 1;
  let pieces: Piece[] = [{ text: block.code, line: codeLine }];
  if (block.context) {
    const contextLines = block.context.code.split('\n');
    const slot = contextLines.flatMap((line, i) => (line.trim() === '...' ? [i] : []));
    if (slot.length > 1) {
      problems.push(
        `${block.file}:${block.context.line}: more than one \`...\` line in the context`,
      );
    }
    const at = slot[0];
    if (at === undefined) {
      pieces = [{ text: block.context.code, line: block.context.line }, ...pieces];
    } else {
      // The block's own imports cannot go inside a class: they go to the top of the module.
      const { imports, rest } = splitImports(block.code);
      pieces = [
        { text: imports, line: codeLine },
        { text: contextLines.slice(0, at).join('\n'), line: block.context.line },
        { text: rest, line: codeLine + (imports === '' ? 0 : imports.split('\n').length) },
        { text: contextLines.slice(at + 1).join('\n'), line: block.context.line + at + 1 },
      ];
    }
  }
  const declared = topLevelNames(pieces.map((piece) => piece.text).join('\n'));
  const imports = Object.entries(defaultImports[block.environment]).flatMap(([module, names]) => {
    const wanted = names.filter((name) => !declared.has(name.replace(/^type /, '')));
    return wanted.length === 0 ? [] : [`import { ${wanted.join(', ')} } from '${module}';`];
  });
  pieces = [{ text: imports.join('\n'), line: undefined }, ...pieces];
  const lines = pieces.flatMap((piece) =>
    piece.text.split('\n').map((_, i) => (piece.line === undefined ? undefined : piece.line + i)),
  );
  const name = `${block.file.replace(/[^\w]+/g, '-')}-${block.line}`;
  return {
    block,
    // Never written: the compiler host serves it. It must be in docs/ to resolve as docs does.
    path: join(docs, '.ts-blocks', `${index}-${name}.ts`),
    text: pieces.map((piece) => piece.text).join('\n'),
    lines,
    problems,
  };
}

/** The block's leading import declarations, and the rest of it (both as whole lines). */
function splitImports(code: string): { imports: string; rest: string } {
  const source = ts.createSourceFile('block.ts', code, ts.ScriptTarget.ES2022, true);
  let end = 0;
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement)) break;
    end = source.getLineAndCharacterOfPosition(statement.end).line + 1;
  }
  const lines = code.split('\n');
  return { imports: lines.slice(0, end).join('\n'), rest: lines.slice(end).join('\n') };
}

/** The names a module's top level imports or declares. */
function topLevelNames(code: string): Set<string> {
  const source = ts.createSourceFile('module.ts', code, ts.ScriptTarget.ES2022, true);
  const names = new Set<string>();
  const bind = (name: ts.BindingName): void => {
    if (ts.isIdentifier(name)) {
      names.add(name.text);
      return;
    }
    for (const element of name.elements) {
      if (!ts.isOmittedExpression(element)) bind(element.name);
    }
  };
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement)) {
      const clause = statement.importClause;
      if (clause?.name) names.add(clause.name.text);
      const bindings = clause?.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) names.add(bindings.name.text);
      if (bindings && ts.isNamedImports(bindings)) {
        for (const element of bindings.elements) names.add(element.name.text);
      }
    } else if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) bind(declaration.name);
    } else if (
      (ts.isClassDeclaration(statement) ||
        ts.isFunctionDeclaration(statement) ||
        ts.isInterfaceDeclaration(statement) ||
        ts.isTypeAliasDeclaration(statement) ||
        ts.isEnumDeclaration(statement)) &&
      statement.name
    ) {
      names.add(statement.name.text);
    }
  }
  return names;
}

/** Type-checks the ```ts blocks of `files`, each its own module, in one program per environment. */
export function checkMarkdown(files: readonly { file: string; text: string }[]): Check {
  const blocks: TsBlock[] = [];
  const errors: string[] = [];
  for (const { file, text } of files) {
    const read = readBlocks(file, text);
    blocks.push(...read.blocks);
    errors.push(...read.problems);
  }
  const modules = blocks.flatMap((block, i) => (block.unchecked ? [] : [toModule(block, i)]));
  for (const module of modules) errors.push(...module.problems);
  for (const environment of ['node', 'browser'] as const) {
    const group = modules.filter((module) => module.block.environment === environment);
    if (group.length > 0) errors.push(...compile(environment, group));
  }
  return { blocks, errors };
}

function compile(environment: Environment, modules: readonly Module[]): string[] {
  const converted = ts.convertCompilerOptionsFromJson(compilerOptions[environment], docs);
  if (converted.errors.length > 0) {
    return converted.errors.map((d) => `${environment} compiler options: ${message(d)}`);
  }
  const { options } = converted;
  const byPath = new Map(modules.map((module) => [module.path, module]));
  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (path, languageVersion, onError, shouldCreate) => {
    const module = byPath.get(path);
    return module
      ? ts.createSourceFile(path, module.text, languageVersion, true)
      : getSourceFile.call(host, path, languageVersion, onError, shouldCreate);
  };
  host.fileExists = (path) => byPath.has(path) || fileExists.call(host, path);
  host.readFile = (path) => byPath.get(path)?.text ?? readFile.call(host, path);
  const program = ts.createProgram({ rootNames: [...byPath.keys()], options, host });
  const errors = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map(
    (d) => `${environment} program: ${message(d)}`,
  );
  for (const module of modules) {
    const source = program.getSourceFile(module.path);
    if (!source) {
      errors.push(`${module.block.file}:${module.block.line}: the block was not compiled`);
      continue;
    }
    const diagnostics = [
      ...program.getSyntacticDiagnostics(source),
      ...program.getSemanticDiagnostics(source),
    ];
    const { file, line } = module.block;
    const located = diagnostics.map((diagnostic) => ({
      diagnostic,
      at:
        diagnostic.start === undefined
          ? undefined
          : module.lines[source.getLineAndCharacterOfPosition(diagnostic.start).line],
    }));
    // In the markdown's order: a context's code may come after the block in the module.
    located.sort((a, b) => (a.at ?? 0) - (b.at ?? 0));
    for (const { diagnostic, at } of located) {
      const where = at === undefined ? `${file}:${line} (the default imports)` : `${file}:${at}`;
      errors.push(`${where}: ${message(diagnostic)} [the block at line ${line}]`);
    }
  }
  return errors;
}

function message(diagnostic: ts.Diagnostic): string {
  return `TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`;
}
