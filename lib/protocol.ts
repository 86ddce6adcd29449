/**
 * The wire contract with the addon: event kinds, the slots of an event record, and the slot of
 * every field in the tuples that cross N-API. The same tables as native/src/protocol.h;
 * test/protocol.test.ts compares the two (through `binding.protocol()`), so neither side can
 * change alone. `const enum`s are inlined by tsc (no lookups on the hot path) and kept as objects
 * for that test (`preserveConstEnums`).
 *
 * Events arrive in batches: `(count, text, objects)`, with `count` records of `Slot.Size` numbers
 * in the Executor's shared Float64Array (see native/src/protocol.h for why).
 * @internal
 */

/** Event kinds. */
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

/** One event record in the shared Float64Array. */
export const enum Slot {
  Kind = 0,
  Owner = 1,
  Id = 2,
  Status = 3,
  Version = 4,
  Flags = 5,
  KeepAlive = 6,
  TextStart = 7,
  TextLength = 8,
  BodyStart = 9,
  BodyLength = 10,
  Object = 11,
  /** Response: ms on the uv_hrtime clock: the request was handed to hyper; its head was parsed. */
  SentAt = 12,
  HeadAt = 13,
  Size = 14,
}

/** Bits of `Slot.Flags`. */
export const enum Flag {
  Ended = 1,
  Close = 2,
}

export const enum Limit {
  /** Bodies up to this many bytes travel in the batch text; larger ones as Buffers in `objects`. */
  InlineBody = 4096,
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

/** A response head (final or 1xx), read from its event record. */
export class ResponseHead {
  readonly status: number
  /** 10, 11, 20 */
  readonly version: number
  readonly reason: string
  /** Names and values in wire order, joined by NUL (split with {@link splitRawHeaders}). */
  readonly rawHeaders: string
  /** Body bytes that arrived with the head (null: none). */
  readonly body: Buffer | null
  /** The body ended with the head: the exchange is over. */
  readonly ended: boolean
  /** `Keep-Alive: timeout=N` in ms, -1 when absent. */
  readonly keepAlive: number
  /** `Connection: close`. */
  readonly close: boolean

  constructor (meta: Float64Array, at: number, text: string, objects: unknown[]) {
    this.status = meta[at + Slot.Status]!
    this.version = meta[at + Slot.Version]!
    const start = meta[at + Slot.TextStart]!
    const nul = text.indexOf('\0', start)
    this.reason = detachedSlice(text, start, nul)
    this.rawHeaders = detachedSlice(text, nul + 1, start + meta[at + Slot.TextLength]!)
    this.body = bodyOf(meta, at, text, objects)
    const flags = meta[at + Slot.Flags]!
    this.ended = (flags & Flag.Ended) !== 0
    this.close = (flags & Flag.Close) !== 0
    this.keepAlive = meta[at + Slot.KeepAlive]!
  }
}

/**
 * `text.slice(start, end)` as a string of its own. V8 makes a slice of 13 or more characters a
 * view that keeps its parent alive: a head kept by a response (or by an undici body stream) would
 * keep the whole batch text with it — every head and small body of that loop turn — and those
 * objects then survive young-generation GCs and are promoted (undici's `request()` on
 * `HyperDispatcher` promoted ~3 KB per request that way and ran 4x the Mark-Compacts).
 * Concatenating first makes V8 flatten into a copy; the slice is then a view of that copy only.
 */
export function detachedSlice (text: string, start: number, end: number): string {
  return end - start < 13 ? text.slice(start, end) : (' ' + text.slice(start, end)).slice(1)
}

/** The body bytes of an event record: from the batch text (small) or `objects` (large); null when none. */
export function bodyOf (meta: Float64Array, at: number, text: string, objects: unknown[]): Buffer | null {
  const length = meta[at + Slot.BodyLength]!
  if (length < 0) return null
  const start = meta[at + Slot.BodyStart]!
  return start < 0 ? objects[meta[at + Slot.Object]!] as Buffer : Buffer.from(text.slice(start, start + length), 'latin1')
}
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
