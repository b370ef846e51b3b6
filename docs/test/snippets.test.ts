import { describe, expect, it } from 'vitest';
import { checkMarkdown, markdownFiles, readBlocks } from './ts-blocks.js';

// The ```ts blocks of the packages' READMEs and of the guide are what users copy: each must
// type-check against the packages' built types, resolved as a user's strict project resolves them.
// How a fragment says what it needs is explained at the top of ts-blocks.ts.
const files = markdownFiles();

it('every ts block of the READMEs and the guide type-checks against the packages’ types', () => {
  const check = checkMarkdown(files);
  expect(check.blocks.length).toBeGreaterThan(0);
  expect(check.errors).toEqual([]);
});

// A fence the reader does not see as a block would never be checked; count them another way.
it('reads every ts fence of every file as a block', () => {
  for (const { file, text } of files) {
    const fences = text.match(/^[ \t]*(```|~~~)[ \t]*(ts|typescript)\b/gm) ?? [];
    expect({ file, blocks: readBlocks(file, text).blocks.length }).toEqual({
      file,
      blocks: fences.length,
    });
  }
});

// A block that opts out (`<!-- ts-unchecked: reason -->`) is added to this list by hand, so that
// each one is seen in review.
it('lists the blocks that are not checked, with their reasons', () => {
  const unchecked = files
    .flatMap(({ file, text }) => readBlocks(file, text).blocks)
    .filter((block) => block.unchecked !== undefined)
    .map((block) => `${block.file}:${block.line}: ${block.unchecked}`);
  expect(unchecked).toEqual([]);
});

describe('the checker', () => {
  const check = (...lines: string[]) =>
    checkMarkdown([{ file: 'page.md', text: lines.join('\n') }]).errors;

  it('reports a call to a method WebSocketHandler does not have, at its markdown line', () => {
    const errors = check(
      '# Echo',
      '',
      '```ts',
      'class Echo extends WebSocketHandler {',
      '  override onMessage(message: string | Uint8Array): void {',
      '    void this.writeMesage(message);',
      '  }',
      '}',
      '```',
    );
    expect(errors).toEqual([
      expect.stringMatching(
        /^page\.md:6: TS2551: Property 'writeMesage' does not exist on type 'Echo'/,
      ),
    ]);
  });

  it('fails a fragment that lacks the context it needs, and passes it once the comment gives it', () => {
    const block = ['```ts', 'new Application(routes, { xheaders: true });', '```'];
    expect(check('Text.', '', ...block)).toEqual([
      expect.stringMatching(/^page\.md:4: TS2304: Cannot find name 'routes'/),
    ]);
    expect(
      check('Text.', '', '<!-- ts-context: declare const routes: Route[]; -->', ...block),
    ).toEqual([]);
  });

  it('places class members at the `...` of the context, and reports errors in the context at its own line', () => {
    const errors = check(
      '<!-- ts-context:',
      'class Room extends WebSocketHandler {',
      '...',
      '}',
      'const missing: number = "text";',
      '-->',
      '```ts',
      'override open(): void {',
      '  this.subscribe(42);',
      '}',
      '```',
    );
    expect(errors).toEqual([
      expect.stringMatching(
        /^page\.md:5: TS2322: Type 'string' is not assignable to type 'number'/,
      ),
      expect.stringMatching(/^page\.md:9: TS2345: Argument of type 'number' is not assignable/),
    ]);
  });

  it('lets a fragment’s own imports replace the default ones', () => {
    const block = [
      '```ts',
      "import { WebSocketHandler } from '@gale/server';",
      "import { Application } from '@gale/server';",
      "new Application([['/', class extends WebSocketHandler {}]]);",
      '```',
    ];
    expect(check(...block)).toEqual([]);
  });

  it('checks browser code without Node’s globals and Node code without the DOM', () => {
    expect(check('<!-- ts-context browser -->', '```ts', 'void process.env.HOME;', '```')).toEqual([
      expect.stringMatching(/^page\.md:3: TS\d+: Cannot find name 'process'/),
    ]);
    expect(check('```ts', 'void document.title;', '```')).toEqual([
      expect.stringMatching(/^page\.md:2: TS2584: Cannot find name 'document'/),
    ]);
  });

  it('compiles no block that opts out, and keeps its reason for the list', () => {
    const text = ['<!-- ts-unchecked: pseudo-code -->', '```ts', 'not TypeScript at all', '```'];
    expect(check(...text)).toEqual([]);
    expect(readBlocks('page.md', text.join('\n')).blocks[0]?.unchecked).toBe('pseudo-code');
  });

  it('refuses a ts- comment that is not right before a ts block, or that it cannot read', () => {
    expect(check('<!-- ts-context: declare const x: 1; -->', '', 'Text.', '```ts', '```')).toEqual([
      expect.stringMatching(/^page\.md:1: this comment is not right before a ```ts block/),
    ]);
    expect(check('<!-- ts-contxt: declare const x: 1; -->', '```ts', '```')).toEqual([
      expect.stringMatching(/^page\.md:1: expected `ts-context`/),
    ]);
  });
});
