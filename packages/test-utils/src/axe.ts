import type { Page } from 'playwright-core';

/**
 * The axe-core rule tags the demo pages are held to: WCAG 2.0 and 2.1, levels A and AA, and
 * Deque's best practices (landmarks, one `h1`, headings in order, …).
 */
export const AXE_TAGS: readonly string[] = [
  'wcag2a',
  'wcag2aa',
  'wcag21a',
  'wcag21aa',
  'best-practice',
];

/** Which part of the page to check, and which rules to leave out (say why in the test). */
export interface AxeOptions {
  /** Rule tags to run; {@link AXE_TAGS} unless given. */
  readonly tags?: readonly string[];
  /** CSS selectors of the only parts to check (the whole page unless given). */
  readonly include?: readonly string[];
  /** CSS selectors of parts to skip. */
  readonly exclude?: readonly string[];
  /** Rule ids to skip. */
  readonly disableRules?: readonly string[];
}

/** One failed axe rule, with every element that fails it. */
export interface AxeViolation {
  /** The rule's id, such as `color-contrast` or `region`. */
  readonly id: string;
  /** `minor`, `moderate`, `serious` or `critical`. */
  readonly impact: string;
  /** What the rule asks for, in a sentence. */
  readonly help: string;
  /** Deque's page on the rule. */
  readonly helpUrl: string;
  readonly nodes: readonly {
    /** The element, as selectors: `echo-app >>> input` crosses into a shadow root. */
    readonly target: string;
    /** What axe says to fix on it (the contrast ratio it measured, for instance). */
    readonly failureSummary: string;
  }[];
}

/**
 * Runs axe-core in `page` (every frame, open shadow roots included) with {@link AXE_TAGS} and
 * resolves with what it found, or `[]`. For a test that wants to look at the violations; most
 * call {@link expectNoAxeViolations}.
 *
 * `page` must come from a context of its own (`(await browser.newContext()).newPage()`), not from
 * `browser.newPage()`: axe gathers the results of every frame in a blank page that it opens
 * beside `page`, and such a context allows none.
 *
 * `@axe-core/playwright` is imported here, not at the top of the module, for the reason
 * `launchChromium` imports playwright-core late: it loads axe-core's source into every process
 * that imports this package.
 */
export async function axeViolations(page: Page, options: AxeOptions = {}): Promise<AxeViolation[]> {
  const { AxeBuilder } = await import('@axe-core/playwright');
  let builder = new AxeBuilder({ page }).withTags([...(options.tags ?? AXE_TAGS)]);
  for (const selector of options.include ?? []) builder = builder.include(selector);
  for (const selector of options.exclude ?? []) builder = builder.exclude(selector);
  if (options.disableRules !== undefined) builder = builder.disableRules([...options.disableRules]);
  let results: Awaited<ReturnType<typeof builder.analyze>>;
  try {
    results = await builder.analyze();
  } catch (error) {
    if (/newContext/.test(String(error))) {
      throw new Error(
        'axe needs a page from browser.newContext(), not browser.newPage(): ' +
          '`const page = await (await browser.newContext()).newPage();`',
        { cause: error },
      );
    }
    throw error;
  }
  return results.violations.map((violation) => ({
    id: violation.id,
    impact: violation.impact ?? 'unknown',
    help: violation.help,
    helpUrl: violation.helpUrl,
    nodes: violation.nodes.map((node) => ({
      target: formatTarget(node.target),
      failureSummary: node.failureSummary ?? '',
    })),
  }));
}

/**
 * Runs axe as {@link axeViolations} does and rejects if anything fails, with a message that names
 * `label` (the page and its state: "initial, 390×844, dark") and lists each violation: its id,
 * impact and help, then each failing element's selectors and what axe says to fix.
 */
export async function expectNoAxeViolations(
  page: Page,
  label: string,
  options: AxeOptions = {},
): Promise<void> {
  const violations = await axeViolations(page, options);
  if (violations.length > 0) throw new Error(formatAxeViolations(label, violations));
}

/** The report {@link expectNoAxeViolations} fails with, for a test that has the violations. */
export function formatAxeViolations(label: string, violations: readonly AxeViolation[]): string {
  const lines = [`${label}: ${violations.length} axe violation(s)`];
  for (const violation of violations) {
    lines.push(`- ${violation.id} (${violation.impact}): ${violation.help}`);
    lines.push(`  ${violation.helpUrl}`);
    for (const node of violation.nodes) {
      lines.push(`  · ${node.target}`);
      for (const line of node.failureSummary.split('\n')) {
        if (line.trim() !== '') lines.push(`      ${line.trim()}`);
      }
    }
  }
  return lines.join('\n');
}

// axe's target: one entry per frame, each a selector or, across shadow roots, a list of them.
function formatTarget(target: readonly (string | readonly string[])[]): string {
  return target
    .map((part) => (typeof part === 'string' ? part : part.join(' >>> ')))
    .join(' >>> (frame) ');
}
