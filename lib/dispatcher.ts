/**
 * HyperDispatcher: an undici `Dispatcher` backed by node-hyper. Pass it to undici's `request`,
 * `stream`, `pipeline` and `fetch` (`{ dispatcher }`), install it with `setGlobalDispatcher()`
 * (Node's built-in `fetch` then uses it too), or `compose()` undici interceptors onto it.
 *
 * undici is not needed to load node-hyper: this class extends `EventEmitter`, implements the
 * Dispatcher contract itself (`dispatch`, `close`, `destroy`, `compose`, both handler styles),
 * and only loads the `undici` package lazily, the first time it needs undici's error classes or
 * when you call the `request`/`stream`/`pipeline` convenience methods.
 */
import { EventEmitter } from 'node:events'
import * as querystring from 'node:querystring'
import { Readable } from 'node:stream'
import { Agent, type AgentOptions } from './agent.js'
import { kCancel, kComplete, type CancelHandle, type ClientResponse, type InformationalResponse, type RequestBody, type RequestOptions } from './client-conn.js'
import { kTakeBuffered, type ResponseBody } from './body.js'
import { HyperError, InvalidArgumentError as HyperInvalidArgumentError } from './errors.js'
import type { TlsOptions } from './tls.js'
import { TOKEN, hasHeader } from './validate.js'
import { dispatchUpgrade, type ActiveDispatch } from './dispatcher-upgrade.js'

/** Options of {@link HyperDispatcher}: those of {@link Agent} (and so of `Pool`), or an Agent to use. */
export interface HyperDispatcherOptions extends AgentOptions {
  /** Use this Agent instead of creating one. `close()`/`destroy()` close it too. */
  agent?: Agent
  /**
   * undici's `connect` TLS options, for drop-in use: `ca`, `cert`, `key`, `passphrase`,
   * `servername`, `rejectUnauthorized`, `ALPNProtocols`, `ciphers`, `minVersion`, `maxVersion` map
   * to {@link TlsOptions} (`ca` replaces the default roots, as with undici). `tls` wins when both are set.
   */
  connect?: Pick<TlsOptions, 'ca' | 'cert' | 'key' | 'passphrase' | 'servername' | 'rejectUnauthorized' |
    'ALPNProtocols' | 'ciphers' | 'minVersion' | 'maxVersion'> & { timeout?: number }
}

/** What undici passes to `dispatch()` (the fields node-hyper uses). */
export interface DispatchOptions {
  origin?: string | URL
  path: string
  method: string
  headers?: unknown
  body?: unknown
  query?: Record<string, unknown> | null
  headersTimeout?: number | null
  bodyTimeout?: number | null
  expectContinue?: boolean | null
  upgrade?: string | null
  [key: string]: unknown
}

/** The controller a new-style handler receives (undici 7's `DispatchController`). */
export interface DispatchController {
  readonly aborted: boolean
  readonly paused: boolean
  readonly reason: unknown
  /** Raw response head (`Buffer`s, wire order) once it arrived. */
  readonly rawHeaders: Buffer[] | null
  readonly rawTrailers: Buffer[] | null
  abort (reason?: unknown): void
  pause (): void
  resume (): void
}

/** A dispatch handler in either of undici's styles (old: `onConnect`/`onHeaders`/...; new: `onRequestStart`/`onResponseStart`/...). */
export interface DispatchHandler {
  onConnect?: (abort: (reason?: unknown) => void, context?: unknown) => void
  onResponseStarted?: () => void
  onHeaders?: (statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string) => boolean | void
  onData?: (chunk: Buffer) => boolean | void
  onComplete?: (trailers: Buffer[] | null) => void
  onError?: (err: Error) => void
  onUpgrade?: (statusCode: number, rawHeaders: Buffer[], socket: unknown) => void
  onRequestStart?: (controller: DispatchController, context: unknown) => void
  onRequestUpgrade?: (controller: DispatchController, statusCode: number, headers: Record<string, string | string[]>, socket: unknown) => void
  onResponseStart?: (controller: DispatchController, statusCode: number, headers: Record<string, string | string[]>, statusMessage?: string) => void
  onResponseData?: (controller: DispatchController, chunk: Buffer) => void
  onResponseEnd?: (controller: DispatchController, trailers: Record<string, string | string[]>) => void
  onResponseError?: (controller: DispatchController, err: Error) => void
  [key: string]: unknown
}

