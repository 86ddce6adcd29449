/**
 * Error classes. Every runtime failure is a {@link HyperError} (or subclass) with a stable
 * `code`; invalid input is an {@link InvalidArgumentError} (a `TypeError`).
 */
import { Err, type NativeErrorInfo } from './protocol.js'

/** hyper's `hyper_code` values mapped to stable codes. */
export const HYPER_CODES: Readonly<Record<number, string>> = Object.freeze({
  1: 'HYPER_ERROR',
  2: 'HYPER_INVALID_ARG',
  3: 'HYPER_UNEXPECTED_EOF',
  4: 'HYPER_ABORTED_BY_CALLBACK',
  5: 'HYPER_FEATURE_NOT_ENABLED',
  6: 'HYPER_INVALID_PEER_MESSAGE',
})

export interface HyperErrorOptions {
  cause?: unknown
  hyperCode?: number
  errno?: number
  syscall?: string
  requestSent?: boolean
}

/** Base class of every runtime error node-hyper reports. */
export class HyperError extends Error {
  /** Stable machine-readable code, e.g. `ECONNREFUSED`, `HYPER_INVALID_PEER_MESSAGE`. */
  readonly code: string
  /** hyper's numeric `hyper_code` when hyper reported the failure. */
  readonly hyperCode?: number
  /** libuv errno (negative) when a socket call failed. */
  readonly errno?: number
  /** The failing system call (`connect`, `read`, `write`, ...). */
  readonly syscall?: string
  /** Whether any byte of the request reached the socket (false means a retry is safe). */
  readonly requestSent?: boolean
  /**
   * A connect that tried several addresses (happy eyeballs, `autoSelectFamily`) and failed: one
   * error per attempt, in the order they started (like the `errors` of Node's `AggregateError`).
   */
  readonly errors?: Error[]

  constructor (code: string, message: string, options: HyperErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    if (options.hyperCode !== undefined) this.hyperCode = options.hyperCode
    if (options.errno !== undefined) this.errno = options.errno
    if (options.syscall !== undefined) this.syscall = options.syscall
    if (options.requestSent !== undefined) this.requestSent = options.requestSent
  }
}

/** hyper rejected what the peer sent, or failed in a way it reported (code `HYPER_*`). */
export class ProtocolError extends HyperError {}

/** A socket operation failed; `code` is the errno name (`ECONNREFUSED`, `ECONNRESET`, ...). */
export class SocketError extends HyperError {
  /** Remote address, for connect errors. */
  address?: string
  /** Remote port, for connect errors. */
  port?: number
}

/** The connection closed or was destroyed before the request completed (`ERR_CONNECTION_CLOSED`, `ERR_DESTROYED`, `ERR_CLOSED`). */
export class ConnectionClosedError extends HyperError {}

/**
 * The TLS handshake or session failed. `code` uses Node's names where they exist: certificate
 * verification (`DEPTH_ZERO_SELF_SIGNED_CERT`, `CERT_HAS_EXPIRED`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
 * `SELF_SIGNED_CERT_IN_CHAIN`, `ERR_TLS_CERT_ALTNAME_INVALID`, ...), OpenSSL failures as
 * `ERR_SSL_<REASON>` (`ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE`, `ERR_SSL_WRONG_VERSION_NUMBER`, ...),
 * and bad TLS options (`ERR_TLS_INVALID_CA`, `ERR_TLS_INVALID_KEY`, `ERR_TLS_KEY_MISMATCH`, ...).
 */
export class TlsError extends HyperError {}

/** The operation was aborted through an `AbortSignal` (`code` `ABORT_ERR`; `cause` is the signal's reason). */
export class AbortError extends HyperError {
  constructor (reason?: unknown) {
    super('ABORT_ERR', reason instanceof Error && reason.message ? `the operation was aborted: ${reason.message}` : 'the operation was aborted', { cause: reason })
  }
}

/** A connect, response-head or body-idle timeout (`ERR_CONNECT_TIMEOUT`, `ERR_HEADERS_TIMEOUT`, `ERR_BODY_TIMEOUT`). */
export class TimeoutError extends HyperError {}

/**
 * An upgrade or CONNECT request got an answer that does not hand over the connection:
 * `ERR_UPGRADE_REJECTED` (an upgrade answered with a final status other than 101),
 * `ERR_BAD_UPGRADE` (a 101 without the `Upgrade`/`Connection: upgrade` fields of a protocol
 * switch), `ERR_CONNECT_REJECTED` (a CONNECT answered with a status outside 2xx). The dedicated
 * connection is closed; the response head is kept here.
 */
export class UpgradeError extends HyperError {
  /** The status the server answered with. */
  readonly statusCode: number
  /** Its reason phrase. */
  readonly statusText: string
  /** The response headers as received: `[name, value, ...]` in wire case and order. */
  readonly rawHeaders: string[]

  constructor (code: string, message: string, statusCode: number, statusText: string, rawHeaders: string[], options: HyperErrorOptions = {}) {
    super(code, message, options)
    this.statusCode = statusCode
    this.statusText = statusText
    this.rawHeaders = rawHeaders
  }
}

