/** Input validation shared by the API layers. @internal */
import { InvalidArgumentError } from './errors.js'

/** An HTTP token (RFC 9110 5.6.2): methods, header names. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// Header values: HTAB, visible ASCII, obs-text; no CR, LF, NUL or other controls.
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/
// Request targets: no controls, spaces or characters beyond latin1 (as Node's http).
const INVALID_PATH = /[^\u0021-\u00ff]/
// What Node and undici send as is but hyper's URI parser refuses: `"`, `<`, `>`, `` ` ``, DEL and
// non-ASCII. They are percent-encoded (non-ASCII as UTF-8, as a WHATWG URL would), which any
// server decodes to the same path.
const NEEDS_ENCODING = /[\u0022\u003c\u003e\u0060\u007f-\u00ff]/g
/** hyper's (the http crate's) longest request target. */
const MAX_TARGET = 65534

export function validateMethod (method: unknown): string {
  if (typeof method !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'method', `method must be a string, got ${typeof method}`)
  if (!TOKEN.test(method)) throw new InvalidArgumentError('ERR_INVALID_HTTP_TOKEN', 'method', `method must be a valid HTTP token: ${JSON.stringify(method)}`)
  return method
}

export function validatePath (p: unknown): string {
  if (typeof p !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'path', `path must be a string, got ${typeof p}`)
  if (p.length === 0) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'path', 'path must not be empty')
  if (INVALID_PATH.test(p)) throw new InvalidArgumentError('ERR_UNESCAPED_CHARACTERS', 'path', `path contains unescaped characters: ${JSON.stringify(p)}`)
  if (p[0] !== '/' && p !== '*' && !/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(p)) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'path', `path must start with "/", be "*", or be an absolute URL: ${JSON.stringify(p)}`)
  }
  NEEDS_ENCODING.lastIndex = 0
  const target = NEEDS_ENCODING.test(p) ? p.replace(NEEDS_ENCODING, (c) => encodeURIComponent(c)) : p
  if (target.length > MAX_TARGET) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'path', `the request target is ${target.length} bytes long; hyper accepts at most ${MAX_TARGET}`)
  }
  return target
}

export function validateHeaderName (name: unknown): string {
  if (typeof name !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'headers', `header name must be a string, got ${typeof name}`)
  if (!TOKEN.test(name)) throw new InvalidArgumentError('ERR_INVALID_HTTP_TOKEN', `headers.${name}`, `header name must be a valid HTTP token: ${JSON.stringify(name)}`)
  return name
}

export function validateHeaderValue (name: string, value: unknown): string {
  let v: string
  if (typeof value === 'string') v = value
  else if (typeof value === 'number' && Number.isFinite(value)) v = String(value)
  else if (typeof value === 'bigint') v = String(value)
  else throw new InvalidArgumentError('ERR_HTTP_INVALID_HEADER_VALUE', `headers.${name}`, `invalid value for header "${name}": ${typeof value}`)
  if (INVALID_VALUE.test(v)) throw new InvalidArgumentError('ERR_INVALID_CHAR', `headers.${name}`, `invalid character in header "${name}" (CR, LF, NUL and other control characters are not allowed)`)
  return v
}

/** Request header input accepted by `request()`. */
export type HeadersInput =
  | Record<string, string | number | readonly (string | number)[] | undefined>
  | ReadonlyArray<readonly [string, string | number]>
  | readonly string[]
  | ReadonlyMap<string, string | number | readonly (string | number)[]>
  | Headers

/** Flattens and validates headers into [name, value, name, value, ...] (names keep their case). */
export function flattenHeaders (headers: HeadersInput | undefined | null): string[] {
  const out: string[] = []
  if (headers == null) return out
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as ReadonlyArray<readonly [string, string | number]>) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'headers', 'header pairs must be [name, value] arrays')
        const n = validateHeaderName(pair[0])
        out.push(n, validateHeaderValue(n, pair[1]))
      }
    } else {
      if (headers.length % 2 !== 0) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'headers', 'a flat header array must have an even length')
      for (let i = 0; i < headers.length; i += 2) {
        const n = validateHeaderName(headers[i])
        out.push(n, validateHeaderValue(n, headers[i + 1]))
      }
    }
    return out
  }
  if (typeof headers !== 'object') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'headers', 'headers must be an object or an array')
  if (headers instanceof Map || (typeof Headers !== 'undefined' && headers instanceof Headers)) {
    // A Map or WHATWG Headers: [name, value] entries (Headers joins repeated values itself).
    for (const [name, value] of headers as Iterable<[unknown, unknown]>) {
      const n = validateHeaderName(name)
      if (Array.isArray(value)) {
        for (const v of value) out.push(n, validateHeaderValue(n, v))
      } else {
        out.push(n, validateHeaderValue(n, value))
      }
    }
    return out
  }
  for (const name of Object.keys(headers)) {
    const value = (headers as Record<string, unknown>)[name]
    validateHeaderName(name)
    if (Array.isArray(value)) {
      for (const v of value) out.push(name, validateHeaderValue(name, v))
    } else {
      out.push(name, validateHeaderValue(name, value))
    }
  }
  return out
}

// host [":" port] (RFC 3986 authority without userinfo; RFC 9113 8.3.1): a reg-name, an IPv4
// address or a bracketed IPv6 literal. Anything else ("/", "?", "#", "@", spaces, non-ASCII)
// would let a Host value rewrite the request target once spliced into an HTTP/2 URI.
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+(?:%25[0-9A-Za-z._~-]+)?\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d{0,5})?$/

/** A Host header / authority value (throws InvalidArgumentError with code ERR_INVALID_AUTHORITY). */
export function validateAuthority (field: string, v: string): string {
  if (!AUTHORITY.test(v)) {
    throw new InvalidArgumentError('ERR_INVALID_AUTHORITY', field, `${field} is not a valid host[:port]: ${JSON.stringify(v)}`)
  }
  return v
}

/** Longest timer libuv and Node run as asked (2^31 - 1 ms, about 24.8 days). */
export const TIMER_MAX = 0x7fffffff

/** A timeout in ms: a non-negative number; longer than a timer can run means "no sooner than that" (clamped). */
export function validateTimeout (name: string, v: unknown): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', name, `${name} must be a non-negative number of milliseconds`)
  }
  return v > TIMER_MAX ? TIMER_MAX : v
}

/** A count option (connections, queue length, retries): a non-negative integer, `dflt` when absent. */
export function validateCount (name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', name, `${name} must be a non-negative integer`)
  return v
}

/** The `http2` connect/pool option: `true`, `false`, `'auto'` or absent. */
export function validateHttp2 (v: unknown): void {
  if (v !== undefined && typeof v !== 'boolean' && v !== 'auto') {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'http2', "http2 must be true, false or 'auto'")
  }
}

/** Finds a header (case-insensitive) in a flat list. */
export function hasHeader (flat: readonly string[], lowerName: string): boolean {
  for (let i = 0; i < flat.length; i += 2) {
    const n = flat[i]!
    if (n.length === lowerName.length && n.toLowerCase() === lowerName) return true
  }
  return false
}