type DispatchFn = (opts: DispatchOptions, handler: DispatchHandler) => boolean
/** Callback of `close()`/`destroy()` in undici's style. */
export type DispatcherCallback = (err: Error | null, data: null) => void
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type UndiciModule = any

let undiciModule: UndiciModule | null | undefined

/** The `undici` package if it can be loaded (once; `null` when it is not installed). @internal */
export function loadUndici (): UndiciModule | null {
  if (undiciModule === undefined) {
    try {
      undiciModule = require('undici') as UndiciModule
    } catch {
      undiciModule = null
    }
  }
  return undiciModule
}

function undiciOrThrow (what: string): UndiciModule {
  const u = loadUndici()
  if (!u) throw new HyperError('ERR_UNDICI_MISSING', `${what} needs the undici package (npm install undici)`)
  return u
}

function withCause<E extends Error> (err: E, cause: unknown): E {
  if (cause !== undefined && cause !== err) {
    Object.defineProperty(err, 'cause', { value: cause, configurable: true, writable: true, enumerable: false })
  }
  return err
}

/** undici's error for what node-hyper reported (the original is its `cause`); the original when undici is not installed. */
function toUndiciError (err: unknown): Error {
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
    // The server closed the connection before a complete response (hyper: unexpected EOF, or
    // a body cut short): undici reports this as a SocketError ('other side closed').
    case 'ERR_CONNECTION_CLOSED':
    case 'HYPER_UNEXPECTED_EOF':
    case 'HYPER_ERROR':
      return withCause(new E.SocketError('other side closed'), err)
    // A request body stream that failed: undici reports the stream's own error.
    case 'ERR_REQUEST_BODY': return err.cause instanceof Error ? err.cause : err
    case 'ERR_NOT_SUPPORTED': return withCause(new E.NotSupportedError(err.message), err)
    default:
      if (err instanceof HyperInvalidArgumentError) return withCause(new E.InvalidArgumentError(err.message), err)
      // errno errors (ECONNREFUSED, ECONNRESET, ENOTFOUND, ...) stay as they are: undici too
      // surfaces Node's socket errors with their errno `code`.
      return err
  }
}

function invalidArgument (message: string): Error {
  const u = loadUndici()
  return u ? new u.errors.InvalidArgumentError(message) : new HyperInvalidArgumentError('ERR_INVALID_ARG_VALUE', 'options', message)
}

function notSupported (message: string): Error {
  const u = loadUndici()
  return u ? new u.errors.NotSupportedError(message) : new HyperError('ERR_NOT_SUPPORTED', message)
}

function requestAborted (): Error {
  const u = loadUndici()
  return u ? new u.errors.RequestAbortedError() : new HyperError('ABORT_ERR', 'Request aborted')
}

function clientDestroyed (): Error {
  const u = loadUndici()
  return u ? new u.errors.ClientDestroyedError() : new HyperError('ERR_DESTROYED', 'The client is destroyed')
}

function clientClosed (): Error {
  const u = loadUndici()
  return u ? new u.errors.ClientClosedError() : new HyperError('ERR_CLOSED', 'The client is closed')
}

function headerValue (name: string, v: unknown): string {
  if (v === null) return ''
  if (typeof v === 'string') return v
  if (typeof v === 'object' || typeof v === 'function' || typeof v === 'symbol') throw invalidArgument(`invalid ${name} header`)
  return `${v as string | number | boolean | bigint}`
}

