/**
 * undici's request shapes to node-hyper's and node-hyper's response to undici's: header lists
 * (with undici's validation rules), body forms, raw header Buffers and header objects.
 * @internal
 */
import { Readable } from 'node:stream'
import type { RequestBody } from '../exchange.js'
import { TOKEN, hasHeader } from '../validate.js'
import { invalidArgument, loadUndici, notSupported } from './undici.js'

// undici's isValidHeaderValue: HTAB, visible ASCII and obs-text; no CR, LF, NUL or other controls.
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/

function headerValue (name: string, v: unknown): string {
  if (v === null) return ''
  if (typeof v === 'object' || typeof v === 'function' || typeof v === 'symbol') throw invalidArgument(`invalid ${name} header`)
  const s = typeof v === 'string' ? v : `${v as string | number | boolean | bigint}`
  if (INVALID_VALUE.test(s)) throw invalidArgument(`invalid ${name} header`)
  return s
}

/** undici's header forms (object, flat array, iterable of pairs; also an array of pairs) to a flat list, with undici's rules. */
export function flatHeaders (headers: unknown): string[] {
  const out: string[] = []
  const add = (name: unknown, value: unknown): void => {
    if (value === undefined) return
    if (typeof name !== 'string' || !TOKEN.test(name)) throw invalidArgument('invalid header key')
    const lower = name.toLowerCase()
    if (lower === 'transfer-encoding' || lower === 'keep-alive' || lower === 'upgrade') throw invalidArgument(`invalid ${lower} header`)
    if (lower === 'expect') throw notSupported('expect header not supported')
    if (Array.isArray(value)) {
      for (const v of value) out.push(name, headerValue(name, v))
      return
    }
    const v = headerValue(name, value)
    if (lower === 'connection') {
      // undici manages Connection itself; only `close` has a meaning (no keep-alive after this).
      const tokens = v.toLowerCase().split(',').map((t) => t.trim())
      if (tokens.some((t) => !TOKEN.test(t))) throw invalidArgument('invalid connection header')
      if (tokens.includes('close')) out.push(name, 'close')
      return
    }
    out.push(name, v)
  }
  if (headers == null) return out
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as unknown[]) {
        if (!Array.isArray(pair) || pair.length !== 2) throw invalidArgument('headers must be in key-value pair format')
        add(pair[0], pair[1])
      }
      return out
    }
    if (headers.length % 2 !== 0) throw invalidArgument('headers array must be even')
    for (let i = 0; i < headers.length; i += 2) add(headers[i], headers[i + 1])
    return out
  }
  if (typeof headers !== 'object') throw invalidArgument('headers must be an object or an array')
  const proto = Object.getPrototypeOf(headers) as object | null
  const iterable = Object.prototype.hasOwnProperty.call(headers, Symbol.iterator) ||
    (proto !== null && proto !== Object.prototype && typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function')
  if (iterable) {
    for (const pair of headers as Iterable<unknown>) {
      if (!Array.isArray(pair) || pair.length !== 2) throw invalidArgument('headers must be in key-value pair format')
      add(pair[0], pair[1])
    }
    return out
  }
  for (const key of Object.keys(headers)) add(key, (headers as Record<string, unknown>)[key])
  return out
}

export function isStream (b: unknown): b is NodeJS.ReadableStream {
  return b !== null && typeof b === 'object' && typeof (b as { pipe?: unknown }).pipe === 'function' && typeof (b as { on?: unknown }).on === 'function'
}

function isBlobLike (b: unknown): b is Blob {
  if (typeof Blob !== 'undefined' && b instanceof Blob) return true
  if (b === null || typeof b !== 'object') return false
  const tag = (b as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag]
  return (tag === 'Blob' || tag === 'File') && typeof (b as { stream?: unknown }).stream === 'function'
}