/**
 * A forward proxy refused or broke a tunnel: `ERR_PROXY_REJECTED` (its answer to `CONNECT` was
 * not 2xx: `statusCode` 407 when it wants credentials, 403 when it forbids the target, 502 when
 * it could not reach it, ...), `ERR_PROXY_BAD_RESPONSE` (the answer was not HTTP, or the proxy
 * closed the connection first; `statusCode` 0). Never retried: connecting elsewhere would not
 * go through the proxy. Requests sent in absolute form (`http:` targets) get the proxy's answer
 * (a 407 included) as their response instead.
 */
export class ProxyError extends HyperError {
  /** The proxy (its origin, without credentials). */
  readonly proxy: string
  /** The status the proxy answered with (0 when there was no valid answer). */
  readonly statusCode: number
  /** Its reason phrase. */
  readonly statusText: string
  /** The answer's headers as received (e.g. `Proxy-Authenticate`): `[name, value, ...]`. */
  readonly rawHeaders: string[]

  constructor (code: string, message: string, proxy: string, statusCode: number, statusText: string, rawHeaders: string[], options: HyperErrorOptions = {}) {
    super(code, message, options)
    this.proxy = proxy
    this.statusCode = statusCode
    this.statusText = statusText
    this.rawHeaders = rawHeaders
  }
}

/** The request body source (stream or iterable) threw (`ERR_REQUEST_BODY`; `cause` is what it threw). */
export class RequestBodyError extends HyperError {}

/** Invalid input (method, URL, header, body, option). Thrown before anything is sent. */
export class InvalidArgumentError extends TypeError {
  readonly code: string
  /** The offending field, e.g. `method`, `headers.x-foo`, `path`. */
  readonly field: string
  constructor (code: string, field: string, message: string) {
    super(message)
    this.name = 'InvalidArgumentError'
    this.code = code
    this.field = field
  }
}

// hyper reports both of its response-head limits with one message; name them (hyper's h1 parser
// has room for 100 headers, and buffers at most ~408 KiB of head).
const HYPER_MESSAGES: Readonly<Record<string, string>> = Object.freeze({
  'message head is too large': 'message head is too large: hyper accepts at most 100 headers and about 408 KiB of response head',
})

// The addon's own codes that mean "the connection is gone" (the rest are plain HyperErrors).
const CLOSED_CODES = new Set(['ERR_CONNECTION_CLOSED', 'ERR_DESTROYED', 'ERR_CLOSED', 'ABORT_ERR', 'ERR_HTTP2_GOAWAY'])

/** Builds the typed error for what the addon reported. */
export function errorFromNative (info: NativeErrorInfo, context?: string): HyperError {
  const localCode = info[Err.LocalCode]
  const hyperCode = info[Err.HyperCode]
  const message = info[Err.Message]
  const errnoName = info[Err.ErrnoName]
  const syscall = info[Err.Syscall]
  const opts: HyperErrorOptions = { requestSent: info[Err.RequestSent] }
  if (hyperCode) opts.hyperCode = hyperCode
  if (info[Err.Errno] !== undefined) opts.errno = info[Err.Errno]
  if (syscall) opts.syscall = syscall
  const tlsCode = info[Err.TlsCode]
  if (localCode.endsWith('_TIMEOUT')) return new TimeoutError(localCode, message, opts)
  if (tlsCode) return new TlsError(tlsCode, message, opts)
  if (localCode) {
    const detail = errnoName ? ` (${syscall} ${errnoName})` : ''
    return CLOSED_CODES.has(localCode)
      ? new ConnectionClosedError(localCode, `${message}${detail}`, opts)
      : new HyperError(localCode, `${message}${detail}`, opts)
  }
  if (errnoName) {
    const hyperPart = hyperCode ? ` (hyper: ${message})` : ''
    return new SocketError(errnoName, `${syscall || 'socket'} ${errnoName}${context ? ' ' + context : ''}${hyperPart}`, opts)
  }
  const code = HYPER_CODES[hyperCode] ?? 'HYPER_ERROR'
  return new ProtocolError(code, HYPER_MESSAGES[message] ?? (message || code), opts)
}

/** A request the addon refused synchronously: a field hyper rejected, or a closed connection. */
export function refusalFromNative (info: NativeErrorInfo): HyperError | InvalidArgumentError {
  const field = info[Err.Field]
  if (field) return new InvalidArgumentError(info[Err.LocalCode] || 'ERR_INVALID_ARG_VALUE', field, `${info[Err.Message]} (hyper code ${info[Err.HyperCode]})`)
  return errorFromNative(info)
}

/**
 * Whether a request that failed this way may be sent again (on another connection): the
 * connection or the socket failed, or closed before a complete response. Never after an abort
 * or a timeout (the caller's decision), a TLS verification failure, a failed request body, or a
 * response hyper rejected.
 */
export function isRetryable (err: unknown): boolean {
  if (err instanceof AbortError || err instanceof TimeoutError || err instanceof TlsError || err instanceof RequestBodyError) return false
  if (err instanceof ConnectionClosedError) return err.code !== 'ERR_DESTROYED'  // destroy() is the caller's decision
  // A connection cut short is worth another try; a server that broke the protocol (a head
  // hyper cannot parse, an HTTP/2 error) would most likely break it again.
  return err instanceof SocketError || (err instanceof ProtocolError && err.code === 'HYPER_UNEXPECTED_EOF')
}
