/**
 * The exchange core: one request and its response, as callbacks. A connection sends an
 * Exchange and reports what happens to it (`onHead`, `onData`, `onEnd`, `onError`); a face
 * subclasses it: `conn.request()`/`pool.request()` build a promise, a `ClientResponse` and a
 * body stream on top (response.ts), `HyperDispatcher` maps undici's handlers onto it directly
 * (dispatcher/). Pools schedule Exchanges, so both faces share one queue, one retry policy and
 * one idle list. Backpressure is demand: a face calls `read()` when it wants more body.
 * @internal
 */
import type { ResponseHead } from './protocol.js'
import { AbortError, InvalidArgumentError } from './errors.js'
import { flattenHeaders, methodIn, validateAuthority, validateMethod, validatePath, validateTimeout, type HeadersInput } from './validate.js'
import type { IncomingHeaders } from './headers.js'
import { now, type TimedConnection } from './timings.js'

/** Chunks a streamed request body may yield. */
export type BodyChunk = string | Uint8Array | ArrayBufferView | ArrayBuffer

/**
 * Request body: a string (UTF-8) or binary value (sent with `Content-Length`), or a stream of
 * chunks: a Node `Readable`, an async or sync iterable, or a Web `ReadableStream` (sent chunked
 * unless you set `Content-Length`, with backpressure).
 */
export type RequestBody =
  | string | Uint8Array | ArrayBuffer | ArrayBufferView
  | AsyncIterable<BodyChunk> | Iterable<BodyChunk> | ReadableStream<BodyChunk>

/** A streamed body source (anything `for await` can read). */
export type Streamed = AsyncIterable<unknown> | Iterable<unknown>

/** A 1xx response (HTTP/1), passed to {@link RequestOptions.onInformational}. */
export interface InformationalResponse {
  status: number
  statusText: string
  headers: IncomingHeaders
  rawHeaders: string[]
}

export interface RequestOptions {
  /** HTTP method (default `GET`). */
  method?: string
  /** Request target: origin form (`/a?b`), `*`, or an absolute URL (default `/`). */
  path?: string
  /** Request headers: an object, a `Map` or `Headers`, `[name, value]` pairs, or a flat `[name, value, ...]` array. */
  headers?: HeadersInput
  /** Request body (see {@link RequestBody}). */
  body?: RequestBody | null
  /** Abort the request: before it is sent, while waiting for the head, mid-upload or mid-body. */
  signal?: AbortSignal
  /** Milliseconds from sending the request to the response head (default: the connection's). */
  headersTimeout?: number
  /** Milliseconds the body may stay idle while the consumer is waiting for data (default: the connection's). */
  bodyTimeout?: number
  /** Send `Expect: 100-continue` and hold the body until a 100 (or a final response, or the wait) arrives. */
  expectContinue?: boolean
  /** How long to wait for the 100 before sending the body anyway (default 1,000 ms). */
  expectContinueTimeout?: number
  /** Called for each 1xx response (100, 102, 103 Early Hints, ...) before the final one. */
  onInformational?: (res: InformationalResponse) => void
}

/** Whoever holds an exchange right now (a pool's queue, then a connection): it knows how to cancel it there. */
export interface ExchangeHolder {
  /** Gives the exchange up there; the face hears `onError(err ?? new AbortError(reason))`. */
  cancelExchange (ex: Exchange, reason: unknown, err?: Error): void
  /** On a connection, once the head arrived: the face wants more body. */
  readExchange? (ex: Exchange): void
  /** On a connection: drop the rest of the body (past `limit` bytes: give the exchange up). */
  dumpExchange? (ex: Exchange, limit: number): void
  /** On a connection: copy the rest of the body into `dest` (see `Exchange.collect`); false when it cannot. */
  collectExchange? (ex: Exchange, dest: Uint8Array): boolean
}

/** What schedules exchanges onto connections (a Pool): told when one is over, asked about retries. */
export interface Scheduler {
  /** The exchange failed before its response started: true when the scheduler takes it back (a retry). */
  retryExchange (ex: Exchange, err: Error): boolean
  /** The exchange is over on its connection (ended, failed or aborted). */
  exchangeDone (ex: Exchange): void
}

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH'])

// A detached ArrayBuffer (transferred, e.g. to a worker) reads as empty; sending it would send
// nothing where the caller meant bytes. Node 20 has no ArrayBuffer.prototype.detached: only an
// empty buffer can be detached, and constructing a view over a detached one throws.
function detached (buf: ArrayBufferLike): boolean {
  if (buf.byteLength !== 0) return false
  try {
    new Uint8Array(buf, 0, 0) // eslint-disable-line no-new
    return false
  } catch {
    return true
  }
}

