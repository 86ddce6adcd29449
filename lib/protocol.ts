/**
 * The wire contract with the addon: event kinds and the slot of every field in the flat arrays
 * that cross N-API. The same tables as native/src/protocol.h; test/protocol.test.ts compares
 * the two (through `binding.protocol()`), so neither side can change alone. `const enum`s are
 * inlined by tsc (no lookups on the hot path) and kept as objects for that test
 * (`preserveConstEnums`).
 * @internal
 */

/** Events, delivered as `[kind, owner, requestId, payload]` quadruples. */
export const enum Event {
  Connected = 1,
  ConnectError = 2,
  Response = 3,
  Data = 4,
  End = 5,
  RequestError = 6,
  Closed = 7,
  Drain = 8,
  Informational = 9,
  Draining = 10,
}

/** Response head tuple (informational heads carry the first `InformationalSize` slots). */
export const enum Head {
  Status = 0,
  Version = 1,
  Reason = 2,
  RawHeaders = 3,
  Body = 4,
  Ended = 5,
  KeepAlive = 6,
  Close = 7,
  SentAt = 8,
  HeadAt = 9,
  Size = 10,
  InformationalSize = 4,
}

/** Error tuple: every error the addon reports has this shape. */
export const enum Err {
  LocalCode = 0,
  HyperCode = 1,
  Message = 2,
  ErrnoName = 3,
  Errno = 4,
  Syscall = 5,
  RequestSent = 6,
  TlsCode = 7,
  Field = 8,
  Size = 9,
}

/** TLS tuple from `Connection.tlsInfo()`. */
export const enum Tls {
  Alpn = 0,
  Version = 1,
  Cipher = 2,
  AuthorizationError = 3,
  SessionReused = 4,
  Http2 = 5,
  Size = 6,
}

/** One attempt of a happy-eyeballs connect race (`Connection.connectAttempts()`). */
export const enum Attempt {
  Address = 0,
  Family = 1,
  Outcome = 2,
  Error = 3,
  Size = 4,
}

/** What became of an attempt. */
export const enum AttemptOutcome {
  NotTried = 0,
  Pending = 1,
  Connected = 2,
  Failed = 3,
  Abandoned = 4,
}

/** A forward proxy's answer to CONNECT (`Connection.tunnelReply()`). */
export const enum Tunnel {
  Status = 0,
  Reason = 1,
  RawHeaders = 2,
  Size = 3,
}

/**
 * How a connection was set up (`Connection.connectionInfo()`): step times in ms on the
 * uv_hrtime clock (0 = not reached), and the socket's addresses (family 0: a Unix socket).
 */
export const enum ConnInfo {
  StartedAt = 0,
  ConnectedAt = 1,
  SecuredAt = 2,
  ReadyAt = 3,
  Family = 4,
  LocalAddress = 5,
  LocalPort = 6,
  RemoteAddress = 7,
  RemotePort = 8,
  Size = 9,
}

/** A response head as the addon sends it (read it by {@link Head} slot; times in ms on the uv_hrtime clock). */
export type NativeHead = [status: number, version: number, reason: string, rawHeaders: string,
  body: Buffer | null, ended: boolean, keepAliveMs: number, close: boolean, sentAt: number, headAt: number]
/** An informational (1xx) head. */
export type NativeInformational = [status: number, version: number, reason: string, rawHeaders: string]
/** An error as the addon reports it (read it by {@link Err} slot). */
export type NativeErrorInfo = [localCode: string, hyperCode: number, message: string, errnoName: string | undefined,
  errno: number | undefined, syscall: string, requestSent: boolean, tlsCode: string | undefined, field: string | undefined]
/** What a TLS handshake negotiated (read it by {@link Tls} slot). */
export type NativeTlsInfo = [alpn: string, version: string, cipher: string, authorizationError: string,
  sessionReused: boolean, http2: boolean]

/** A connect attempt as the addon reports it (read it by {@link Attempt} slot). */
export type NativeAttempt = [address: string, family: 4 | 6, outcome: AttemptOutcome, error: NativeErrorInfo | undefined]
/** How a connection was set up (read it by {@link ConnInfo} slot). */
export type NativeConnInfo = [startedAt: number, connectedAt: number, securedAt: number, readyAt: number,
  family: 0 | 4 | 6, localAddress: string, localPort: number, remoteAddress: string, remotePort: number]
/** A proxy's answer to CONNECT (read it by {@link Tunnel} slot). */
export type NativeTunnelReply = [status: number, reason: string, rawHeaders: string]

/** Splits the addon's NUL-joined header list into `[name, value, ...]`. */
export function splitRawHeaders (joined: string): string[] {
  return joined === '' ? [] : joined.split('\0')
}
