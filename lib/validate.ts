/** Input validation shared by the API layers. @internal */
import * as net from 'node:net'
import { InvalidArgumentError } from './errors.js'

/** An HTTP token (RFC 9110 5.6.2): methods, header names. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// Header values: HTAB, visible ASCII, obs-text; no CR, LF, NUL or other controls.
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/
// Request targets: no controls, spaces or characters beyond latin1 (as Node's http).
const INVALID_PATH = /[^\u0021-\u00ff]/

/**
 * The registered methods most requests use, compared instead of running TOKEN over them (and
 * not looked up in a Set: a `switch` over string literals is pointer comparisons for the
 * internalized strings callers pass, a Set lookup hashes and probes on every request).
 */
function isCommonMethod (method: string): boolean {
  switch (method) {
    case 'GET': case 'HEAD': case 'POST': case 'PUT': case 'DELETE': case 'OPTIONS': case 'PATCH': case 'TRACE': case 'CONNECT':
      return true
  }
  return false
}

/** Whether `method` is an HTTP token. */
export function isMethodToken (method: string): boolean {
  return isCommonMethod(method) || TOKEN.test(method)
}

/**
 * Whether `method`, in any case, is one of `upperNames` (upper-case method names). A registered
 * method is already in upper case, so only other spellings pay for `toUpperCase`.
 */
export function methodIn (upperNames: ReadonlySet<string>, method: string): boolean {
  return upperNames.has(method) || (!isCommonMethod(method) && upperNames.has(method.toUpperCase()))
}

export function validateMethod (method: unknown): string {
  if (typeof method !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'method', `method must be a string, got ${typeof method}`)
  if (!isMethodToken(method)) throw new InvalidArgumentError('ERR_INVALID_HTTP_TOKEN', 'method', `method must be a valid HTTP token: ${JSON.stringify(method)}`)
  return method
}

/** hyper (the `http` crate) refuses request targets longer than this many bytes. */
export const MAX_TARGET_LENGTH = 65_534

// Bytes the `http` crate accepts unescaped in the path and in the query of a request target
// (http::uri::PathAndQuery); everything else in the latin1 range that Node would send raw is
// percent-encoded instead of being refused ("hyper code 2"). `#` is left alone: it starts a
// fragment, which is not sent (as with undici's URL parsing and fetch).
const PATH_NEEDS_ESCAPE = /[<>`\u0080-\u00ff]/
const QUERY_NEEDS_ESCAPE = /["<>\u0080-\u00ff]/
const PATH_ESCAPE_ALL = /[<>`\u0080-\u00ff]/g
const QUERY_ESCAPE_ALL = /["<>\u0080-\u00ff]/g
// An origin-form target with none of the characters the checks below refuse or escape: visible
// ASCII except `"`, `<`, `>` and `` ` `` (one test instead of three on most requests' paths).
const PLAIN_TARGET = /[^\u0021\u0023-\u003b\u003d\u003f-\u005f\u0061-\u007e]/
const ABSOLUTE_PREFIX = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/

/** The path and query with every character hyper would refuse percent-encoded (UTF-8, as the WHATWG URL parser does). */
function escapeTarget (target: string): string {
  const q = target.indexOf('?')
  const path = q === -1 ? target : target.slice(0, q)
  const query = q === -1 ? '' : target.slice(q)
  return (PATH_NEEDS_ESCAPE.test(path) ? path.replace(PATH_ESCAPE_ALL, encodeURIComponent) : path) +
    (QUERY_NEEDS_ESCAPE.test(query) ? query.replace(QUERY_ESCAPE_ALL, encodeURIComponent) : query)
}

/**
 * Validates a request target and returns it as it goes on the wire: characters Node's http
 * would send raw but hyper refuses (`<`, `>`, `` ` ``, latin1 letters such as `é`, and `"` in the
 * query) are percent-encoded (UTF-8); controls, spaces and characters beyond latin1 are refused
 * (`ERR_UNESCAPED_CHARACTERS`, as Node does), and so is a target longer than hyper's limit.
 */
export function validatePath (p: unknown): string {
  if (typeof p !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'path', `path must be a string, got ${typeof p}`)
  if (p.length === 0) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'path', 'path must not be empty')
  if (p[0] === '/' && p.length <= MAX_TARGET_LENGTH && !PLAIN_TARGET.test(p)) return p
  if (INVALID_PATH.test(p)) throw new InvalidArgumentError('ERR_UNESCAPED_CHARACTERS', 'path', `path contains unescaped characters: ${JSON.stringify(p)}`)
  let out = p
  if (p[0] === '/') {
    out = escapeTarget(p)
  } else if (p !== '*') {
    const prefix = ABSOLUTE_PREFIX.exec(p)
    if (!prefix) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'path', `path must start with "/", be "*", or be an absolute URL: ${JSON.stringify(p)}`)
    out = prefix[0] + escapeTarget(p.slice(prefix[0].length))
  }
  if (out.length > MAX_TARGET_LENGTH) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'path',
      `path is ${out.length} bytes long (percent-encoded); hyper sends request targets of at most 65,534 bytes`)
  }
  return out
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
  | Iterable<readonly [string, string | number]>