function toBytes (chunk: unknown): Uint8Array | null {
  if ((chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk)) && detached(chunk instanceof ArrayBuffer ? chunk : (chunk as ArrayBufferView).buffer)) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'body', 'the body is over a detached ArrayBuffer (it was transferred)')
  }
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8')
  if (chunk instanceof Uint8Array) return chunk
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk)
  return null
}
export { toBytes as chunkBytes }

/** A fixed body as bytes, a stream to pump, or nothing. */
export function toBody (body: unknown): Uint8Array | Streamed | undefined {
  if (body === undefined || body === null) return undefined
  const bytes = toBytes(body)
  if (bytes) return bytes
  if (typeof body === 'object' && (Symbol.asyncIterator in body || Symbol.iterator in body)) return body as Streamed
  throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'body',
    `body must be a string, Buffer, Uint8Array, ArrayBuffer, Readable, (async) iterable or ReadableStream (got ${typeof body})`)
}

/**
 * One request/response. Subclasses (the faces) implement the callbacks; the fields above them
 * are the request, validated once, whichever connection ends up sending it.
 */
export abstract class Exchange {
  method = 'GET'
  path = '/'
  /** Flat `[name, value, ...]`, validated; the connection adds Host / Content-Length. */
  headers: string[] = []
  body: Uint8Array | Streamed | undefined = undefined
  /** undefined: the connection's default. */
  headersTimeout: number | undefined = undefined
  bodyTimeout: number | undefined = undefined
  /** Expect: 100-continue wait (ms), 0 = no Expect. */
  continueMs = 0
  wantInformational = false
  /** Found by inspectHeaders(): where the Host header is (-1: none), whether the body's framing is given. */
  hostIndex = -1
  framed = false
  /** The Content-Length header's value (-1: none); a streamed body must match it. */
  declaredLength = -1
  hasExpect = false
  /** HTTP/1.1: say `Connection: keep-alive` (the undici face does, as undici does). */
  announceKeepAlive = false

  // ---- core state (the connection and scheduler carrying it) ----
  /** Connection-local id while on a connection (0 otherwise). */
  id = 0
  holder: ExchangeHolder | null = null
  scheduler: Scheduler | null = null
  /** The scheduler's own per-exchange data (a Pool's slot, its retry budget). */
  slot: unknown = null
  retriesLeft = 0
  staleRetried = false
  /** The response head reached the face (no retries after this). */
  responded = false
  done = false
  /** Upload pump: resolves when the addon drained the upload queue. */
  drain: (() => void) | null = null
  uploadDone = true

  // ---- observability (timings.ts, diagnostics.ts): raw numbers, turned into objects on demand ----
  /** performance.now() when it entered node-hyper (a face's request()/dispatch()). */
  startedAt = 0
  /** uv_hrtime ms (from the response head): handed to hyper to write; the head was parsed. */
  sentAt = 0
  headAt = 0
  /** performance.now() when it was over (ended or failed). */
  endAt = 0
  /** The connection that carried it (the last attempt's), and whether that one had served a request before. */
  conn: TimedConnection | null = null
  reused = false
  /**
   * Its diagnostics_channel message object (diagnostics.ts's `DiagnosticsRequest`) when a
   * subscriber was there as it started, else null: nothing published. Opaque to the core.
   */
  diag: object | null = null

  #signal: AbortSignal | null = null
  #onAbort: (() => void) | null = null

  /** The response head (body bytes that came with it in `head.body`; `head.ended` when that was all). */
  abstract onHead (head: ResponseHead): void
  abstract onData (chunk: Buffer): void
  abstract onEnd (): void
  abstract onError (err: Error): void
  onInformational (_info: InformationalResponse): void {}

  /** Whether a failed attempt may be sent again (nothing streamed that cannot be replayed). */
  get replayable (): boolean {
    return this.body === undefined || this.body instanceof Uint8Array
  }

  /** Asks for more body: the next `onData` (up to 64 KiB, coalesced) or `onEnd` answers. */
  read (): void {
    this.holder?.readExchange?.(this)
  }

  /** Drops the rest of the body (`onEnd` follows); past `limit` bytes the exchange is given up instead. */
  dump (limit: number): void {
    this.holder?.dumpExchange?.(this, limit)
  }