function isFormDataLike (b: unknown): boolean {
  return b !== null && typeof b === 'object' && typeof (b as { append?: unknown }).append === 'function' &&
    typeof (b as { getAll?: unknown }).getAll === 'function' && (b as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === 'FormData'
}

/** undici's body forms to a node-hyper body (adding Content-Length/Content-Type where undici would). */
export function toBody (body: unknown, headers: string[]): RequestBody | undefined {
  if (body == null) return undefined
  if (typeof body === 'string') return body.length ? body : undefined
  if (body instanceof Uint8Array || ArrayBuffer.isView(body)) return body.byteLength ? body : undefined
  if (body instanceof ArrayBuffer) return body.byteLength ? body : undefined
  if (isStream(body)) {
    if (Symbol.asyncIterator in body) return body as unknown as AsyncIterable<Uint8Array>
    return new Readable({ objectMode: false }).wrap(body)
  }
  if (isFormDataLike(body)) {
    const form = encodeFormData(body as FormData)
    if (!hasHeader(headers, 'content-type')) headers.push('content-type', form.type)
    if (form.length >= 0 && !hasHeader(headers, 'content-length')) headers.push('content-length', String(form.length))
    return form.parts
  }
  if (isBlobLike(body)) {
    if (!hasHeader(headers, 'content-length')) headers.push('content-length', String(body.size))
    if (body.type && !hasHeader(headers, 'content-type')) headers.push('content-type', headerValue('content-type', body.type))
    return body.stream() as unknown as ReadableStream<Uint8Array>
  }
  if (typeof body === 'object' && (Symbol.asyncIterator in body || Symbol.iterator in body)) return body as AsyncIterable<Uint8Array>
  throw invalidArgument('body must be a string, a Buffer, a Readable stream, an iterable, or an async iterable')
}

const formdataEscape = (str: string): string => str.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22')
const normalizeLinefeeds = (value: string): string => value.replace(/\r?\n|\r/g, '\r\n')

/**
 * multipart/form-data as fetch (undici's extractBody) encodes it, with its length known up front
 * (-1 when a part's size is unknown), so it goes out with a Content-Length rather than chunked.
 */
function encodeFormData (form: FormData): { type: string, length: number, parts: AsyncIterable<Uint8Array> } {
  const boundary = `----formdata-undici-0${`${Math.floor(Math.random() * 1e11)}`.padStart(11, '0')}`
  const prefix = `--${boundary}\r\nContent-Disposition: form-data`
  const crlf = new Uint8Array([13, 10])
  const parts: (Uint8Array | Blob)[] = []
  let length = 0
  let unknown = false
  for (const [name, value] of form as unknown as Iterable<[string, string | File]>) {
    if (typeof value === 'string') {
      const chunk = Buffer.from(`${prefix}; name="${formdataEscape(normalizeLinefeeds(name))}"\r\n\r\n${normalizeLinefeeds(value)}\r\n`)
      parts.push(chunk)
      length += chunk.byteLength
    } else {
      const chunk = Buffer.from(`${prefix}; name="${formdataEscape(normalizeLinefeeds(name))}"` +
        (value.name ? `; filename="${formdataEscape(value.name)}"` : '') + '\r\n' +
        `Content-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`)
      parts.push(chunk, value, crlf)
      if (typeof value.size === 'number') length += chunk.byteLength + value.size + crlf.byteLength
      else unknown = true
    }
  }
  const end = Buffer.from(`--${boundary}--\r\n`)
  parts.push(end)
  length += end.byteLength
  async function * stream (): AsyncIterable<Uint8Array> {
    for (const part of parts) {
      if (part instanceof Uint8Array) yield part
      else yield * (part.stream() as unknown as AsyncIterable<Uint8Array>)
    }
  }
  return { type: `multipart/form-data; boundary=${boundary}`, length: unknown ? -1 : length, parts: stream() }
}



export function latin1Pairs (obj: Record<string, unknown>): Buffer[] {
  const raw: Buffer[] = []
  for (const [key, val] of Object.entries(obj)) {
    if (Array.isArray(val)) for (const v of val) raw.push(Buffer.from(key, 'latin1'), Buffer.from(String(v), 'latin1'))
    else raw.push(Buffer.from(key, 'latin1'), Buffer.from(String(val), 'latin1'))
  }
  return raw
}

