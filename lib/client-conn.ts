/**
 * ClientConn: one HTTP connection driven by hyper. HTTP/1.1 requests on one connection run one
 * at a time; a `request()` made while another is in flight waits its turn in a FIFO queue.
 */
import * as dns from 'node:dns'
import * as net from 'node:net'
import { binding, splitRawHeaders, type NativeConnection, type NativeErrorInfo, type NativeHead, type NativeErrno, type NativeInformational,
  EVENT_CONNECTED, EVENT_CONNECT_ERROR, EVENT_RESPONSE, EVENT_DATA, EVENT_END, EVENT_REQUEST_ERROR, EVENT_CLOSED,
  EVENT_DRAIN, EVENT_INFORMATIONAL } from './native.js'
import { Executor, kOnEvent } from './executor.js'
import { AbortError, ConnectionClosedError, HyperError, InvalidArgumentError, RequestBodyError, SocketError, errorFromNative } from './errors.js'
import { ResponseBody, kEnd, kFail, kPush } from './body.js'
import { headersFromRaw, type IncomingHeaders } from './headers.js'
import { flattenHeaders, hasHeader, validateHttp2, validateMethod, validatePath, type HeadersInput } from './validate.js'
import { secureContextFor, tlsInfoFromNative, type TlsConnectionInfo, type TlsOptions } from './tls.js'

/** A `dns.lookup`-compatible function. */
export type LookupFunction = (
  hostname: string,
  options: dns.LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
) => void

/** Where to connect: an `http:` or `https:` URL, a host and port, or a Unix domain socket path. */
export type ConnectTarget =
  | string
  | URL
  | { host?: string; hostname?: string; port?: number | string; protocol?: 'http:' | 'https:' }
  | { socketPath: string }

export interface ConnectOptions {
  /** The executor (event-loop driver) to run on; defaults to {@link Executor.default}. */
  executor?: Executor
  /** Keep response header names in wire case in `rawHeaders` (default true). */
  preserveHeaderCase?: boolean
  /** Keep response headers in wire order in `rawHeaders` (default true). */
  preserveHeaderOrder?: boolean
  /** Accept obsolete line folding (obs-fold) in response headers (default false). */
  allowMultilineHeaders?: boolean
  /** Custom DNS lookup (default `dns.lookup`). */
  lookup?: LookupFunction
  /** Address family for the lookup: 0 (any), 4 or 6. */
  family?: 0 | 4 | 6
  /** Value of the `Host` header sent by default (defaults to the target's host and port). */
  host?: string
  /** Abort the connect (DNS, TCP connect, handshake). */
  signal?: AbortSignal
  /** Milliseconds allowed for TCP connect plus hyper's handshake (default 10,000; 0 = none). */
  connectTimeout?: number
  /** Default for {@link RequestOptions.headersTimeout} (default 300,000 ms; 0 = none). */
  headersTimeout?: number
  /** Default for {@link RequestOptions.bodyTimeout} (default 300,000 ms; 0 = none). */
  bodyTimeout?: number
  /**
   * HTTP/2. Over TLS, ALPN decides: `'auto'` (the default for `https:`) offers `h2` and
   * `http/1.1`, `true` offers only `h2`, `false` only `http/1.1`. Over cleartext, `true` speaks
   * h2c with prior knowledge and `'auto'`/`false` speak HTTP/1.1. On HTTP/2, requests are
   * multiplexed: `request()` calls do not wait for each other.
   */
  http2?: boolean | 'auto'
  /**
   * TLS settings (verification, `ca`, client certificate, ALPN, ...). TLS is used for `https:`
   * URLs, for `{ protocol: 'https:' }` targets, and for `{ host, port }` targets when this is set.
   */
  tls?: TlsOptions
  /** HTTP/2: requests in flight at once on this connection; more wait in a FIFO queue (default 100). */
  maxConcurrentStreams?: number
}

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

/** A 1xx response (HTTP/1), passed to {@link RequestOptions.onInformational}. */
export interface InformationalResponse {
  status: number
  statusText: string
  headers: IncomingHeaders
  rawHeaders: string[]
}

/** @internal Symbol of {@link RequestOptions}' internal cancel handle. */
export const kCancel = Symbol('cancel')
/**
 * @internal
 * A cheaper stand-in for an AbortSignal used by the undici adapter: whoever holds the request
 * (the pool's queue, then the connection) installs `cancel`; calling it aborts the request.
 */