/** undici's header forms (object, flat array, iterable of pairs; also an array of pairs) to a flat list, with undici's rules. */
function flatHeaders (headers: unknown): string[] {
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

function isStream (b: unknown): b is NodeJS.ReadableStream {
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
function toBody (body: unknown, headers: string[]): RequestBody | undefined {
  if (body == null) return undefined
  if (typeof body === 'string') return body.length ? body : undefined
  if (body instanceof Uint8Array || ArrayBuffer.isView(body)) return body.byteLength ? body : undefined
  if (body instanceof ArrayBuffer) return body.byteLength ? body : undefined
  if (isStream(body)) {
    if (Symbol.asyncIterator in body) return body as unknown as AsyncIterable<Uint8Array>
    return new Readable({ objectMode: false }).wrap(body)
  }
  if (isFormDataLike(body)) {
    // Encode as multipart/form-data the way fetch does. A FormData made by the undici package
    // must be encoded by that copy's Response: Node's built-in one (a different undici copy)
    // brand-checks it and would send "[object FormData]" (seen on Node 24).
    let ResponseCtor: typeof Response = Response
    if (typeof FormData === 'undefined' || !(body instanceof FormData)) {
      const U = loadUndici()
      if (U?.FormData && U.Response && body instanceof U.FormData) ResponseCtor = U.Response
    }
    const encoded = new ResponseCtor(body as FormData)
    if (!hasHeader(headers, 'content-type')) headers.push('content-type', encoded.headers.get('content-type')!)
    return encoded.body as unknown as ReadableStream<Uint8Array>
  }
  if (isBlobLike(body)) {
    if (!hasHeader(headers, 'content-length')) headers.push('content-length', String(body.size))
    if (body.type && !hasHeader(headers, 'content-type')) headers.push('content-type', body.type)
    return body.stream() as unknown as ReadableStream<Uint8Array>
  }
  if (typeof body === 'object' && (Symbol.asyncIterator in body || Symbol.iterator in body)) return body as AsyncIterable<Uint8Array>
  throw invalidArgument('body must be a string, a Buffer, a Readable stream, an iterable, or an async iterable')
}

/** Header strings as the Buffers old-style handlers expect: one allocation, a view per field. */
function rawToBuffers (raw: readonly string[]): Buffer[] {
  let total = 0
  for (let i = 0; i < raw.length; i++) total += raw[i]!.length
  const all = Buffer.allocUnsafe(total)
  const out = new Array<Buffer>(raw.length)
  let off = 0
  for (let i = 0; i < raw.length; i++) {
    const n = all.write(raw[i]!, off, 'latin1')
    out[i] = all.subarray(off, off + n)
    off += n
  }
  return out
}

/** undici's `parseHeaders`: lower-cased names, repeated headers as arrays. */
function headersObject (raw: readonly string[]): Record<string, string | string[]> {
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

function latin1Pairs (obj: Record<string, unknown>): Buffer[] {
  const raw: Buffer[] = []
  for (const [key, val] of Object.entries(obj)) {
    if (Array.isArray(val)) for (const v of val) raw.push(Buffer.from(key, 'latin1'), Buffer.from(String(v), 'latin1'))
    else raw.push(Buffer.from(key, 'latin1'), Buffer.from(String(val), 'latin1'))
  }
  return raw
}

/** Presents an old-style handler to new-style code (what undici's interceptors expect). */
function wrapHandler (handler: DispatchHandler): DispatchHandler {
  if (typeof handler.onRequestStart === 'function') return handler
  return {
    onRequestStart (controller, context) {
      handler.onConnect?.((reason) => controller.abort(reason), context)
    },
    onRequestUpgrade (_controller: DispatchController, statusCode: number, headers: Record<string, unknown>, socket: unknown) {
      handler.onUpgrade?.(statusCode, latin1Pairs(headers), socket)
    },
    onResponseStart (controller, statusCode, headers, statusMessage) {
      if (handler.onResponseStarted) handler.onResponseStarted()
      // From the headers object, not controller.rawHeaders: an interceptor may have changed them.
      if (handler.onHeaders?.(statusCode, latin1Pairs(headers), () => controller.resume(), statusMessage ?? '') === false) controller.pause()
    },
    onResponseData (controller, chunk) {
      if (handler.onData?.(chunk) === false) controller.pause()
    },
    onResponseEnd (_controller, trailers) {
      handler.onComplete?.(latin1Pairs(trailers))
    },
    onResponseError (_controller, err) {
      if (typeof handler.onError !== 'function') throw invalidArgument('invalid onError method')
      handler.onError(err)
    },
  }
}

const kDispatch = Symbol('dispatch')
const kActive = Symbol('active')

/** One request in flight: drives a handler (either style) from a node-hyper response. */
class Exchange implements DispatchController {
  readonly #dispatcher: HyperDispatcher
  readonly #handler: DispatchHandler
  readonly #modern: boolean
  // Cancels the node-hyper request (installed by the pool, then the connection): cheaper than
  // an AbortController per request, which cost ~10% of the adapter's CPU.
  readonly #cancel: CancelHandle = { cancel: null }
  #body: ResponseBody | null = null
  #done = false
  #paused = false
  #aborted = false
  #reason: unknown = null
  #settled: (() => void)[] | null = null
  rawHeaders: Buffer[] | null = null
  rawTrailers: Buffer[] | null = null

  constructor (dispatcher: HyperDispatcher, handler: DispatchHandler) {
    this.#dispatcher = dispatcher
    this.#handler = handler
    this.#modern = typeof handler.onRequestStart === 'function'
  }

  get aborted (): boolean { return this.#aborted }
  get paused (): boolean { return this.#paused }
  get reason (): unknown { return this.#reason }
  get done (): boolean { return this.#done }

  /** Resolves once the handler got its last callback. */
  settled (): Promise<void> {
    if (this.#done) return Promise.resolve()
    return new Promise((resolve) => (this.#settled ??= []).push(resolve))
  }

  #finish (): void {
    this.#done = true
    this.#dispatcher[kActive].delete(this)
    const waiting = this.#settled
    this.#settled = null
    if (waiting) for (const f of waiting) f()
  }

  pause (): void {
    if (this.#done) return
    this.#paused = true
    this.#body?.pause()
  }

  resume (): void {
    if (!this.#paused) return
    this.#paused = false
    if (this.#done) return
    if (this.#pending) this.#deliverBuffered()
    else this.#body?.resume()
  }

  /** Chunks of a fully buffered body, delivered in order while the handler is not paused. */
  #pending: Buffer[] | null = null

  #deliverBuffered (): void {
    const h = this.#handler
    const chunks = this.#pending!
    while (chunks.length > 0) {
      if (this.#paused || this.#done) return
      const chunk = chunks.shift()!
      this.#call(() => {
        if (this.#modern) h.onResponseData?.(this, chunk)
        else if (h.onData?.(chunk) === false) this.pause()
      })
    }
    if (this.#paused || this.#done) return
    this.#pending = null
    this.#complete()
  }

  #complete (): void {
    const h = this.#handler
    this.#finish()
    this.rawTrailers = []
    try {
      if (this.#modern) h.onResponseEnd?.(this, {})
      else h.onComplete?.([])
    } catch (err) {
      // undici: a throwing onComplete is reported to onError
      this.#done = false
      this.fail(err)
    }
  }

  abort (reason?: unknown): void {
    if (this.#done) return
    this.#aborted = true
    this.#reason = reason
    this.fail(reason ?? requestAborted(), reason ?? null)
  }

  /** Ends the exchange with `err` delivered to the handler; cancels the node-hyper request. */
  fail (err: unknown, abortReason: unknown = err): void {
    if (this.#done) return
    this.#finish()
    this.#cancel.cancel?.(abortReason ?? err)
    if (this.#body && !this.#body.destroyed) this.#body.destroy()
    try {
      if (this.#modern) {
        if (typeof this.#handler.onResponseError !== 'function') throw invalidArgument('invalid onError method')
        this.#handler.onResponseError(this, err as Error)
      } else {
        this.#handler.onError!(err as Error)
      }
    } catch (e) {
      this.#dispatcher[kReport](e)
    }
  }

  /** Runs `fn`; a throwing handler aborts the exchange with what it threw, as in undici. */
  #call (fn: () => void): boolean {
    try {
      fn()
      return true
    } catch (err) {
      this.fail(err)
      return false
    }
  }

  start (pool: { request (o: RequestOptions): Promise<ClientResponse> }, options: RequestOptions): void {
    const h = this.#handler
    const ok = this.#call(() => {
      if (this.#modern) h.onRequestStart!(this, undefined)
      else h.onConnect?.((reason?: unknown) => this.abort(reason), undefined)
    })
    if (!ok || this.#done) return
    options[kCancel] = this.#cancel
    if (typeof h.onHeaders === 'function' || typeof h.onResponseStart === 'function') {
      options.onInformational = (info) => this.#informational(info)
    }
    pool.request(options).then((res) => this.#response(res), (err: unknown) => this.fail(toUndiciError(err)))
  }

  #informational (info: InformationalResponse): void {
    if (this.#done || info.status === 100 || info.status === 101) return
    const h = this.#handler
    // 1xx go through onHeaders / onResponseStart, as undici's client does; the return value is ignored.
    this.#call(() => {
      if (this.#modern) h.onResponseStart?.(this, info.status, headersObject(info.rawHeaders), info.statusText)
      else h.onHeaders?.(info.status, rawToBuffers(info.rawHeaders), () => {}, info.statusText)
    })
  }

  #response (res: ClientResponse): void {
    // A body that arrived complete with the head is taken without creating its stream.
    const complete = res[kComplete]
    const body = complete === undefined ? res.body : null
    if (this.#done) {
      body?.destroy()
      return
    }
    this.#body = body
    const h = this.#handler
    this.rawHeaders = rawToBuffers(res.rawHeaders)
    const ok = this.#call(() => {
      if (this.#modern) {
        h.onResponseStart?.(this, res.status, headersObject(res.rawHeaders), res.statusText)
      } else {
        h.onResponseStarted?.()
        if (h.onHeaders?.(res.status, this.rawHeaders!, () => this.resume(), res.statusText) === false) this.pause()
      }
    })
    if (!ok || this.#done) return
    // A body that arrived complete with the head goes to the handler synchronously, without
    // the stream machinery (most small responses).
    const buffered = body === null ? (complete ? [complete] : []) : body[kTakeBuffered]()
    if (buffered !== null) {
      this.#pending = buffered
      this.#deliverBuffered()
      return
    }
    if (body === null) return
    if (this.#paused) body.pause()
    body.on('error', (err) => this.fail(toUndiciError(err)))
    body.on('end', () => {
      if (this.#done) return
      this.#complete()
    })
    body.on('data', (chunk: Buffer) => {
      if (this.#done) return
      this.#call(() => {
        if (this.#modern) h.onResponseData?.(this, chunk)
        else if (h.onData?.(chunk) === false) this.pause()
      })
    })
  }
}

const kReport = Symbol('report')

/**
 * An undici `Dispatcher` that sends requests through node-hyper: a node-hyper {@link Agent}
 * (one `Pool` per origin) underneath.
 *
 * @example
 * import { fetch, request, setGlobalDispatcher } from 'undici'
 * import { HyperDispatcher } from 'node-hyper'
 *
 * const dispatcher = new HyperDispatcher({ connections: 32 })
 * const { statusCode, body } = await request('http://127.0.0.1:8080/', { dispatcher })
 * const res = await fetch('http://127.0.0.1:8080/', { dispatcher })
 * setGlobalDispatcher(dispatcher)   // undici's and Node's built-in fetch go through node-hyper
 */
export class HyperDispatcher extends EventEmitter {
  /** The node-hyper Agent requests go through (`agent.pool(origin).stats` for counters). */
  readonly agent: Agent;
  /** @internal */
  [kActive] = new Set<Exchange | ActiveDispatch>()
  private _closed = false
  private _destroyed = false
  private _closing: Promise<void> | null = null

  constructor (options: HyperDispatcherOptions = {}) {
    super()
    const { agent, connect, ...agentOptions } = options
    if (connect !== undefined && connect !== null && typeof connect === 'object') {
      const { timeout, ca, ...tls } = connect
      if (agentOptions.tls === undefined) {
        agentOptions.tls = { ...tls, ...(ca !== undefined ? { ca, defaultRoots: false } : {}) } as TlsOptions
      }
      if (timeout !== undefined && agentOptions.connectTimeout === undefined) agentOptions.connectTimeout = timeout
    }
    this.agent = agent ?? new Agent(agentOptions)
  }

  /** True once `close()` was called (new dispatches then fail with `ClientClosedError`). */
  get closed (): boolean {
    return this._closed
  }

  /** True once `destroy()` was called, or `close()` finished. */
  get destroyed (): boolean {
    return this._destroyed
  }

  /**
   * undici's `Dispatcher.dispatch`: starts a request and drives `handler` (old or new style).
   * Errors, including invalid options, reach the handler's `onError`/`onResponseError`.
   */
  dispatch (opts: DispatchOptions, handler: DispatchHandler): boolean {
    return this[kDispatch](opts, handler)
  }

  /** @internal */
  [kDispatch] (opts: DispatchOptions, handler: DispatchHandler): boolean {
    if (!handler || typeof handler !== 'object') throw invalidArgument('handler must be an object')
    const modern = typeof handler.onRequestStart === 'function'
    let exchange: Exchange
    let pool: { request (o: RequestOptions): Promise<ClientResponse> }
    let options: RequestOptions
    try {
      if (!modern && typeof handler.onError !== 'function') throw invalidArgument('invalid onError method')
      if (!opts || typeof opts !== 'object') throw invalidArgument('opts must be an object.')
      if (this._destroyed) throw clientDestroyed()
      if (this._closed) throw clientClosed()
      const { origin, method, query, upgrade } = opts
      if (!origin || (typeof origin !== 'string' && !(origin instanceof URL))) throw invalidArgument('opts.origin must be a non-empty string or URL.')
      if (typeof opts.path !== 'string') throw invalidArgument('path must be a string')
      if (typeof method !== 'string') throw invalidArgument('method must be a string')
      if (!TOKEN.test(method)) throw invalidArgument('invalid request method')
      if (opts.maxRedirections != null && opts.maxRedirections !== 0) throw invalidArgument('maxRedirections is not supported, use the redirect interceptor')
      const dedicated = Boolean(upgrade) || method === 'CONNECT'
      let path = opts.path
      if (!dedicated && path[0] !== '/' && !/^https?:\/\//.test(path)) throw invalidArgument('path must be an absolute URL or start with a slash')
      if (query) {
        if (path.includes('?') || path.includes('#')) throw new Error('Query params cannot be passed when url already contains "?" or "#".')
        const qs = querystring.stringify(query as querystring.ParsedUrlQueryInput)
        if (qs) path += '?' + qs
      }
      const headers = flatHeaders(opts.headers)
      // Upgrades and CONNECT run on a dedicated connection outside hyper (dispatcher-upgrade.ts).
      if (dedicated) {
        return dispatchUpgrade({ agent: this.agent, origin, method, path, headers, opts, handler, active: this[kActive], toError: toUndiciError, report: (e) => this[kReport](e) })
      }
      // undici's `reset: true`: no keep-alive after this request.
      if (opts.reset === true && !hasHeader(headers, 'connection')) headers.push('connection', 'close')
      const body = toBody(opts.body, headers)
      options = { method, path, headers }
      if (body !== undefined) options.body = body
      if (opts.headersTimeout != null) options.headersTimeout = opts.headersTimeout
      if (opts.bodyTimeout != null) options.bodyTimeout = opts.bodyTimeout
      if (opts.expectContinue) options.expectContinue = true
      try {
        pool = this.agent.pool(origin)
      } catch (err) {
        throw toUndiciError(err)
      }
      exchange = new Exchange(this, handler)
    } catch (err) {
      if (modern) {
        if (typeof handler.onResponseError !== 'function') throw err
        handler.onResponseError(new Exchange(this, handler), err as Error)
      } else {
        if (typeof handler.onError !== 'function') throw err
        handler.onError(err as Error)
      }
      return false
    }
    this[kActive].add(exchange)
    exchange.start(pool, options)
    return true
  }

  /** @internal a handler threw from onError: like undici, report it as an 'error' event (thrown when nobody listens). */
  [kReport] (err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
    else queueMicrotask(() => { throw err })
  }

  /** Graceful: new dispatches fail with `ClientClosedError`; requests in flight finish. Callback or promise. */
  close (): Promise<void>
  close (callback: DispatcherCallback): void
  close (callback?: DispatcherCallback): Promise<void> | void {
    if (callback === undefined) return new Promise<void>((resolve, reject) => this.close((err) => (err ? reject(err) : resolve())))
    if (typeof callback !== 'function') throw invalidArgument('invalid callback')
    if (this._destroyed && !this._closing) {
      const err = clientDestroyed()
      queueMicrotask(() => callback(err, null))
      return
    }
    this._closed = true
    this._closing ??= (async () => {
      await Promise.all([...this[kActive]].map((x) => x.settled()))
      await this.agent.close()
      this._destroyed = true
    })()
    void this._closing.then(() => queueMicrotask(() => callback(null, null)))
  }

  /** Aborts everything: requests in flight fail with `err` (default `ClientDestroyedError`). Callback or promise. */
  destroy (err?: Error | null): Promise<void>
  destroy (callback: DispatcherCallback): void
  destroy (err: Error | null | undefined, callback: DispatcherCallback): void
  destroy (err?: Error | null | DispatcherCallback, callback?: DispatcherCallback): Promise<void> | void {
    if (typeof err === 'function') {
      callback = err
      err = null
    }
    if (callback === undefined) return new Promise<void>((resolve) => this.destroy(err as Error | null, () => resolve()))
    if (typeof callback !== 'function') throw invalidArgument('invalid callback')
    const first = !this._destroyed
    this._destroyed = true
    if (first) {
      const reason = err ?? clientDestroyed()
      for (const x of [...this[kActive]]) x.fail(reason)
      this.agent.destroy(reason)
    }
    queueMicrotask(() => callback!(null, null))
  }

  /**
   * undici's `compose()`: a dispatcher whose `dispatch` runs through `interceptors` (e.g.
   * `undici.interceptors.retry()`, `redirect()`); everything else is this dispatcher.
   */
  compose (...args: unknown[]): HyperDispatcher {
    const interceptors = (Array.isArray(args[0]) ? args[0] : args) as unknown[]
    let dispatch: DispatchFn = this.dispatch.bind(this)
    for (const interceptor of interceptors) {
      if (interceptor == null) continue
      if (typeof interceptor !== 'function') throw new TypeError(`invalid interceptor, expected function received ${typeof interceptor}`)
      const inner = (interceptor as (d: DispatchFn) => DispatchFn)(dispatch)
      if (inner == null || typeof inner !== 'function' || inner.length !== 2) throw new TypeError('invalid interceptor')
      dispatch = (opts, handler) => inner(opts, wrapHandler(handler))
    }
    // As undici does: a view of this dispatcher whose `dispatch` is the composed one (methods
    // such as request() called on it dispatch through the interceptors too).
    return new Proxy(this, {
      get: (target, key) => key === 'dispatch' ? dispatch : Reflect.get(target, key),
    })
  }

  /** undici's `Dispatcher.request()` on this dispatcher (needs the `undici` package). */
  request (opts: Record<string, unknown>, callback?: (...args: unknown[]) => void): unknown {
    return undiciOrThrow('HyperDispatcher.request()').Dispatcher.prototype.request.call(this, opts, callback)
  }

  /** undici's `Dispatcher.stream()` on this dispatcher (needs the `undici` package). */
  stream (opts: Record<string, unknown>, factory: (...args: unknown[]) => unknown, callback?: (...args: unknown[]) => void): unknown {
    return undiciOrThrow('HyperDispatcher.stream()').Dispatcher.prototype.stream.call(this, opts, factory, callback)
  }

  /**
   * undici's `Dispatcher.upgrade()` on this dispatcher (needs the `undici` package): the upgrade
   * runs on a dedicated connection outside hyper; resolves with `{ headers, socket, opaque }`.
   */
  upgrade (opts: Record<string, unknown>, callback?: (...args: unknown[]) => void): unknown {
    return undiciOrThrow('HyperDispatcher.upgrade()').Dispatcher.prototype.upgrade.call(this, opts, callback)
  }

  /**
   * undici's `Dispatcher.connect()` on this dispatcher (needs the `undici` package): a CONNECT
   * on a dedicated connection outside hyper; resolves with `{ statusCode, headers, socket, opaque }`.
   */
  connect (opts: Record<string, unknown>, callback?: (...args: unknown[]) => void): unknown {
    return undiciOrThrow('HyperDispatcher.connect()').Dispatcher.prototype.connect.call(this, opts, callback)
  }

  /** undici's `Dispatcher.pipeline()` on this dispatcher (needs the `undici` package). */
  pipeline (opts: Record<string, unknown>, handler: (...args: unknown[]) => unknown): unknown {
    return undiciOrThrow('HyperDispatcher.pipeline()').Dispatcher.prototype.pipeline.call(this, opts, handler)
  }
}
