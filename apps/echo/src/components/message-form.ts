import { css, html, LitElement } from 'lit';

/** The detail of a `message-submit` event. */
export interface MessageSubmitDetail {
  readonly text: string;
}

/**
 * A "Message" box with a "Send" button. Submitting a non-empty message fires `message-submit`
 * and clears the box.
 *
 * @fires message-submit - `{ text }`, the message to send
 */
export class MessageForm extends LitElement {
  static override properties = { disabled: { type: Boolean } };

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
      padding: 0.5rem;
      font: inherit;
    }
    button {
      padding: 0.5rem 1rem;
      font: inherit;
    }
  `;

  /** Disables sending (the box keeps what was typed). */
  declare disabled: boolean;

  constructor() {
    super();
    this.disabled = false;
  }

  override render() {
    return html`
      <form @submit=${this._onSubmit}>
        <label for="message" hidden>Message</label>
        <input id="message" name="message" aria-label="Message" autocomplete="off" />
        <button type="submit" ?disabled=${this.disabled}>Send</button>
      </form>
    `;
  }

  private _onSubmit(event: SubmitEvent): void {
    event.preventDefault();
    const input = this.renderRoot.querySelector('input')!;
    const text = input.value;
    if (text === '' || this.disabled) return;
    input.value = '';
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
