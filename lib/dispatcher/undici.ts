/**
 * The undici package, loaded lazily (node-hyper does not need it to load), and undici's error
 * classes for what node-hyper reports.
 * @internal
 */
import { HyperError, InvalidArgumentError as HyperInvalidArgumentError } from '../errors.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type UndiciModule = any

let undiciModule: UndiciModule | null | undefined
let loadError: unknown

/** The `undici` package if it can be loaded (once; `null` when it is not installed or does not load). */
export function loadUndici (): UndiciModule | null {
  if (undiciModule === undefined) {
    try {
      undiciModule = require('undici') as UndiciModule
    } catch (err) {
      undiciModule = null
      loadError = err
    }
  }
  return undiciModule
}

export function undiciOrThrow (what: string): UndiciModule {
  const u = loadUndici()
  if (u) return u
  // Installed but failing to load (undici 8 on Node 20 throws at require time) is not "missing".
  const missing = (loadError as { code?: string })?.code === 'MODULE_NOT_FOUND' && String((loadError as Error).message).includes("'undici'")
  throw new HyperError('ERR_UNDICI_MISSING', missing
    ? `${what} needs the undici package (npm install undici)`
    : `${what} needs the undici package, which failed to load: ${(loadError as Error)?.message ?? String(loadError)}`, { cause: loadError })
}

function withCause<E extends Error> (err: E, cause: unknown): E {
  if (cause !== undefined && cause !== err) {
    Object.defineProperty(err, 'cause', { value: cause, configurable: true, writable: true, enumerable: false })
  }
  return err
}

/** undici's error for what node-hyper reported (the original is its `cause`); the original when undici is not installed. */
export function toUndiciError (err: unknown): Error {
  const u = loadUndici()
  if (!(err instanceof Error)) return err as Error
  if (!u) return err
  const E = u.errors
  const code = (err as { code?: unknown }).code
  switch (code) {
    case 'ERR_CONNECT_TIMEOUT': return withCause(new E.ConnectTimeoutError(`Connect Timeout Error (${err.message})`), err)
    case 'ERR_HEADERS_TIMEOUT': return withCause(new E.HeadersTimeoutError(), err)
    case 'ERR_BODY_TIMEOUT': return withCause(new E.BodyTimeoutError(), err)
    case 'ERR_CLOSED': return withCause(new E.ClientClosedError(), err)
    case 'ERR_DESTROYED': return err.cause instanceof Error ? err.cause : withCause(new E.ClientDestroyedError(), err)
    case 'ERR_MAX_ORIGINS': return E.MaxOriginsReachedError ? withCause(new E.MaxOriginsReachedError(), err) : err
    case 'ERR_HEADERS_OVERFLOW': return withCause(new E.HeadersOverflowError(), err)
    case 'ERR_HTTP_CONTENT_LENGTH_MISMATCH': return withCause(new E.RequestContentLengthMismatchError(), err)
    // The server closed the connection before a complete response (hyper: unexpected EOF, or
    // a body cut short): undici reports this as a SocketError ('other side closed').
    case 'ERR_CONNECTION_CLOSED':
    case 'HYPER_UNEXPECTED_EOF':
    case 'HYPER_ERROR':
      return withCause(new E.SocketError('other side closed'), err)
    // A request body stream that failed: undici reports the stream's own error.
    case 'ERR_REQUEST_BODY': return err.cause instanceof Error ? err.cause : err
    case 'ERR_NOT_SUPPORTED': return withCause(new E.NotSupportedError(err.message), err)
    // A tunnel the proxy refused: undici's ProxyAgent reports it this way (the status is on the cause).
    case 'ERR_PROXY_REJECTED': return withCause(new E.RequestAbortedError(`Proxy response (${(err as { statusCode?: number }).statusCode}) !== 200 when HTTP Tunneling`), err)
    default:
      if (err instanceof HyperInvalidArgumentError) return withCause(new E.InvalidArgumentError(err.message), err)
      // errno errors (ECONNREFUSED, ECONNRESET, ENOTFOUND, ...) stay as they are: undici too
      // surfaces Node's socket errors with their errno `code`.
      return err
  }
}

export function invalidArgument (message: string): Error {
  const u = loadUndici()
  return u ? new u.errors.InvalidArgumentError(message) : new HyperInvalidArgumentError('ERR_INVALID_ARG_VALUE', 'options', message)
}

export function notSupported (message: string): Error {
  const u = loadUndici()
  return u ? new u.errors.NotSupportedError(message) : new HyperError('ERR_NOT_SUPPORTED', message)
}

export function requestAborted (): Error {
  const u = loadUndici()
  return u ? new u.errors.RequestAbortedError() : new HyperError('ABORT_ERR', 'Request aborted')
}

export function clientDestroyed (): Error {
  const u = loadUndici()
  return u ? new u.errors.ClientDestroyedError() : new HyperError('ERR_DESTROYED', 'The client is destroyed')
}

export function clientClosed (): Error {
  const u = loadUndici()
  return u ? new u.errors.ClientClosedError() : new HyperError('ERR_CLOSED', 'The client is closed')
}

export function badUpgrade (): Error {
  const u = loadUndici()
  return u ? new u.errors.SocketError('bad upgrade', null) : new HyperError('ERR_BAD_UPGRADE', 'bad upgrade')
}