export interface CancelHandle {
  cancel: ((reason: unknown) => void) | null
}

export interface RequestOptions {
  /** HTTP method (default `GET`). */
  method?: string
  /** Request target: origin form (`/a?b`), `*`, or an absolute URL (default `/`). */
  path?: string
  /** Request headers: an object, `[name, value]` pairs, or a flat `[name, value, ...]` array. */
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
  /** @internal */
  [kCancel]?: CancelHandle
}

/** @internal The whole body of a response that arrived complete with its head (null: empty). */
export const kComplete = Symbol('complete')

/** A response head with its streaming body. */
export class ClientResponse {
  /** Status code, e.g. 200. */
  readonly status: number
  /** Reason phrase from the status line. */
  readonly statusText: string
  /** `'1.0'`, `'1.1'` or `'2.0'`. */
  readonly httpVersion: string
  /** Headers as received: `[name, value, name, value, ...]` in wire case and order. */
  readonly rawHeaders: string[]
  #body: ResponseBody | (() => ResponseBody)
  #headers: IncomingHeaders | undefined
  /**
   * @internal
   * Set (to the chunk, or null for an empty body) when the whole body arrived with the head and
   * `body` was not created yet: the undici adapter takes it without building a stream.
   */
  [kComplete]: Buffer | null | undefined

  /** @internal */
  constructor (head: NativeHead, body: ResponseBody | (() => ResponseBody), complete?: Buffer | null) {
    this.status = head[0]
    this.httpVersion = head[1] === 20 ? '2.0' : head[1] === 10 ? '1.0' : '1.1'
    this.statusText = head[2]
    this.rawHeaders = splitRawHeaders(head[3])
    this.#body = body
    this[kComplete] = complete
  }

  /** The body stream (also async-iterable, with `text()`, `json()`, `arrayBuffer()`, `bytes()`, `dump()`). */
  get body (): ResponseBody {
    if (typeof this.#body === 'function') {
      this.#body = this.#body()
      this[kComplete] = undefined
    }
    return this.#body
  }

  /** Headers keyed by lower-cased name; repeated values joined with `, ` (`set-cookie` is an array), as Node does. */
  get headers (): IncomingHeaders {
    return (this.#headers ??= headersFromRaw(this.rawHeaders))
  }
}

interface Pending {
  resolve: (r: ClientResponse) => void
  reject: (e: Error) => void
  /** Held strongly once someone reads it; until then weakly, so an unread body can be collected. */
  body: ResponseBody | null
  bodyRef: WeakRef<ResponseBody> | null
  responded: boolean
  drain: (() => void) | null
  uploadDone: boolean
  signal: AbortSignal | undefined
  onAbort: (() => void) | null
  onInformational: ((res: InformationalResponse) => void) | undefined
}

// An unread, unreachable response body is discarded natively so the connection can move on.
const bodyRegistry = new FinalizationRegistry<{ conn: WeakRef<ClientConn>, id: number }>((held) => {
  held.conn.deref()?.[kDiscard](held.id)
})
const kDiscard = Symbol('discard')
/** @internal hooks a Pool sets: called when the last pending request settles, and on close. */
export const kHooks = Symbol('hooks')
/** @internal */
export interface ConnHooks {
  idle?: () => void
  closed?: () => void
}

type State = 'connecting' | 'open' | 'closing' | 'closed'

let nextRequestId = 1
const noop = (): void => {}
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH'])

type Streamed = AsyncIterable<unknown> | Iterable<unknown>

function toBytes (chunk: unknown): Uint8Array | null {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8')
  if (chunk instanceof Uint8Array) return chunk
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk)
  return null
}

/** A fixed body as bytes, a stream to pump, or nothing. */
function toBody (body: unknown): Uint8Array | Streamed | undefined {
  if (body === undefined || body === null) return undefined
  const bytes = toBytes(body)
  if (bytes) return bytes
  if (typeof body === 'object' && (Symbol.asyncIterator in body || Symbol.iterator in body)) return body as Streamed
  throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'body',
    `body must be a string, Buffer, Uint8Array, ArrayBuffer, Readable, (async) iterable or ReadableStream (got ${typeof body})`)
}

function validateTimeout (name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', name, `${name} must be a non-negative number of milliseconds`)
  }
  return v
}

interface ResolvedTarget {
  kind: 'tcp' | 'unix'
  hostname: string
  port: number
  socketPath: string
  hostHeader: string
  secure: boolean
}

