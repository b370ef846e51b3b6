/** The help text, printed by `--help` and after every argument error. */
export function usage(templates: readonly string[]): string {
  return [
    'Usage: create-gale <directory> --template <name>',
    '',
    '  npm create gale@latest my-app -- --template chat',
    '  pnpm create gale my-app --template chat',
    '  npx create-gale my-app --template echo',
    '',
    'Options:',
    `  -t, --template <name>  one of: ${templates.join(', ')}`,
    '  -h, --help             show this help',
  ].join('\n');
}
