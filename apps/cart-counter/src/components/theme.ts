import { css } from 'lit';

/**
 * The shop's colours, light and dark (`prefers-color-scheme`), as custom properties on each
 * component's host, so every component also looks right on its own. Every text colour meets
 * WCAG AA (4.5:1) on the backgrounds it is used on, in both schemes (checked with axe in
 * test/a11y.integration.test.ts).
 */
export const palette = css`
  :host {
    --bb-page: #f6f3ee;
    --bb-ink: #222831;
    --bb-muted: #5b6270;
    --bb-card: #ffffff;
    --bb-header: #222831;
    --bb-header-ink: #f4f1e8;
    --bb-header-muted: #c7c2b6;
    --bb-accent: #1f4e79;
    --bb-accent-hover: #163a5c;
    --bb-on-accent: #ffffff;
    --bb-urgent: #b42318;
    --bb-success: #1f7a46;
    --bb-border: #767d8a;
    --bb-hover: #eef0f4;
    --bb-unavailable: #e4e7ec;
    --bb-on-unavailable: #4a505c;
    --bb-error: #fdecea;
    --bb-on-error: #8a1c12;
    --bb-info: #eef4fb;
    --bb-on-info: #1f4e79;
    --bb-focus: #1f4e79;
    --bb-shadow: rgb(0 0 0 / 0.08);
  }
  @media (prefers-color-scheme: dark) {
    :host {
      --bb-page: #16191f;
      --bb-ink: #ece8df;
      --bb-muted: #aab1bd;
      --bb-card: #1f232b;
      --bb-header: #0e1014;
      --bb-header-ink: #f4f1e8;
      --bb-header-muted: #c7c2b6;
      --bb-accent: #2f6ea8;
      --bb-accent-hover: #255a8a;
      --bb-on-accent: #ffffff;
      --bb-urgent: #ff8a7a;
      --bb-success: #6fd69a;
      --bb-border: #8a919e;
      --bb-hover: #2a2f38;
      --bb-unavailable: #2b313b;
      --bb-on-unavailable: #b9bfca;
      --bb-error: #3d1512;
      --bb-on-error: #ffb4a8;
      --bb-info: #132a42;
      --bb-on-info: #a9d1ff;
      --bb-focus: #8cc4ff;
      --bb-shadow: rgb(0 0 0 / 0.4);
    }
  }
`;

/** Text for screen readers only: off screen, still read. */
export const visuallyHidden = css`
  .visually-hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    margin: -1px;
    padding: 0;
    border: 0;
    overflow: hidden;
    clip-path: inset(50%);
    white-space: nowrap;
  }
`;