function resolveTarget (target: ConnectTarget, options: ConnectOptions): ResolvedTarget {
  let hostname: string
  let port: number
  if (typeof target === 'string' || target instanceof URL) {
    let url: URL
    try {
      url = typeof target === 'string' ? new URL(target) : target
    } catch {
      throw new InvalidArgumentError('ERR_INVALID_URL', 'url', `invalid URL: ${JSON.stringify(target)}`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new InvalidArgumentError('ERR_INVALID_URL_SCHEME', 'url', `unsupported URL scheme ${JSON.stringify(url.protocol)}; expected http: or https:`)
    }
    const secure = url.protocol === 'https:'
    if (!secure && options.tls !== undefined) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'tls', 'tls options were given for an http: URL; use https:')
    }
    hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    port = url.port ? Number(url.port) : secure ? 443 : 80
    return { kind: 'tcp', hostname, port, socketPath: '', hostHeader: options.host ?? url.host, secure }
  }
  if (target === null || typeof target !== 'object') {
    throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'target', 'connect target must be a URL string, a URL, { host, port } or { socketPath }')
  }
  if ('socketPath' in target) {
    if (typeof target.socketPath !== 'string' || target.socketPath.length === 0) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'socketPath', 'socketPath must be a non-empty string')
    }
    return { kind: 'unix', hostname: '', port: 0, socketPath: target.socketPath, hostHeader: options.host ?? 'localhost', secure: options.tls !== undefined }
  }
  const h = target.hostname ?? target.host ?? 'localhost'
  if (typeof h !== 'string' || h.length === 0) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'host', 'host must be a non-empty string')
  hostname = h.startsWith('[') ? h.slice(1, -1) : h
  const protocol = (target as { protocol?: unknown }).protocol
  if (protocol !== undefined && protocol !== 'http:' && protocol !== 'https:') {
    throw new InvalidArgumentError('ERR_INVALID_URL_SCHEME', 'protocol', `unsupported protocol ${JSON.stringify(protocol)}; expected http: or https:`)
  }
  const secure = protocol === 'https:' || (protocol === undefined && options.tls !== undefined)
  const defaultPort = secure ? 443 : 80
  port = target.port === undefined ? defaultPort : Number(target.port)
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new InvalidArgumentError('ERR_SOCKET_BAD_PORT', 'port', `port must be an integer from 1 to 65535, got ${String(target.port)}`)
  }
  const hostPart = net.isIPv6(hostname) ? `[${hostname}]` : hostname
  return { kind: 'tcp', hostname, port, socketPath: '', hostHeader: options.host ?? (port === defaultPort ? hostPart : `${hostPart}:${port}`), secure }
}

function lookupAddress (hostname: string, options: ConnectOptions): Promise<{ address: string, family: 4 | 6 }> {
  const ipFamily = net.isIP(hostname)
  if (ipFamily !== 0) return Promise.resolve({ address: hostname, family: ipFamily as 4 | 6 })
  const lookup = options.lookup ?? (dns.lookup as unknown as LookupFunction)
  return new Promise((resolve, reject) => {
    lookup(hostname, { family: options.family ?? 0 }, (err, address, family) => {
      if (err) {
        const e = new SocketError(err.code ?? 'ENOTFOUND', `getaddrinfo ${err.code ?? 'ENOTFOUND'} ${hostname}`, { syscall: 'getaddrinfo', cause: err })
        reject(e)
      } else {
        resolve({ address, family: family === 6 ? 6 : 4 })
      }
    })
  })
}

function connectError (info: NativeErrno | NativeErrorInfo, where: string, address?: string, port?: number): HyperError {
  let err: HyperError
  if (info.length === 3) {
    const [name, errno, syscall] = info
    err = new SocketError(name, `${syscall} ${name} ${where}`, { errno, syscall })
  } else {
    err = errorFromNative(info, where)
  }
  if (err instanceof SocketError) {
    if (address !== undefined) err.address = address
    if (port !== undefined) err.port = port
  }
  return err
}