  /**
   * Has the rest of the body copied natively into `dest`, sized to the whole body as its head
   * declared it, after the bytes already delivered (no `onData` for it; an `onData` already on
   * its way still comes and belongs before it); `onEnd` once it is full, `onError` if the body
   * does not fit. False when the exchange is not on a connection that can.
   */
  collect (dest: Uint8Array): boolean {
    return this.holder?.collectExchange?.(this, dest) ?? false
  }

  /** Cancels wherever it is (queued or on a connection); the face hears `onError(AbortError)`. */
  abort (reason?: unknown): void {
    if (this.done) return
    if (this.holder) this.holder.cancelExchange(this, reason)
    else this.fail(new AbortError(reason))
  }

  /** Aborts when `signal` does (listens until the exchange is over). */
  listen (signal: AbortSignal): void {
    this.#signal = signal
    this.#onAbort = () => this.abort(signal.reason)
    signal.addEventListener('abort', this.#onAbort, { once: true })
  }

  /**
   * Marks the exchange over and detaches it from its signal and upload pump. `at`: when it ended,
   * if known already (a response complete in its head: when the addon parsed it), else now.
   */
  finish (at?: number): void {
    this.done = true
    this.endAt = at ?? now()
    this.uploadDone = true
    this.holder = null
    if (this.drain) {
      const d = this.drain
      this.drain = null
      d()
    }
    if (this.#onAbort) {
      this.#signal!.removeEventListener('abort', this.#onAbort)
      this.#onAbort = this.#signal = null
    }
  }

  /** Ends it with `err` (before or after the head). */
  fail (err: Error): void {
    if (this.done) return
    this.finish()
    this.onError(err)
  }
}

/**
 * Validates `options` into `ex` (throws InvalidArgumentError). Everything a connection needs
 * later is checked here, before any queue or connection is involved.
 */
export function prepareRequest (ex: Exchange, options: RequestOptions): void {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'options', 'request options must be an object')
  ex.method = options.method === undefined ? 'GET' : validateMethod(options.method)
  ex.path = options.path === undefined ? '/' : validatePath(options.path)
  ex.headers = flattenHeaders(options.headers)
  ex.body = toBody(options.body)
  if (options.headersTimeout !== undefined) ex.headersTimeout = validateTimeout('headersTimeout', options.headersTimeout)
  if (options.bodyTimeout !== undefined) ex.bodyTimeout = validateTimeout('bodyTimeout', options.bodyTimeout)
  const signal = options.signal
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'signal', 'signal must be an AbortSignal')
  if (options.onInformational !== undefined && typeof options.onInformational !== 'function') {
    throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'onInformational', 'onInformational must be a function')
  }
  ex.wantInformational = options.onInformational !== undefined
  if (options.expectContinue && ex.body !== undefined) {
    ex.continueMs = (options.expectContinueTimeout === undefined ? 1000 : validateTimeout('expectContinueTimeout', options.expectContinueTimeout)) || 1
  }
  inspectHeaders(ex)
}

/** Whether a request with this method and no body should say `Content-Length: 0`. */
export function wantsEmptyLength (method: string): boolean {
  return methodIn(METHODS_WITH_BODY, method)
}

/**
 * The headers that shape how a request goes out, found in one scan of `ex.headers` (which
 * flattenHeaders validated); a `Content-Length` must match a fixed body exactly.
 */
export function inspectHeaders (ex: Exchange): void {
  const h = ex.headers
  ex.hostIndex = -1
  ex.framed = false
  ex.declaredLength = -1
  ex.hasExpect = false
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!
    // Cheap length checks first: most headers are none of these.
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') ex.hostIndex = i
        break
      case 6:
        if (name.toLowerCase() === 'expect') ex.hasExpect = true
        break
      case 14:
        if (name.toLowerCase() === 'content-length') {
          // flattenHeaders checked the grammar and that repeated values agree.
          ex.declaredLength = Number(h[i + 1])
          ex.framed = true
        }
        break
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') ex.framed = true
        break
    }
  }
  // Spliced into the request URI on HTTP/2: checked here for every face (the undici face builds
  // its header list with undici's rules).
  if (ex.hostIndex !== -1) validateAuthority(h[ex.hostIndex + 1], 'headers.host')
  const body = ex.body
  if (ex.declaredLength !== -1 && (body === undefined ? ex.declaredLength !== 0 : body instanceof Uint8Array && body.byteLength !== ex.declaredLength)) {
    const have = body instanceof Uint8Array ? body.byteLength : 0
    throw new InvalidArgumentError('ERR_HTTP_CONTENT_LENGTH_MISMATCH', 'headers.content-length',
      `content-length is ${ex.declaredLength} but the body has ${have} bytes`)
  }
}
