import { css, html, LitElement } from 'lit';
import { controls, theme } from './theme.js';

/** The detail of a `login-submit` event. */
export interface LoginSubmitDetail {
  readonly nickname: string;
}

/**
 * The way in: a "Nickname" box and a "Join" button. Submitting fires `login-submit`; the page
 * answers by setting `busy` while it asks the server, then `error` if the server said no (the
 * form stays, with what was typed, until a login succeeds).
 *
 * @fires login-submit - `{ nickname }`, the nickname as typed
 */
export class LoginForm extends LitElement {
  static override properties = {
    error: {},
    notice: {},
    busy: { type: Boolean },
  };

  static override styles = [
    theme,
    controls,
    css`
      :host {
        display: block;
      }
      label {
        display: block;
        font-weight: 600;
        margin-bottom: 0.4rem;
      }
      form > div {
        display: flex;
        gap: 0.5rem;
      }
      button:disabled {
        cursor: progress;
      }
      .error {
        color: var(--chat-error);
        margin: 0.6rem 0 0;
      }
      .notice {
        color: var(--chat-muted);
        margin: 0 0 0.8rem;
      }
      .notice:empty {
        margin: 0;
      }
    `,
  ];

  /** Why the last attempt was refused ('' for none); shown under the box. */
  declare error: string;
  /** Something to tell before the form, such as why the user is back here ('' for none). */
  declare notice: string;
  /** A login is under way: Join is disabled. */
  declare busy: boolean;

  constructor() {
    super();
    this.error = '';
    this.notice = '';
    this.busy = false;
  }

  override render() {
    return html`
      <p class="notice" role="status">${this.notice}</p>
      <form @submit=${this._onSubmit}>
        <label for="nickname">Nickname</label>
        <div>
          <input
            id="nickname"
            name="nickname"
            placeholder="Your nickname"
            autocomplete="nickname"
            maxlength="64"
            aria-invalid=${this.error ? 'true' : 'false'}
            aria-describedby="error"
            @input=${this._onInput}
          />
          <button type="submit" ?disabled=${this.busy}>Join</button>
        </div>
      </form>
      <p id="error" class="error" role="alert">${this.error}</p>
    `;
  }

  /** Moves the keyboard focus to the nickname box. */
  override focus(): void {
    this.renderRoot.querySelector('input')?.focus();
  }

  private _onInput(): void {
    // A new attempt: the old refusal no longer describes what is typed.
    this.error = '';
  }

  private _onSubmit(event: SubmitEvent): void {
    event.preventDefault();
    if (this.busy) return;
    const nickname = this.renderRoot.querySelector('input')!.value;
    this.dispatchEvent(
      new CustomEvent<LoginSubmitDetail>('login-submit', {
        detail: { nickname },
        bubbles: true,
        composed: true,
      }),
    );
  }
}

customElements.define('login-form', LoginForm);

declare global {
  interface HTMLElementTagNameMap {
    'login-form': LoginForm;
  }
  interface HTMLElementEventMap {
    'login-submit': CustomEvent<LoginSubmitDetail>;
  }
}
