/**
 * How many open `/cart/status` sockets of this instance follow each session. Not a list of
 * sockets (messages still go through topics): after a loss of Redis, the application uses it to
 * know whose carts to resend, since those tabs may have missed a change.
 */
export class SessionViewers {
  readonly #counts = new Map<string, number>();

  /** One more socket follows `session`. */
  add(session: string): void {
    this.#counts.set(session, (this.#counts.get(session) ?? 0) + 1);
  }

  /** One socket fewer follows `session`. */
  delete(session: string): void {
    const count = this.#counts.get(session) ?? 0;
    if (count <= 1) this.#counts.delete(session);
    else this.#counts.set(session, count - 1);
  }

  /** The sessions with at least one socket here. */
  sessions(): string[] {
    return [...this.#counts.keys()];
  }
}
