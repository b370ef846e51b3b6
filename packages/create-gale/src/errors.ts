/** Every way `create-gale` refuses to run; the README's error table lists them. */
export type CreateGaleErrorCode =
  | 'ERR_INVALID_ARGS'
  | 'ERR_MISSING_DIR'
  | 'ERR_MISSING_TEMPLATE'
  | 'ERR_UNKNOWN_TEMPLATE'
  | 'ERR_INVALID_NAME'
  | 'ERR_NOT_A_DIRECTORY'
  | 'ERR_DIR_NOT_EMPTY'
  | 'ERR_UNKNOWN_WORKSPACE_PACKAGE';

/**
 * A mistake the user can fix (a missing argument, a non-empty directory, …). The CLI prints its
 * message and exits with code 1; anything else thrown is a bug and is printed with its stack.
 */
export class CreateGaleError extends Error {
  readonly code: CreateGaleErrorCode;

  constructor(code: CreateGaleErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CreateGaleError';
    this.code = code;
  }
}