// host [ ":" port ] (RFC 3986 section 3.2; no userinfo, RFC 9113 section 8.3.1): a reg-name of
// unreserved, pct-encoded and sub-delims characters, an IPv4 address, or an IP literal in brackets.
const REG_NAME = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+$/
const IPV_FUTURE = /^v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+$/
const PORT = /^[0-9]{1,5}$/

/**
 * Checks an authority (`host[:port]`) for the `Host` header and the `host` option. On HTTP/2 it
 * becomes `:authority` and is spliced into the request URI, so `/`, `?`, `#` or `@` in it would
 * rewrite the path the server sees; on HTTP/1 it is what the server routes on. Anything but
 * host[:port] is an `InvalidArgumentError` (`ERR_INVALID_ARG_VALUE`).
 */
export function validateAuthority (value: unknown, field: string): string {
  if (typeof value !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', field, `${field} must be a string, got ${typeof value}`)
  const bad = (): InvalidArgumentError => new InvalidArgumentError('ERR_INVALID_ARG_VALUE', field,
    `${field} must be host[:port] (no path, query, fragment, userinfo or spaces): ${JSON.stringify(value)}`)
  let host = value
  let port: string | undefined
  if (value.startsWith('[')) {
    const end = value.indexOf(']')
    if (end === -1) throw bad()
    const literal = value.slice(1, end)
    const rest = value.slice(end + 1)
    if (rest !== '' && rest[0] !== ':') throw bad()
    if (rest !== '') port = rest.slice(1)
    if (!net.isIPv6(literal.replace(/%25/, '%')) && !IPV_FUTURE.test(literal)) throw bad()
    host = ''
  } else {
    const colon = value.lastIndexOf(':')
    if (colon !== -1) {
      host = value.slice(0, colon)
      port = value.slice(colon + 1)
    }
    if (!REG_NAME.test(host)) throw bad()
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) throw bad()
  return value
}

// Content-Length as hyper and every server parse it: 1*DIGIT (RFC 9110 section 8.6).
const CONTENT_LENGTH = /^[0-9]+$/

/** Validates one header; returns its value as sent. Host and Content-Length get their own grammar. */
function headerField (name: string, value: unknown): string {
  const v = validateHeaderValue(name, value)
  const lower = name.length === 4 || name.length === 14 ? name.toLowerCase() : ''
  if (lower === 'host') validateAuthority(v, `headers.${lower}`)
  else if (lower === 'content-length' && (!CONTENT_LENGTH.test(v) || !Number.isSafeInteger(Number(v)))) {
    throw new InvalidArgumentError('ERR_HTTP_INVALID_HEADER_VALUE', 'headers.content-length', `content-length must be a non-negative integer: ${JSON.stringify(v)}`)
  }
  return v
}

/** Flattens and validates headers into [name, value, name, value, ...] (names keep their case). */
export function flattenHeaders (headers: HeadersInput | undefined | null): string[] {
  const out: string[] = []
  if (headers == null) return out
  const add = (name: unknown, value: unknown): void => {
    const n = validateHeaderName(name)
    if (Array.isArray(value)) {
      for (const v of value) out.push(n, headerField(n, v))
    } else {
      out.push(n, headerField(n, value))
    }
  }
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as ReadonlyArray<readonly [string, string | number]>) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'headers', 'header pairs must be [name, value] arrays')
        const n = validateHeaderName(pair[0])
        out.push(n, headerField(n, pair[1]))
      }
    } else {
      if (headers.length % 2 !== 0) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'headers', 'a flat header array must have an even length')
      for (let i = 0; i < headers.length; i += 2) {
        const n = validateHeaderName(headers[i])
        out.push(n, headerField(n, headers[i + 1]))
      }
    }
  } else if (typeof headers !== 'object') {
    throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'headers', 'headers must be an object, an array, a Map or a Headers object')
  } else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    // A Map, a WHATWG Headers object, or any iterable of [name, value] pairs.
    for (const pair of headers as Iterable<unknown>) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'headers', 'an iterable of headers must yield [name, value] pairs')
      add(pair[0], pair[1])
    }
  } else {
    for (const name of Object.keys(headers)) add(name, (headers as Record<string, unknown>)[name])
  }
  checkContentLengths(out)
  return out
}

/** Repeated Content-Length fields must agree (RFC 9110 section 8.6); hyper would otherwise pick one. */
function checkContentLengths (flat: readonly string[]): void {
  let first: string | undefined
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i]!.length !== 14 || flat[i]!.toLowerCase() !== 'content-length') continue
    if (first === undefined) first = flat[i + 1]
    else if (Number(flat[i + 1]) !== Number(first)) {
      throw new InvalidArgumentError('ERR_HTTP_INVALID_HEADER_VALUE', 'headers.content-length', `conflicting content-length values: ${first} and ${flat[i + 1]!}`)
    }
  }
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
