import type { Locator, Page } from 'playwright-core';

/** What {@link expectFitsPhone} checks besides horizontal scrolling. */
export interface PhoneFitOptions {
  /**
   * Elements that must be in the first screenful, seen without scrolling (the primary action):
   * each must be visible and lie inside the viewport as the page is at its top.
   */
  readonly aboveTheFold?: readonly Locator[];
  /**
   * Tap targets: every element each locator matches must be at least `minTapSize` CSS pixels
   * wide and high (a label that toggles its checkbox is the checkbox's target). A locator that
   * matches nothing is reported too, so that a renamed control cannot pass unseen.
   */
  readonly tapTargets?: readonly Locator[];
  /** 44 (WCAG 2.5.5's size, and Apple's and Google's guidance) unless given. */
  readonly minTapSize?: number;
}

interface Viewport {
  readonly scrollWidth: number;
  readonly innerWidth: number;
  readonly innerHeight: number;
  readonly scrollX: number;
  readonly scrollY: number;
}

/**
 * Checks that `page`, as laid out in its current viewport (set a phone's, such as 390×844,
 * first), fits a phone: no horizontal scrolling (`scrollWidth <= innerWidth`), then the
 * `aboveTheFold` and `tapTargets` checks. Rejects with every problem found, one a line.
 */
export async function expectFitsPhone(page: Page, options: PhoneFitOptions = {}): Promise<void> {
  const { aboveTheFold = [], tapTargets = [], minTapSize = 44 } = options;
  const problems: string[] = [];
  // A string, not a function: this package is compiled without the DOM's types.
  const view = await page.evaluate<Viewport>(
    `({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
        innerHeight: window.innerHeight, scrollX: window.scrollX, scrollY: window.scrollY })`,
  );
  if (view.scrollWidth > view.innerWidth) {
    problems.push(
      `the page scrolls sideways: scrollWidth ${view.scrollWidth} > innerWidth ${view.innerWidth}`,
    );
  }
  for (const locator of aboveTheFold) {
    const box = await locator.boundingBox();
    if (box === null) {
      problems.push(`${locator} is not visible`);
      continue;
    }
    // Boxes are relative to the viewport: where they would be with the page at its top.
    const top = box.y + view.scrollY;
    const left = box.x + view.scrollX;
    if (
      top < 0 ||
      left < 0 ||
      top + box.height > view.innerHeight ||
      left + box.width > view.innerWidth
    ) {
      problems.push(
        `${locator} is not in the first ${view.innerWidth}×${view.innerHeight} screen: ` +
          `${fmt(box.width)}×${fmt(box.height)} at (${fmt(left)}, ${fmt(top)})`,
      );
    }
  }
  for (const locator of tapTargets) {
    const elements = await locator.all();
    if (elements.length === 0) problems.push(`${locator} matches no element`);
    for (const element of elements) {
      const box = await element.boundingBox();
      if (box === null) problems.push(`${element} is not visible`);
      else if (box.width < minTapSize || box.height < minTapSize) {
        problems.push(
          `${element} is a ${fmt(box.width)}×${fmt(box.height)} tap target, under ${minTapSize}×${minTapSize}`,
        );
      }
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `does not fit a ${view.innerWidth}×${view.innerHeight} screen:\n- ${problems.join('\n- ')}`,
    );
  }
}

function fmt(n: number): string {
  return String(Math.round(n * 10) / 10);
}
