import { css, html, LitElement } from 'lit';
import { MAX_MESSAGE_LENGTH } from '../../server/frames.js';

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

  static override styles = css`
    :host {
      display: block;
    }
    form {
      display: flex;
      gap: 0.5rem;
    }
    input {
      flex: 1;
      min-width: 0;
      padding: 0.6rem 0.7rem;
      font: inherit;
      border: 1px solid #c9ced8;
      border-radius: 6px;
    }
    input:focus {
      outline: 2px solid #4c6ef5;
      outline-offset: -1px;
      border-color: transparent;
    }
    button {
      padding: 0.6rem 1.2rem;
      font: inherit;
      font-weight: 600;
      color: white;
      background: #4c6ef5;
      border: none;
      border-radius: 6px;
      cursor: pointer;
    }
    button:disabled {
      opacity: 0.6;
      cursor: not-allowed;
    }
    .error {
      margin: 0.5rem 0 0;
      padding: 0.5rem 0.7rem;
      color: #8a1f1f;
      background: #fdecec;
      border-radius: 6px;
    }
    .error:empty {
      display: none;
    }
    .count {
      margin: 0.3rem 0 0;
      font-size: 0.8rem;
      color: #6b7385;
      text-align: right;
    }
    .count.over {
      color: #c92a2a;
      font-weight: 600;
    }
  `;

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
