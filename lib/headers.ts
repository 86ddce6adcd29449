/** Response header conversion, following Node's http.IncomingMessage rules. @internal */

/** Response headers keyed by lower-cased name. */
export type IncomingHeaders = Record<string, string | string[] | undefined> & { 'set-cookie'?: string[] }

// Node keeps only the first value of these when they repeat (lib/_http_incoming.js).
const FIRST_WINS = new Set([
  'content-type', 'content-length', 'user-agent', 'referer', 'host', 'authorization',
  'proxy-authorization', 'if-modified-since', 'if-unmodified-since', 'from', 'location',
  'max-forwards', 'retry-after', 'etag', 'last-modified', 'server', 'age', 'expires',
])

/** Builds Node-style headers from raw [name, value, ...] pairs. */
export function headersFromRaw (raw: readonly string[]): IncomingHeaders {
  const out: IncomingHeaders = Object.create(null)
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase()
    const value = raw[i + 1]!
    const prev = out[name]
    if (name === 'set-cookie') {
      if (prev === undefined) out[name] = [value]
      else (prev as string[]).push(value)
    } else if (prev === undefined) {
      out[name] = value
    } else if (FIRST_WINS.has(name)) {
      // keep the first
    } else if (name === 'cookie') {
      out[name] = `${prev as string}; ${value}`
    } else {
      out[name] = `${prev as string}, ${value}`
    }
  }
  return out
}
