import { css, html, LitElement } from 'lit';

/** The detail of a `message-submit` event. */
export interface MessageSubmitDetail {
  readonly text: string;
}

/** What an empty box says when Send is pressed. */
export const EMPTY_MESSAGE_ERROR = 'Type a message first, then press Send.';

/**
 * A labelled "Message" box with a "Send" button. Submitting a non-empty message fires
 * `message-submit`, clears the box and keeps the keyboard focus in it; submitting an empty one
 * shows an error instead. `error` is shown under the box in an alert (`refuse()` sets it when a
 * message could not be sent); typing, or Escape, clears it. Escape also clears the box.
 *
 * @fires message-submit - `{ text }`, the message to send
 */
export class MessageForm extends LitElement {
  static override properties = { disabled: { type: Boolean }, error: {} };

  // Colours come from the page's custom properties (see echo-app), with the light ones as
  // fallbacks so that the form stands on its own.
  static override styles = css`
    :host {
      display: block;
    }
    label {
      display: block;
      font-weight: 600;
      margin: 0 0 0.35rem;
    }
    .row {
      display: flex;
      gap: 0.5rem;
    }
    input {
      flex: 1;
      min-width: 0;
      min-height: 2.75rem;
      box-sizing: border-box;
      padding: 0.6rem 0.7rem;
      font: inherit;
      color: inherit;
      background: var(--echo-surface, #fff);
      border: 1px solid var(--echo-control-border, #858ea1);
      border-radius: 6px;
    }
    input::placeholder {
      color: var(--echo-muted, #4a5263);
      opacity: 1;
    }
    input[aria-invalid='true'] {
      border-color: var(--echo-error-text, #8a1f1f);
    }
    button {
      min-height: 2.75rem;
      min-width: 2.75rem;
      padding: 0.6rem 1.2rem;
      font: inherit;
      font-weight: 600;
      color: var(--echo-on-accent, #fff);
      background: var(--echo-accent, #3b5bdb);
      border: none;
      border-radius: 6px;
      cursor: pointer;
    }
    button:hover:not(:disabled) {
      background: var(--echo-accent-hover, #364fc7);
    }
    button:disabled {
      opacity: 0.6;
      cursor: not-allowed;
    }
    input:focus-visible,
    button:focus-visible {
      outline: 3px solid var(--echo-focus, #3b5bdb);
      outline-offset: 2px;
    }
    @media (prefers-reduced-motion: no-preference) {
      button {
        transition: background-color 120ms ease-out;
      }
    }
    /* Always in the page, so that screen readers announce what is put in it; no room when empty. */
    .error {
      margin: 0.5rem 0 0;
      padding: 0.5rem 0.7rem;
      color: var(--echo-error-text, #8a1f1f);
      background: var(--echo-error-bg, #fdecec);
      border-radius: 6px;
    }
    .error:empty {
      margin: 0;
      padding: 0;
    }
  `;

  /** Disables sending (the box keeps what was typed). */
  declare disabled: boolean;
  /** Why the last message could not be sent ('' for none); shown under the box, announced. */
  declare error: string;

  constructor() {
    super();
    this.disabled = false;
    this.error = '';
  }

  override render() {
    return html`
      <form @submit=${this._onSubmit} novalidate>
        <label for="message">Message</label>
        <div class="row">
          <input
            id="message"
            name="message"
            placeholder="Type a message…"
            autocomplete="off"
            aria-describedby="error"
            aria-invalid=${this.error ? 'true' : 'false'}
            @input=${this._onInput}
            @keydown=${this._onKeydown}
          />
          <button type="submit" ?disabled=${this.disabled}>Send</button>
        </div>
        <p id="error" class="error" role="alert">${this.error}</p>
      </form>
    `;
  }

  /** Moves the keyboard focus to the message box. */
  override focus(): void {
    this.renderRoot.querySelector('input')?.focus();
  }

  /**
   * Says that `text` could not be sent: `error` in the alert, the text back in the box (unless
   * something else was typed since) and the focus there, to try again.
   */
  refuse(text: string, error: string): void {
    const input = this.renderRoot.querySelector('input');
    if (input !== null && input.value === '') input.value = text;
    this.error = error;
    this.focus();
  }

  private _onInput(): void {
    // A new attempt: the old error no longer describes what is typed.
    this.error = '';
  }

  private _onKeydown(event: KeyboardEvent): void {
    if (event.key !== 'Escape') return;
    const input = event.target as HTMLInputElement;
    if (input.value === '' && this.error === '') return;
    event.preventDefault();
    input.value = '';
    this.error = '';
  }

  private _onSubmit(event: SubmitEvent): void {
    event.preventDefault();
    const input = this.renderRoot.querySelector('input')!;
    const text = input.value;
    if (this.disabled) return;
    // Back to the box, from the Send button too: the next message is typed there.
    input.focus();
    if (text === '') {
      this.error = EMPTY_MESSAGE_ERROR;
      return;
    }
    input.value = '';
    this.error = '';
    this.dispatchEvent(
      new CustomEvent<MessageSubmitDetail>('message-submit', {
        detail: { text },
        bubbles: true,
        composed: true,
      }),
    );
  }
}

customElements.define('message-form', MessageForm);

declare global {
  interface HTMLElementTagNameMap {
    'message-form': MessageForm;
  }
  interface HTMLElementEventMap {
    'message-submit': CustomEvent<MessageSubmitDetail>;
  }
}