export class ClientConn {
  #native: NativeConnection
  #executor: Executor
  #state: State = 'connecting'
  #pending = new Map<number, Pending>()
  #hostHeader: string
  #headersTimeout: number
  #bodyTimeout: number
  #http2: boolean
  #secure: boolean
  #tls: TlsConnectionInfo | undefined
  #authority: string
  #connect: { resolve: (c: ClientConn) => void, reject: (e: Error) => void, where: string, address?: string, port?: number } | null = null
  #closed: Promise<void> | null = null
  #closedResolve: (() => void) | null = null
  #destroyCause: Error | undefined
  #self = new WeakRef(this);
  /** @internal */
  [kHooks]: ConnHooks = {}

  private constructor (executor: Executor, options: ConnectOptions, t: ResolvedTarget, connectTimeout: number) {
    const hostHeader = t.hostHeader
    this.#executor = executor
    this.#hostHeader = hostHeader
    this.#http2 = options.http2 === true
    this.#secure = t.secure
    this.#authority = hostHeader
    let tls: object | undefined
    if (t.secure) {
      const tlsOptions = options.tls ?? {}
      const context = secureContextFor(tlsOptions, options.http2 ?? 'auto')
      // SNI and the verified name: `servername`, else the host (no SNI for IP literals).
      const servername = tlsOptions.servername ?? (t.kind === 'unix' ? hostHeader.replace(/:\d+$/, '') : t.hostname)
      if (typeof servername !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'tls.servername', 'tls.servername must be a string')
      tls = { context, servername: net.isIP(servername) ? '' : servername, verifyHost: servername, sessionKey: `${servername}:${t.port}` }
    }
    this.#headersTimeout = validateTimeout('headersTimeout', options.headersTimeout, 300_000)
    this.#bodyTimeout = validateTimeout('bodyTimeout', options.bodyTimeout, 300_000)
    this.#native = new binding.Connection(executor.native, this, {
      preserveHeaderCase: options.preserveHeaderCase ?? true,
      preserveHeaderOrder: options.preserveHeaderOrder ?? true,
      allowMultilineHeaders: options.allowMultilineHeaders ?? false,
      connectTimeout,
      http2: this.#http2,
      maxConcurrentStreams: options.maxConcurrentStreams ?? 100,
      tls,
    })
  }

  /**
   * Opens a connection and completes hyper's handshake.
   * @example
   * const conn = await ClientConn.connect('http://127.0.0.1:8080')
   * const res = await conn.request({ path: '/' })
   * console.log(res.status, await res.body.text())
   * await conn.close()
   */
  static async connect (target: ConnectTarget, options: ConnectOptions = {}): Promise<ClientConn> {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'options', 'options must be an object')
    const executor = options.executor ?? Executor.default
    if (!(executor instanceof Executor)) throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'executor', 'executor must be an Executor')
    const connectTimeout = validateTimeout('connectTimeout', options.connectTimeout, 10_000)
    const signal = options.signal
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'signal', 'signal must be an AbortSignal')
    if (signal?.aborted) throw new AbortError(signal.reason)
    validateHttp2(options.http2)
    const t = resolveTarget(target, options)
    let address = ''
    let family: 4 | 6 = 4
    if (t.kind === 'tcp') {
      const lookup = lookupAddress(t.hostname, options)
      ;({ address, family } = signal ? await raceAbort(lookup, signal) : await lookup)
    }
    const conn = new ClientConn(executor, options, t, connectTimeout)
    const connecting = conn.#start(t, address, family)
    if (!signal) return connecting
    const onAbort = (): void => conn.#abortConnect(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      return await connecting
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  #start (t: ResolvedTarget, address: string, family: 4 | 6): Promise<ClientConn> {
    const where = t.kind === 'unix' ? t.socketPath : `${family === 6 ? `[${address}]` : address}:${t.port}`
    const failed = t.kind === 'unix' ? this.#native.connectUnix(t.socketPath) : this.#native.connectTcp(family, address, t.port)
    if (failed) {
      this.#state = 'closed'
      this.#native.destroy()
      return Promise.reject(connectError(failed, where, t.kind === 'tcp' ? address : undefined, t.kind === 'tcp' ? t.port : undefined))
    }
    return new Promise((resolve, reject) => {
      this.#connect = { resolve, reject, where }
      if (t.kind === 'tcp') {
        this.#connect.address = address
        this.#connect.port = t.port
      }
    })
  }

  #abortConnect (reason: unknown): void {
    if (!this.#connect) return
    const c = this.#connect
    this.#connect = null
    this.#state = 'closed'
    this.#native.destroy('ABORT_ERR', 'connect aborted')
    c.reject(new AbortError(reason))
  }

  /** The executor this connection runs on. */
  get executor (): Executor {
    return this.#executor
  }

  /** True once the connection is closed (by `close()`, `destroy()`, the server, or an error). */
  get closed (): boolean {
    return this.#state === 'closed'
  }

  /** Whether the connection uses TLS. */
  get secure (): boolean {
    return this.#secure
  }

  /** What the TLS handshake negotiated (undefined for cleartext connections). */
  get tls (): TlsConnectionInfo | undefined {
    return this.#tls
  }

  /** The protocol this connection speaks: `'1.1'` or `'2'` (over TLS, as ALPN selected). */
  get protocol (): '1.1' | '2' {
    return this.#http2 ? '2' : '1.1'
  }

  /** Requests queued or in flight. */
  get pending (): number {
    return this.#pending.size
  }

  /**
   * Sends a request. On HTTP/1.1 requests run one at a time in call order; the response body
   * must be consumed (or dumped) before the next request is written.
   */
  request (options: RequestOptions = {}): Promise<ClientResponse> {
    let method: string
    let path: string
    let headers: string[]
    let body: Uint8Array | Streamed | undefined
    let headersTimeout: number
    let bodyTimeout: number
    let continueMs = 0
    const signal = options?.signal
    try {
      if (options === null || typeof options !== 'object') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'options', 'request options must be an object')
      method = options.method === undefined ? 'GET' : validateMethod(options.method)
      path = options.path === undefined ? '/' : validatePath(options.path)
      headers = flattenHeaders(options.headers)
      body = toBody(options.body)
      headersTimeout = validateTimeout('headersTimeout', options.headersTimeout, this.#headersTimeout)
      bodyTimeout = validateTimeout('bodyTimeout', options.bodyTimeout, this.#bodyTimeout)
      if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'signal', 'signal must be an AbortSignal')
      if (options.onInformational !== undefined && typeof options.onInformational !== 'function') {
        throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'onInformational', 'onInformational must be a function')
      }
      if (options.expectContinue) {
        continueMs = validateTimeout('expectContinueTimeout', options.expectContinueTimeout, 1000) || 1
      }
    } catch (err) {
      return Promise.reject(err)
    }
    if (signal?.aborted) return Promise.reject(new AbortError(signal.reason))
    if (this.#state !== 'open') {
      return Promise.reject(new ConnectionClosedError('ERR_CLOSED', this.#state === 'connecting' ? 'the connection is not open yet' : 'the connection is closed'))
    }
    const streamed = body !== undefined && !(body instanceof Uint8Array)
    const upper = method.toUpperCase()
    let target = path
    if (this.#http2) {
      // HTTP/2 carries scheme and authority as pseudo-headers (from an absolute URI) and no Host.
      let authority = this.#authority
      for (let i = 0; i < headers.length; i += 2) {
        if (headers[i]!.toLowerCase() === 'host') {
          authority = headers[i + 1]!
          headers.splice(i, 2)
          i -= 2
        }
      }
      if (path[0] === '/' || path === '*') target = `${this.#secure ? 'https' : 'http'}://${authority}${path === '*' ? '' : path}`
      if (body instanceof Uint8Array && !hasHeader(headers, 'content-length')) headers.push('Content-Length', String(body.byteLength))
    } else {
      if (!hasHeader(headers, 'host')) headers.unshift('Host', this.#hostHeader)
      const framed = hasHeader(headers, 'content-length') || hasHeader(headers, 'transfer-encoding')
      if (!framed) {
        if (body instanceof Uint8Array) headers.push('Content-Length', String(body.byteLength))
        // hyper sends an unknown-length body as chunked, except for GET, HEAD and CONNECT, where it
        // would drop it silently: say chunked explicitly there.
        else if (streamed && (upper === 'GET' || upper === 'HEAD' || upper === 'CONNECT')) headers.push('Transfer-Encoding', 'chunked')
        else if (body === undefined && BODY_METHODS.has(upper)) headers.push('Content-Length', '0')
      }
    }
    if (continueMs && body !== undefined && !hasHeader(headers, 'expect')) headers.push('Expect', '100-continue')
    if (body === undefined) continueMs = 0
    const id = nextRequestId++
    const bad = this.#native.request(id, method, target, headers, streamed ? true : body as Uint8Array | undefined,
      headersTimeout, bodyTimeout, continueMs, options.onInformational !== undefined)
    if (bad) {
      const [field, code] = bad
      if (field === 'connection') return Promise.reject(new ConnectionClosedError('ERR_CLOSED', 'the connection is closed'))
      return Promise.reject(new InvalidArgumentError('ERR_INVALID_ARG_VALUE', field, `hyper rejected the request's ${field} (hyper code ${code})`))
    }
    return new Promise((resolve, reject) => {
      const p: Pending = {
        resolve, reject, body: null, bodyRef: null, responded: false, drain: null, uploadDone: !streamed,
        signal, onAbort: null, onInformational: options.onInformational,
      }
      this.#pending.set(id, p)
      if (signal) {
        p.onAbort = () => this.#abortRequest(id, signal.reason)
        signal.addEventListener('abort', p.onAbort, { once: true })
      }
      const handle = options[kCancel]
      if (handle) handle.cancel = (reason) => this.#abortRequest(id, reason)
      if (streamed) void this.#pump(id, p, body as Streamed)
    })
  }

  /** Feeds a streamed request body to the addon, waiting for drain events (backpressure). */
  async #pump (id: number, p: Pending, source: Streamed): Promise<void> {
    try {
      for await (const chunk of source as AsyncIterable<unknown>) {
        if (p.uploadDone) return
        const bytes = toBytes(chunk)
        if (!bytes) throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'body', `request body chunks must be strings or binary, got ${typeof chunk}`)
        if (bytes.byteLength === 0) continue
        const r = this.#native.write(id, bytes)
        if (r < 0) return
        if (r === 0) await new Promise<void>((resolve) => { p.drain = resolve })
      }
      if (!p.uploadDone) {
        p.uploadDone = true
        this.#native.end(id)
      }
    } catch (err) {
      if (p.uploadDone || this.#pending.get(id) !== p) return
      p.uploadDone = true
      // The user's stream failed: abort the request (HTTP/1: hyper fails the connection) and
      // report what the stream threw as the cause.
      this.#native.failUpload(id)
      this.#settle(id, p, new RequestBodyError('ERR_REQUEST_BODY', `the request body stream failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }))
    }
  }

  #abortRequest (id: number, reason: unknown): void {
    const p = this.#pending.get(id)
    if (!p) return
    // 0: still queued, removed (the connection stays usable); 1: on the wire, the connection is
    // closed (HTTP/1 cannot abandon an exchange midway); 2: hyper already finished it;
    // 3: HTTP/2 stream reset or abandoned, the connection and its other streams go on.
    this.#native.abort(id)
    this.#settle(id, p, new AbortError(reason))
  }

  /** Fails a pending request (or its body stream) and releases everything it holds. */
  #settle (id: number, p: Pending, err: Error): void {
    this.#delete(id)
    this.#cleanup(p)
    const body = p.body ?? p.bodyRef?.deref()
    if (p.responded) body?.[kFail](err)
    else p.reject(err)
  }

  #cleanup (p: Pending): void {
    p.uploadDone = true
    if (p.drain) {
      p.drain()
      p.drain = null
    }
    if (p.onAbort && p.signal) p.signal.removeEventListener('abort', p.onAbort)
    p.onAbort = null
  }

  /** @internal an unread response body was garbage-collected: discard the rest natively. */
  [kDiscard] (id: number): void {
    if (this.#pending.has(id)) {
      const p = this.#pending.get(id)!
      this.#delete(id)
      this.#cleanup(p)
      this.#native.dump(id)
    }
  }

  /** Closes gracefully: queued and in-flight requests finish first. Resolves once closed. */
  close (): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve()
    if (!this.#closed) {
      this.#closed = new Promise((resolve) => { this.#closedResolve = resolve })
      if (this.#state !== 'connecting') this.#state = 'closing'
      this.#native.close()
    }
    return this.#closed
  }

  /** Closes at once: every queued or in-flight request fails with `ERR_DESTROYED` (its `cause` is `err`). */
  destroy (err?: Error): void {
    if (this.#state === 'closed') return
    this.#destroyCause = err
    this.#native.destroy('ERR_DESTROYED', err ? `the connection was destroyed: ${err.message}` : 'the connection was destroyed')
  }

  /** @internal */
  [kOnEvent] (kind: number, id: number, payload: unknown): void {
    switch (kind) {
      case EVENT_RESPONSE: {
        const p = this.#pending.get(id)
        if (!p) return
        const head = payload as NativeHead
        p.responded = true
        if (head[5]) {
          // complete on arrival: nothing more will come for it
          this.#delete(id)
          this.#cleanup(p)
          // The stream is made on first access of `body` (the undici adapter never needs it).
          const native = this.#native
          const first = head[4]
          p.resolve(new ClientResponse(head, () => new ResponseBody(native, id, first, true, false), first))
          return
        }
        const body = new ResponseBody(this.#native, id, head[4], false, head[6], () => { p.body = body })
        p.bodyRef = new WeakRef(body)
        bodyRegistry.register(body, { conn: this.#self, id })
        const resolve = p.resolve
        // Drop the settle functions: they reach the resolved promise and through it the
        // response, which would keep an unread body alive.
        p.resolve = p.reject = noop
        resolve(new ClientResponse(head, body))
        return
      }
      case EVENT_DATA: {
        const p = this.#pending.get(id)
        ;(p?.body ?? p?.bodyRef?.deref())?.[kPush](payload as Buffer)
        return
      }
      case EVENT_END: {
        const p = this.#pending.get(id)
        if (!p) return
        this.#delete(id)
        if (!p.uploadDone) p.uploadDone = true
        this.#cleanup(p)
        ;(p.body ?? p.bodyRef?.deref())?.[kEnd]()
        return
      }
      case EVENT_REQUEST_ERROR: {
        const p = this.#pending.get(id)
        if (!p) return
        this.#settle(id, p, this.#error(payload as NativeErrorInfo))
        return
      }
      case EVENT_DRAIN: {
        const p = this.#pending.get(id)
        if (p?.drain) {
          const d = p.drain
          p.drain = null
          d()
        }
        return
      }
      case EVENT_INFORMATIONAL: {
        const p = this.#pending.get(id)
        if (!p?.onInformational) return
        const [status, , reason, joined] = payload as NativeInformational
        const rawHeaders = splitRawHeaders(joined)
        try {
          p.onInformational({ status, statusText: reason, rawHeaders, headers: headersFromRaw(rawHeaders) })
        } catch (err) {
          // A throwing callback aborts its request; the error is the cause.
          this.#native.abort(id)
          this.#settle(id, p, new HyperError('ERR_CALLBACK', `onInformational threw: ${(err as Error)?.message ?? String(err)}`, { cause: err }))
        }
        return
      }
      case EVENT_CONNECTED: {
        const t = this.#native.tlsInfo()
        if (t) {
          this.#tls = tlsInfoFromNative(t)
          this.#http2 = t[5]
        }
        if (this.#state === 'connecting') this.#state = this.#closed ? 'closing' : 'open'
        if (this.#connect) {
          this.#connect.resolve(this)
          this.#connect = null
        }
        return
      }
      case EVENT_CONNECT_ERROR:
        if (this.#connect) {
          this.#connect.reject(connectError(payload as NativeErrorInfo, this.#connect.where, this.#connect.address, this.#connect.port))
          this.#connect = null
        }
        return
      case EVENT_CLOSED: {
        this.#state = 'closed'
        const err = payload ? this.#error(payload as NativeErrorInfo) : new ConnectionClosedError('ERR_CONNECTION_CLOSED', 'the connection was closed')
        if (this.#connect) {
          this.#connect.reject(err)
          this.#connect = null
        }
        for (const [pid, p] of this.#pending) this.#settle(pid, p, err)
        this.#closedResolve?.()
        this.#closedResolve = null
        if (!this.#closed) this.#closed = Promise.resolve()
        this[kHooks].closed?.()
      }
    }
  }

  /** Removes a settled request; tells a pool when the connection has nothing left in flight. */
  #delete (id: number): void {
    if (this.#pending.delete(id) && this.#pending.size === 0 && this.#state === 'open') {
      const idle = this[kHooks].idle
      if (idle) queueMicrotask(idle)
    }
  }

  #error (info: NativeErrorInfo): HyperError {
    const err = errorFromNative(info)
    if (err.code === 'ERR_DESTROYED' && this.#destroyCause) {
      Object.defineProperty(err, 'cause', { value: this.#destroyCause, configurable: true, writable: true })
    }
    return err
  }
}

/** Rejects with an AbortError as soon as `signal` aborts (the underlying work is abandoned). */
function raceAbort<T> (p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortError(signal.reason))
    signal.addEventListener('abort', onAbort, { once: true })
    p.then((v) => { signal.removeEventListener('abort', onAbort); resolve(v) },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e) })
  })
}
