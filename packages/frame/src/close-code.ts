/**
 * Close codes from RFC 6455 §7.4.1 and the IANA "WebSocket Close Code Number Registry".
 *
 * `NO_STATUS_RCVD` (1005) and `ABNORMAL_CLOSURE` (1006) are reported locally and are never sent on
 * the wire (§7.4.1: they "MUST NOT be set as a status code in a Close control frame").
 */
export const CloseCode = {
  NORMAL_CLOSURE: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  NO_STATUS_RCVD: 1005,
  ABNORMAL_CLOSURE: 1006,
  INVALID_PAYLOAD_DATA: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
  TLS_HANDSHAKE: 1015,
} as const;

/** A close code named in {@link CloseCode}. Application codes 3000–4999 are plain numbers. */
export type CloseCodeName = keyof typeof CloseCode;

/**
 * Whether `code` may appear in a Close frame on the wire (RFC 6455 §7.4.1, §7.4.2 and the IANA
 * registry): 1000–1003, 1007–1014 and 3000–4999. Everything else in a received Close frame is a
 * protocol error (1002), and this library refuses to send it.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}
