import { css } from 'lit';

/**
 * The page's colours, light and dark (`prefers-color-scheme`), as custom properties on each
 * component's host, and the focus ring every control shows when focused from the keyboard. Text
 * colours meet WCAG AA (4.5:1) on the backgrounds they are used on; borders of inputs and the
 * focus ring meet 3:1. index.html repeats the two page colours (`--chat-bg`, `--chat-text`) for
 * the document's background.
 */
export const theme = css`
  :host {
    color-scheme: light;
    --chat-bg: #f5f6f8;
    --chat-surface: #ffffff;
    --chat-text: #1d2330;
    --chat-muted: #4a5263;
    --chat-faint: #5f6779;
    --chat-border: #8a92a3;
    --chat-divider: #e3e6ec;
    --chat-accent: #3b5bdb;
    --chat-accent-hover: #364fc7;
    --chat-on-accent: #ffffff;
    --chat-bubble: #eef0f4;
    --chat-focus: #3b5bdb;
    --chat-error: #c92a2a;
    --chat-error-text: #8a1f1f;
    --chat-error-bg: #fdecec;
    --chat-shadow: rgb(0 0 0 / 0.1);
  }
  @media (prefers-color-scheme: dark) {
    :host {
      color-scheme: dark;
      --chat-bg: #12151c;
      --chat-surface: #1b1f29;
      --chat-text: #e6e8ee;
      --chat-muted: #b4bac7;
      --chat-faint: #9aa2b3;
      --chat-border: #7b8396;
      --chat-divider: #2f3545;
      --chat-accent: #3b5bdb;
      --chat-accent-hover: #364fc7;
      --chat-on-accent: #ffffff;
      --chat-bubble: #2a3040;
      --chat-focus: #91a7ff;
      --chat-error: #ff8787;
      --chat-error-text: #ffc9c9;
      --chat-error-bg: #3b1d1f;
      --chat-shadow: rgb(0 0 0 / 0.4);
    }
  }
  :focus-visible {
    outline: 3px solid var(--chat-focus);
    outline-offset: 2px;
  }
`;

/** Inputs and buttons: at least 44×44 px (a finger's tap target), in the theme's colours. */
export const controls = css`
  input {
    flex: 1;
    min-width: 0;
    min-height: 2.75rem;
    box-sizing: border-box;
    padding: 0.6rem 0.7rem;
    font: inherit;
    color: var(--chat-text);
    background: var(--chat-surface);
    border: 1px solid var(--chat-border);
    border-radius: 6px;
  }
  input::placeholder {
    color: var(--chat-faint);
    opacity: 1;
  }
  input:focus-visible {
    outline-offset: 1px;
  }
  input[aria-invalid='true'] {
    border-color: var(--chat-error);
  }
  button {
    min-width: 2.75rem;
    min-height: 2.75rem;
    box-sizing: border-box;
    padding: 0.6rem 1.2rem;
    font: inherit;
    font-weight: 600;
    color: var(--chat-on-accent);
    background: var(--chat-accent);
    border: none;
    border-radius: 6px;
    cursor: pointer;
  }
  button:hover {
    background: var(--chat-accent-hover);
  }
  button:disabled {
    opacity: 0.6;
  }
`;
