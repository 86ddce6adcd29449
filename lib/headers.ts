/** Response header conversion from the addon's NUL-joined raw headers: Node's http.IncomingMessage rules, undici's shapes. @internal */

import { splitRawHeaders } from './protocol.js'

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

/** Node's internal Buffer class (`Buffer[Symbol.species]`): `new FastBuffer(arrayBuffer, offset, length)` is a view. */
const FastBuffer = (Buffer as unknown as { [Symbol.species]: new (ab: ArrayBufferLike, offset: number, length: number) => Buffer })[Symbol.species]

/**
 * The addon's NUL-joined raw headers as the `Buffer[]` undici's `onHeaders` wants: one latin1
 * Buffer for the whole head and a view per name and value (no copy per field).
 */
export function rawBuffers (joined: string): Buffer[] {
  if (joined === '') return []
  const all = Buffer.from(joined, 'latin1')
  const ab = all.buffer
  const base = all.byteOffset
  const out: Buffer[] = []
  let start = 0
  for (;;) {
    const nul = joined.indexOf('\0', start)
    const end = nul === -1 ? joined.length : nul
    // Node's Buffer class itself (what `subarray` builds after its own argument checks, which
    // cost more than the view: ~16 per response here), as undici's parser makes its header views.
    out.push(new FastBuffer(ab, base + start, end - start))
    if (nul === -1) return out
    start = nul + 1
  }
}

/** undici's `parseHeaders` from the addon's NUL-joined raw headers: lower-cased names, repeats as arrays. */
export function headersObject (joined: string): Record<string, string | string[]> {
  return headersObjectFromList(splitRawHeaders(joined))
}

/** {@link headersObject} from `[name, value, ...]` pairs. */
export function headersObjectFromList (raw: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i]!.toLowerCase()
    const value = raw[i + 1]!
    const prev = Object.hasOwn(out, key) ? out[key] : undefined
    if (prev === undefined) {
      Object.defineProperty(out, key, { value, enumerable: true, configurable: true, writable: true })
    } else if (typeof prev === 'string') {
      out[key] = [prev, value]
    } else {
      prev.push(value)
    }
  }
  return out
}
