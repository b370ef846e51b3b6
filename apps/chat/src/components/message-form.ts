import { css, html, LitElement } from 'lit';
import { MAX_MESSAGE_LENGTH } from '../../server/frames.js';
import { controls, theme } from './theme.js';

/** The detail of a `message-submit` event. */
export interface MessageSubmitDetail {
  readonly text: string;
}

/**
 * A "Message" box with a "Send" button. Submitting a message that is not blank fires
 * `message-submit` and clears the box. `error` shows why the server refused the last one. Near
 * `maxLength` a character count appears (the server is what refuses a longer message).
 *
 * @fires message-submit - `{ text }`, the message to send
 */
export class MessageForm extends LitElement {
  static override properties = {
    disabled: { type: Boolean },
    error: {},
    maxLength: { type: Number, attribute: 'max-length' },
    _length: { state: true },
  };

  static override styles = [
    theme,
    controls,
    css`
      :host {
        display: block;
      }
      form {
        display: flex;
        gap: 0.5rem;
      }
      button:disabled {
        cursor: not-allowed;
      }
      .error {
        margin: 0.5rem 0 0;
        padding: 0.5rem 0.7rem;
        color: var(--chat-error-text);
        background: var(--chat-error-bg);
        border-radius: 6px;
      }
      /* Still there, for screen readers: an alert that appears out of nothing may go unheard. */
      .error:empty {
        margin: 0;
        padding: 0;
      }
      .count {
        margin: 0.3rem 0 0;
        font-size: 0.8rem;
        color: var(--chat-faint);
        text-align: right;
      }
      .count.over {
        color: var(--chat-error);
        font-weight: 600;
      }
    `,
  ];

  /** Disables sending (the box keeps what was typed). */
  declare disabled: boolean;
  /** Why the server refused a message ('' for none); shown under the box. */
  declare error: string;
  /** The server's limit, in characters (`MAX_MESSAGE_LENGTH`): the count shows from 90% of it. */
  declare maxLength: number;
  declare private _length: number;

  constructor() {
    super();
    this.disabled = false;
    this.error = '';
    this.maxLength = MAX_MESSAGE_LENGTH;
    this._length = 0;
  }

  override render() {
    return html`
      <form @submit=${this._onSubmit}>
        <input
          name="message"
          aria-label="Message"
          placeholder="Say something…"
          autocomplete="off"
          @input=${this._onInput}
        />
        <button type="submit" ?disabled=${this.disabled}>Send</button>
      </form>
      ${
        this._length >= this.maxLength * 0.9
          ? html`<p class="count ${this._length > this.maxLength ? 'over' : ''}">
              ${this._length} / ${this.maxLength}
            </p>`
          : null
      }
      <p class="error" role="alert">${this.error}</p>
    `;
  }

  /** Moves the keyboard focus to the message box. */
  override focus(): void {
    this.renderRoot.querySelector('input')?.focus();
  }

  private _onInput(event: InputEvent): void {
    // Characters as the server counts them (code points).
    this._length = [...(event.target as HTMLInputElement).value].length;
  }

  private _onSubmit(event: SubmitEvent): void {
    event.preventDefault();
    const input = this.renderRoot.querySelector('input')!;
    const text = input.value;
    if (text.trim() === '' || this.disabled) return;
    input.value = '';
    this._length = 0;
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
