/**
 * ClientConn: one HTTP connection driven by hyper. HTTP/1.1 requests on one connection run one
 * at a time; a `request()` made while another is in flight waits its turn in a FIFO queue.
 * Underneath, every request is an {@link Exchange} (exchange.ts): the connection sends it and
 * routes the addon's events to it; `request()` is the promise face on top.
 */
import * as net from 'node:net'
import { binding, type NativeConnection } from './native.js'
import { Attempt, AttemptOutcome, Err, Event, ResponseHead, Slot, Tls, bodyOf, splitRawHeaders, type NativeErrorInfo } from './protocol.js'
import { Executor, kOnEvent } from './executor.js'
import { AbortError, ConnectionClosedError, HyperError, InvalidArgumentError, RequestBodyError, SocketError, errorFromNative, refusalFromNative } from './errors.js'
import { Exchange, chunkBytes, prepareRequest, wantsEmptyLength, type ExchangeHolder, type RequestOptions, type Streamed } from './exchange.js'
import { ClientResponse, ResponseExchange } from './response.js'
import { headersFromRaw } from './headers.js'
import { methodIn, validateAuthority, validateHttp2, validateTimeout } from './validate.js'
import { secureContextFor, tlsInfoFromNative, type TlsConnectionInfo, type TlsOptions } from './tls.js'
import { attemptTimeout, endpoint, lookupCandidates, nativeSocketOptions, raceError, validateNetOptions, type Candidate, type LookupFunction, type NetConnectOptions } from './connect.js'
import { absoluteFormExtra, nativeProxyOptions, proxyErrorFromNative, resolveProxy, validateProxyOption, type ProxyConfig, type ProxyOption } from './proxy.js'
import { connectionInfo, connectionTimings, fromHr, kRecord, now, type ConnectionInfo, type ConnectionTimings, type TimedConnection } from './timings.js'
import { ConnectTrace, connectTraced, requestTraced, traceEnd, traceHead, traceRequest, traceSend, type ConnectParams } from './diagnostics.js'
import { IdTable } from './id-table.js'

export { ClientResponse } from './response.js'
export type { RequestOptions, RequestBody, BodyChunk, InformationalResponse } from './exchange.js'

export type { LookupFunction, NetConnectOptions } from './connect.js'

/** Where to connect: an `http:` or `https:` URL, a host and port, or a Unix domain socket path. */
export type ConnectTarget =
  | string
  | URL
  | { host?: string; hostname?: string; port?: number | string; protocol?: 'http:' | 'https:' }
  | { socketPath: string }

export interface ConnectOptions extends NetConnectOptions {
  /** The executor (event-loop driver) to run on; defaults to {@link Executor.default}. */
  executor?: Executor
  /** Keep response header names in wire case in `rawHeaders` (default true). */
  preserveHeaderCase?: boolean
  /** Keep response headers in wire order in `rawHeaders` (default true). */
  preserveHeaderOrder?: boolean
  /** Accept obsolete line folding (obs-fold) in response headers (default false). */
  allowMultilineHeaders?: boolean
  /**
   * Connect to this Unix domain socket instead of the URL's host and port; the URL still gives
   * the scheme (`https:` for TLS over the socket), the `Host` header and the TLS server name.
   */
  socketPath?: string
  /**
   * A forward proxy: a URL (`http://proxy:3128`, `https://user:pass@proxy:443`), {@link ProxyOptions},
   * or `'env'` for the one `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` name for the target (undici's
   * `EnvHttpProxyAgent` rules). `https:` targets go through a `CONNECT` tunnel (TLS to the target
   * inside it, HTTP/2 when ALPN picks it); `http:` targets are requested in absolute form.
   * Cannot be combined with `socketPath` (`'env'` is then ignored).
   */
  proxy?: ProxyOption
  /** Value of the `Host` header sent by default (defaults to the target's host and port). */
  host?: string
  /** Abort the connect (DNS, TCP connect, handshake). */
  signal?: AbortSignal
  /** Milliseconds allowed for DNS, TCP connect, the TLS handshake and hyper's handshake (default 10,000; 0 = none). */
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

/** @internal hooks a Pool sets on its connections. */
export const kHooks = Symbol('hooks')
/** @internal */
export interface ConnHooks {
  /** The connection closed (`err`: why; a clean close is an `ERR_CONNECTION_CLOSED`). */
  closed?: (err: Error) => void
  /** The connection takes no new requests (HTTP/2 GOAWAY, its server closed it). */
  draining?: () => void
}
/** @internal Sends an Exchange (the core entry both faces use). */
export const kDispatch = Symbol('dispatch')
/** @internal Whether the connection takes new requests now. */
export const kAccepting = Symbol('accepting')

type State = 'connecting' | 'open' | 'closing' | 'closed'

interface PendingConnect {
  resolve: (c: ClientConn) => void
  reject: (e: Error) => void
  where: string
  address?: string
  port?: number
  /** Several addresses raced (happy eyeballs). */
  race: boolean
}

let nextRequestId = 1

// Methods whose streamed body of unknown length hyper would drop instead of sending it chunked.
const DROPS_UNFRAMED_BODY = new Set(['GET', 'HEAD', 'CONNECT'])

// Node's and undici's spellings that belong somewhere else here: rejected with a pointer rather
// than silently ignored.
const MISPLACED: Readonly<Record<string, string>> = {
  ca: 'tls.ca', cert: 'tls.cert', key: 'tls.key', passphrase: 'tls.passphrase', rejectUnauthorized: 'tls.rejectUnauthorized',
  servername: 'tls.servername', ALPNProtocols: 'tls.ALPNProtocols', ciphers: 'tls.ciphers', timeout: 'connectTimeout',
}

/** Checks connect options (also used by Pool and Agent, at construction). Throws InvalidArgumentError. */
export function validateConnectOptions (options: ConnectOptions): void {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'options', 'options must be an object')
  for (const [name, where] of Object.entries(MISPLACED)) {
    if ((options as Record<string, unknown>)[name] !== undefined) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', name, `the ${name} option goes in ${where} here`)
    }
  }
  if (options.executor !== undefined && !(options.executor instanceof Executor)) throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'executor', 'executor must be an Executor')
  for (const b of ['preserveHeaderCase', 'preserveHeaderOrder', 'allowMultilineHeaders'] as const) {
    if (options[b] !== undefined && typeof options[b] !== 'boolean') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', b, `${b} must be a boolean`)
  }
  if (options.lookup !== undefined && typeof options.lookup !== 'function') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'lookup', 'lookup must be a function')
  validateNetOptions(options)
  if (options.socketPath !== undefined && (typeof options.socketPath !== 'string' || options.socketPath.length === 0)) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'socketPath', 'socketPath must be a non-empty string')
  }
  validateProxyOption(options.proxy)
  if (options.socketPath !== undefined && options.proxy !== undefined && options.proxy !== 'env') {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'proxy', 'proxy and socketPath cannot be combined: a Unix socket is connected to directly')
  }
  if (options.family !== undefined && options.family !== 0 && options.family !== 4 && options.family !== 6) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'family', 'family must be 0, 4 or 6')
  }
  if (options.host !== undefined) {
    if (typeof options.host !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'host', 'host must be a string')
    validateAuthority(options.host, 'host')
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'signal', 'signal must be an AbortSignal')
  for (const t of ['connectTimeout', 'headersTimeout', 'bodyTimeout'] as const) {
    if (options[t] !== undefined) validateTimeout(t, options[t])
  }
  validateHttp2(options.http2)
  const mcs = options.maxConcurrentStreams
  if (mcs !== undefined && typeof mcs !== 'number') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'maxConcurrentStreams', 'maxConcurrentStreams must be a number')
  if (mcs !== undefined && (!Number.isInteger(mcs) || mcs < 1 || mcs > 0xffffffff)) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'maxConcurrentStreams', 'maxConcurrentStreams must be a positive integer')
  }
  if (options.tls !== undefined && (options.tls === null || typeof options.tls !== 'object')) throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'tls', 'tls options must be an object')
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
    // socketPath: the URL names the origin (Host, TLS name); the bytes go to the Unix socket.
    if (options.socketPath !== undefined) return { kind: 'unix', hostname, port, socketPath: options.socketPath, hostHeader: options.host ?? url.host, secure }
    return { kind: 'tcp', hostname, port, socketPath: '', hostHeader: options.host ?? url.host, secure }
  }
  if (target === null || typeof target !== 'object') {
    throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'target', 'connect target must be a URL string, a URL, { host, port } or { socketPath }')
  }
  if ('socketPath' in target) {
    if (typeof target.socketPath !== 'string' || target.socketPath.length === 0) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'socketPath', 'socketPath must be a non-empty string')
    }
    if (options.socketPath !== undefined && options.socketPath !== target.socketPath) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'socketPath', 'the target and the socketPath option name different Unix sockets')
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
  const hostHeader = options.host ?? (port === defaultPort ? hostPart : `${hostPart}:${port}`)
  validateAuthority(hostHeader, 'host')
  if (options.socketPath !== undefined) return { kind: 'unix', hostname, port, socketPath: options.socketPath, hostHeader, secure }
  return { kind: 'tcp', hostname, port, socketPath: '', hostHeader, secure }
}

function connectError (info: NativeErrorInfo, where: string, address?: string, port?: number): HyperError {
  const err = errorFromNative(info, where)
  if (err instanceof SocketError) {
    if (address !== undefined) err.address = address
    if (port !== undefined) err.port = port
  }
  return err
}

function connectTimeoutError (ms: number): HyperError {
  return errorFromNative(['ERR_CONNECT_TIMEOUT', 0, `connect timed out after ${ms} ms`, undefined, undefined, '', false, undefined, undefined])
}

/** Rejects when `signal` aborts or `ms` pass first (the underlying work is abandoned). */
function bounded<T> (p: Promise<T>, signal: AbortSignal | undefined, ms: number, onTimeout: () => Error): Promise<T> {
  if (!signal && !ms) return p
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { cleanup(); reject(new AbortError(signal!.reason)) }
    const timer = ms ? setTimeout(() => { cleanup(); reject(onTimeout()) }, ms) : null
    const cleanup = (): void => {
      if (timer) clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    p.then((v) => { cleanup(); resolve(v) }, (e) => { cleanup(); reject(e) })
  })
}

export class ClientConn implements ExchangeHolder {
  #native: NativeConnection
  #executor: Executor
  #state: State = 'connecting'
  #exchanges = new IdTable<Exchange>()
  #hostHeader: string
  #headersTimeout: number
  #bodyTimeout: number
  #http2: boolean
  #secure: boolean
  #tls: TlsConnectionInfo | undefined
  #connect: PendingConnect | null = null
  #proxy: ProxyConfig | null
  /** Absolute-form requests to a proxy: `http://host:port` prefixed to origin-form targets ('' otherwise). */
  #absolute = ''
  /** ...and the proxy's header lines sent with each of them (NUL-joined). */
  #proxyExtra = ''
  #closed: Promise<void> | null = null
  #closedResolve: (() => void) | null = null
  #destroyCause: Error | undefined
  /** @internal the last response's `Keep-Alive: timeout` (ms, -1 when none): a pool's idle limit. */
  keepAliveHint = -1
  /** @internal false once a response said `Connection: close`. */
  reusable = true
  // ---- observability (timings.ts, diagnostics.ts) ----
  /** `http(s)://host[:port]`: what diagnostics report as a request's origin. */
  #origin: string
  #socketPath: string | undefined
  /** performance.now() around the DNS lookup (0: none). */
  #lookupStart = 0
  #lookupEnd = 0
  /** Exchanges handed to this connection so far (the first is not `reused`). */
  #served = 0
  /**
   * Its info and setup times, taken once connected: what exchanges point at (`ex.conn`), so a
   * response kept around does not keep the connection (and its native state) alive.
   */
  #record: TimedConnection | null = null;
  /** @internal */
  [kHooks]: ConnHooks = {}

  private constructor (executor: Executor, options: ConnectOptions, t: ResolvedTarget, connectTimeout: number, proxy: ProxyConfig | null) {
    this.#executor = executor
    this.#hostHeader = t.hostHeader
    this.#origin = `${t.secure ? 'https' : 'http'}://${t.hostHeader}`
    this.#socketPath = t.kind === 'unix' ? t.socketPath : undefined
    this.#http2 = options.http2 === true
    this.#secure = t.secure
    this.#proxy = proxy
    let tls: object | undefined
    let proxyOptions: object | undefined
    if (proxy) {
      // https: targets (or tunnel: true) through CONNECT; http: ones in absolute form to the proxy.
      const tunnel = t.secure || proxy.tunnel
      if (!tunnel) {
        if (options.http2 === true) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'http2', 'http2: true (h2c) cannot be spoken to a proxy in absolute form; use proxy.tunnel: true')
        const hostPart = net.isIPv6(t.hostname) ? `[${t.hostname}]` : t.hostname
        this.#absolute = `http://${t.port === 80 ? hostPart : `${hostPart}:${t.port}`}`
        this.#proxyExtra = absoluteFormExtra(proxy)
      }
      proxyOptions = nativeProxyOptions(proxy, t, tunnel)
    }
    if (t.secure) {
      const tlsOptions = options.tls ?? {}
      const context = secureContextFor(tlsOptions, options.http2 ?? 'auto')
      // SNI and the verified name: `servername`, else the host (no SNI for IP literals).
      const servername = tlsOptions.servername ?? (t.hostname || t.hostHeader.replace(/:\d+$/, ''))
      if (typeof servername !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'tls.servername', 'tls.servername must be a string')
      tls = { context, servername: net.isIP(servername) ? '' : servername, verifyHost: servername, sessionKey: `${servername}:${t.port}` }
    }
    this.#headersTimeout = options.headersTimeout === undefined ? 300_000 : validateTimeout('headersTimeout', options.headersTimeout)
    this.#bodyTimeout = options.bodyTimeout === undefined ? 300_000 : validateTimeout('bodyTimeout', options.bodyTimeout)
    this.#native = new binding.Connection(executor.native, this, {
      preserveHeaderCase: options.preserveHeaderCase ?? true,
      preserveHeaderOrder: options.preserveHeaderOrder ?? true,
      allowMultilineHeaders: options.allowMultilineHeaders ?? false,
      connectTimeout,
      http2: this.#http2,
      maxConcurrentStreams: options.maxConcurrentStreams ?? 100,
      tls,
      socket: t.kind === 'tcp' ? nativeSocketOptions(options) : undefined,
      proxy: proxyOptions,
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
    validateConnectOptions(options)
    const executor = options.executor ?? Executor.default
    const connectTimeout = options.connectTimeout === undefined ? 10_000 : validateTimeout('connectTimeout', options.connectTimeout)
    const signal = options.signal
    if (signal?.aborted) throw new AbortError(signal.reason)
    const t = resolveTarget(target, options)
    // diagnostics_channel (undici:client:beforeConnect/connected/connectError), when subscribed.
    if (!connectTraced()) return ClientConn.#open(executor, connectTimeout, t, options)
    const trace = new ConnectTrace(connectParams(t, options))
    try {
      const conn = await ClientConn.#open(executor, connectTimeout, t, options)
      trace.connected(conn[kRecord]())
      return conn
    } catch (err) {
      trace.failed(err)
      throw err
    }
  }

  static async #open (executor: Executor, connectTimeout: number, t: ResolvedTarget, options: ConnectOptions): Promise<ClientConn> {
    const signal = options.signal
    const proxy = t.kind === 'tcp' ? resolveProxy(options.proxy, t) : null
    let candidates: Candidate[] = []
    let remaining = connectTimeout
    let lookupStart = 0
    let lookupEnd = 0
    if (t.kind === 'tcp') {
      // The connect timeout covers the lookup too (a custom lookup may never call back). Through
      // a proxy, the proxy's name is looked up (the proxy resolves the target's).
      const started = lookupStart = performance.now()
      candidates = await bounded(lookupCandidates(proxy ? proxy.hostname : t.hostname, options), signal, connectTimeout, () => connectTimeoutError(connectTimeout))
      lookupEnd = performance.now()
      if (connectTimeout) remaining = Math.max(1, connectTimeout - Math.floor(lookupEnd - started))
    }
    const conn = new ClientConn(executor, options, t, remaining, proxy)
    conn.#lookupStart = lookupStart
    conn.#lookupEnd = lookupEnd
    const connecting = conn.#start(t, proxy ? proxy.port : t.port, candidates, options)
    if (!signal) return connecting
    const onAbort = (): void => conn.#abortConnect(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      return await connecting
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  #start (t: ResolvedTarget, port: number, candidates: Candidate[], options: ConnectOptions): Promise<ClientConn> {
    const race = candidates.length > 1
    const first = candidates[0]
    const where = t.kind === 'unix' ? t.socketPath : race ? `${t.hostname}:${port}` : endpoint(first!.address, first!.family, port)
    let failed: NativeErrorInfo | undefined
    if (t.kind === 'unix') {
      failed = this.#native.connectUnix(t.socketPath)
    } else if (race) {
      const flat: (string | number)[] = []
      for (const c of candidates) flat.push(c.family, c.address)
      failed = this.#native.connectTcpRace(flat, port, attemptTimeout(options))
    } else {
      failed = this.#native.connectTcp(first!.family, first!.address, port)
    }
    if (failed) {
      this.#state = 'closed'
      const err = race ? this.#raceError(failed, port) : connectError(failed, this.#where(where), first?.address, t.kind === 'tcp' ? port : undefined)
      this.#native.destroy()
      return Promise.reject(err)
    }
    return new Promise((resolve, reject) => {
      this.#connect = { resolve, reject, where, race }
      if (t.kind === 'tcp') {
        if (!race) this.#connect.address = first!.address
        this.#connect.port = port
      }
    })
  }

  /** Where the connect went, for messages: the endpoint, and the proxy when there is one. */
  #where (where: string): string {
    return this.#proxy ? `${where} (proxy ${this.#proxy.origin})` : where
  }

  /** The error of a failed connect race, listing each attempt. */
  #raceError (info: NativeErrorInfo, port: number): HyperError {
    return raceError(info, this.#native.connectAttempts() ?? [], this.#where(this.#proxy ? this.#proxy.hostname : this.#hostHeader), port)
  }

  /** The error of a failed connect: a proxy's refusal, a failed race, or the socket's, TLS's or hyper's error. */
  #connectFailure (info: NativeErrorInfo, c: PendingConnect): HyperError {
    if (this.#proxy && info[Err.LocalCode].startsWith('ERR_PROXY_')) return proxyErrorFromNative(info, this.#native.tunnelReply(), this.#proxy)
    if (c.race) {
      // The race itself failed (every attempt, or the deadline came first); a failure after an
      // attempt won (TLS, the proxy leg, hyper's handshake) is the winner's own.
      const attempts = this.#native.connectAttempts()
      if (attempts && !attempts.some((a) => a[Attempt.Outcome] === AttemptOutcome.Connected)) return this.#raceError(info, c.port ?? 0)
    }
    return connectError(info, this.#where(c.where), c.address, c.port)
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

  /**
   * What this connection is: peer and local address, protocol, TLS, proxy (read once it is
   * connected: {@link ClientConn.connect} resolved).
   */
  get info (): ConnectionInfo {
    return this.#record?.info ?? (this.#state === 'connecting' ? this.#snapshot().info : this.#recorded().info)
  }

  /** When each step of opening this connection happened (`performance.now()` ms): DNS, connect, TLS, hyper's handshake. */
  get timings (): ConnectionTimings {
    return this.#record?.timings ?? (this.#state === 'connecting' ? this.#snapshot().timings : this.#recorded().timings)
  }

  /** @internal */
  [kRecord] (): TimedConnection {
    return this.#recorded()
  }

  /** The record, taken the first time it is wanted once connected (the setup is over then). */
  #recorded (): TimedConnection {
    return (this.#record ??= this.#snapshot())
  }

  #snapshot (): TimedConnection {
    const n = this.#native.connectionInfo()
    return {
      info: connectionInfo(n, this.protocol, this.#tls, this.#socketPath, this.#proxy?.origin),
      timings: connectionTimings(n, this.#lookupStart, this.#lookupEnd),
    }
  }

  /** Requests queued or in flight. */
  get pending (): number {
    return this.#exchanges.size
  }

  /** @internal */
  get [kAccepting] (): boolean {
    return this.#state === 'open'
  }

  /**
   * Sends a request. On HTTP/1.1 requests run one at a time in call order; the response body
   * must be consumed (or dumped) before the next request is written.
   */
  request (options: RequestOptions = {}): Promise<ClientResponse> {
    const ex = new ResponseExchange(options)
    try {
      prepareRequest(ex, options)
    } catch (err) {
      return Promise.reject(err)
    }
    const signal = options.signal
    if (signal) {
      if (signal.aborted) return Promise.reject(new AbortError(signal.reason))
      ex.listen(signal)
    }
    // observability: its start, and its diagnostics message when someone subscribes
    ex.startedAt = now()
    if (requestTraced()) traceRequest(ex, this.#origin)
    this[kDispatch](ex)
    return ex.takePromise()
  }

  /** @internal Sends a prepared exchange; whatever happens reaches its callbacks. */
  [kDispatch] (ex: Exchange): void {
    if (this.#state !== 'open') {
      const message = this.#state === 'connecting' ? 'the connection is not open yet' : 'the connection is closed'
      this.#failExchange(ex, new ConnectionClosedError('ERR_CLOSED', message, { requestSent: false }))
      return
    }
    const body = ex.body
    const streamed = body !== undefined && !(body instanceof Uint8Array)
    const id = nextRequestId++
    const head = this.#wireHead(ex, streamed)
    const refused = this.#native.request(id, head, streamed ? true : body as Uint8Array | undefined,
      ex.headersTimeout ?? this.#headersTimeout, ex.bodyTimeout ?? this.#bodyTimeout, ex.continueMs, ex.wantInformational)
    if (refused) {
      const err = refusalFromNative(refused) as Error
      // Closed natively (JS hears it with the next batch): take nothing new meanwhile.
      if (err instanceof ConnectionClosedError && this.#state === 'open') this.#state = 'closing'
      this.#failExchange(ex, err)
      return
    }
    ex.id = id
    ex.holder = this
    // observability: the connection that carries it; diagnostics' sendHeaders
    ex.conn = this.#record ?? this.#recorded()
    ex.reused = this.#served++ !== 0
    if (ex.diag !== null) traceSend(ex, ex.conn, head)
    this.#exchanges.set(id, ex)
    if (streamed) {
      ex.uploadDone = false
      void this.#pump(ex, body as Streamed)
    }
  }

  /** The request head as the addon takes it: method, target, names and values, NUL-joined. */
  #wireHead (ex: Exchange, streamed: boolean): string {
    const body = ex.body
    let headers = ex.headers
    let target = ex.path
    let host = ''
    let extra = ''
    if (this.#http2) {
      // HTTP/2 carries scheme and authority as pseudo-headers (taken by hyper from an absolute
      // URI) and no Host header. The authority was validated: it cannot rewrite the path.
      let authority = this.#hostHeader
      if (ex.hostIndex !== -1) {
        authority = headers[ex.hostIndex + 1]!
        headers = headers.slice(0, ex.hostIndex).concat(headers.slice(ex.hostIndex + 2))
      }
      if (target[0] === '/' || target === '*') target = `${this.#secure ? 'https' : 'http'}://${authority}${target === '*' ? '' : target}`
      if (body instanceof Uint8Array && ex.declaredLength === -1) extra = '\0content-length\0' + body.byteLength
    } else {
      if (ex.hostIndex === -1) host = this.#hostHeader
      if (!ex.framed) {
        if (body instanceof Uint8Array) {
          extra = '\0Content-Length\0' + body.byteLength
        } else if (streamed) {
          // hyper sends an unknown-length body as chunked, except for GET, HEAD and CONNECT,
          // where it would drop it silently: say chunked explicitly there.
          if (methodIn(DROPS_UNFRAMED_BODY, ex.method)) extra = '\0Transfer-Encoding\0chunked'
        } else if (wantsEmptyLength(ex.method)) {
          extra = '\0Content-Length\0' + '0'
        }
      }
      if (ex.announceKeepAlive) extra += '\0connection\0keep-alive'
      if (this.#absolute !== '') {
        // Through a forward proxy: the absolute form, and the proxy's headers.
        if (target[0] === '/' || target === '*') target = this.#absolute + (target === '*' ? '' : target)
        extra += this.#proxyExtra
      }
    }
    if (ex.continueMs && !ex.hasExpect) extra += '\0Expect\x00100-continue'
    let head = ex.method + '\0' + target
    if (host) head += '\0Host\0' + host
    if (headers.length) head += '\0' + headers.join('\0')
    return head + extra
  }

  /** Feeds a streamed request body to the addon, waiting for drain events (backpressure). */
  async #pump (ex: Exchange, source: Streamed): Promise<void> {
    const id = ex.id
    let total = 0
    try {
      for await (const chunk of source as AsyncIterable<unknown>) {
        if (ex.uploadDone) return
        const bytes = chunkBytes(chunk)
        if (!bytes) throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'body', `request body chunks must be strings or binary, got ${typeof chunk}`)
        if (bytes.byteLength === 0) continue
        total += bytes.byteLength
        if (ex.declaredLength !== -1 && total > ex.declaredLength) throw lengthMismatch(ex.declaredLength, total, 'more')
        const r = this.#native.write(id, bytes)
        if (r < 0) return
        if (r === 0) await new Promise<void>((resolve) => { ex.drain = resolve })
      }
      if (ex.uploadDone) return
      if (ex.declaredLength !== -1 && total !== ex.declaredLength) throw lengthMismatch(ex.declaredLength, total, 'only')
      ex.uploadDone = true
      this.#native.end(id)
    } catch (err) {
      if (ex.uploadDone || this.#exchanges.get(id) !== ex) return
      ex.uploadDone = true
      // The body failed (the user's stream threw, or it broke its declared length): abort the
      // request (HTTP/1: hyper fails the connection; HTTP/2: the stream is reset), nothing
      // half-sent is left to look complete.
      this.#native.failUpload(id)
      this.#exchanges.delete(id)
      const e = err instanceof RequestBodyError ? err
        : new RequestBodyError('ERR_REQUEST_BODY', `the request body stream failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
      this.#settle(ex, e)
    }
  }

  // ---- ExchangeHolder: what faces and pools ask of an exchange on this connection ----

  /** @internal */
  cancelExchange (ex: Exchange, reason: unknown, err?: Error): void {
    if (this.#exchanges.get(ex.id) !== ex) return
    // Queued: it just leaves. On the wire: HTTP/2 resets its stream; HTTP/1 closes the
    // connection (an exchange cannot be abandoned midway): it takes nothing new from now on.
    if (!this.#native.abort(ex.id) && this.#state === 'open') this.#state = 'closing'
    this.#exchanges.delete(ex.id)
    this.#settle(ex, err ?? new AbortError(reason))
  }

  /** @internal */
  readExchange (ex: Exchange): void {
    if (this.#exchanges.get(ex.id) === ex) this.#native.read(ex.id)
  }

  /** @internal */
  dumpExchange (ex: Exchange, limit: number): void {
    if (this.#exchanges.get(ex.id) === ex) this.#native.dump(ex.id, limit)
  }

  /** @internal */
  collectExchange (ex: Exchange, dest: Uint8Array): boolean {
    return this.#exchanges.get(ex.id) === ex && this.#native.collect(ex.id, dest)
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
  [kOnEvent] (meta: Float64Array, at: number, text: string, objects: unknown[]): void {
    const id = meta[at + Slot.Id]!
    // An Err tuple, when the event carries one.
    const payload = meta[at + Slot.Object]! >= 0 ? objects[meta[at + Slot.Object]!] : undefined
    switch (meta[at + Slot.Kind]) {
      case Event.Response: {
        const ex = this.#exchanges.get(id)
        if (!ex) return
        const head = new ResponseHead(meta, at, text, objects)
        if (head.keepAlive >= 0) this.keepAliveHint = head.keepAlive
        if (head.close) this.reusable = false
        ex.responded = true
        ex.sentAt = meta[at + Slot.SentAt]!
        ex.headAt = meta[at + Slot.HeadAt]!
        if (ex.diag !== null) traceHead(ex, head)
        if (head.ended) {
          // Complete on arrival: the exchange is over before its face even sees it. It ended
          // when the addon parsed the head (body and end came in the same drive): that stamp
          // serves, without reading the clock again.
          this.#exchanges.delete(id)
          this.#over(ex, fromHr(ex.headAt))
          if (ex.diag !== null) traceEnd(ex)
        }
        ex.onHead(head)
        return
      }
      case Event.Data: {
        const ex = this.#exchanges.get(id)
        if (ex) ex.onData(bodyOf(meta, at, text, objects)!)
        return
      }
      case Event.End: {
        const ex = this.#exchanges.get(id)
        if (!ex) return
        this.#exchanges.delete(id)
        this.#over(ex)
        if (ex.diag !== null) traceEnd(ex)
        ex.onEnd()
        return
      }
      case Event.RequestError: {
        const ex = this.#exchanges.get(id)
        if (!ex) return
        this.#exchanges.delete(id)
        this.#failExchange(ex, this.#error(payload as NativeErrorInfo))
        return
      }
      case Event.Drain: {
        const ex = this.#exchanges.get(id)
        if (ex?.drain) {
          const d = ex.drain
          ex.drain = null
          d()
        }
        return
      }
      case Event.Informational: {
        const ex = this.#exchanges.get(id)
        if (!ex) return
        const info = new ResponseHead(meta, at, text, objects)
        const rawHeaders = splitRawHeaders(info.rawHeaders)
        ex.onInformational({ status: info.status, statusText: info.reason, rawHeaders, headers: headersFromRaw(rawHeaders) })
        return
      }
      case Event.Connected: {
        // (Through a proxy, TLS to the proxy alone does not make an http: target's connection secure.)
        const t = this.#secure ? this.#native.tlsInfo() : undefined
        if (t) {
          this.#tls = tlsInfoFromNative(t)
          this.#http2 = t[Tls.Http2]
        }
        if (this.#state === 'connecting') this.#state = this.#closed ? 'closing' : 'open'
        if (this.#connect) {
          this.#connect.resolve(this)
          this.#connect = null
        }
        return
      }
      case Event.ConnectError:
        if (this.#connect) {
          this.#connect.reject(this.#connectFailure(payload as NativeErrorInfo, this.#connect))
          this.#connect = null
        }
        return
      case Event.Draining:
        if (this.#state === 'open') this.#state = 'closing'
        this[kHooks].draining?.()
        return
      case Event.Closed: {
        this.#state = 'closed'
        const err = payload ? this.#error(payload as NativeErrorInfo) : new ConnectionClosedError('ERR_CONNECTION_CLOSED', 'the connection was closed')
        if (this.#connect) {
          this.#connect.reject(err)
          this.#connect = null
        }
        const left = this.#exchanges.values()
        this.#exchanges.clear()
        for (const ex of left) this.#failExchange(ex, err)
        this.#closedResolve?.()
        this.#closedResolve = null
        if (!this.#closed) this.#closed = Promise.resolve()
        this[kHooks].closed?.(err)
      }
    }
  }

  /** The exchange is over here: detached from this connection; its scheduler hears of it. */
  #over (ex: Exchange, at?: number): void {
    ex.finish(at)
    ex.scheduler?.exchangeDone(ex)
  }

  /** Fails an exchange that left this connection, unless its scheduler retries it elsewhere. */
  #failExchange (ex: Exchange, err: Error): void {
    ex.holder = null
    if (!ex.responded && ex.scheduler?.retryExchange(ex, err)) return
    this.#settle(ex, err)
  }

  #settle (ex: Exchange, err: Error): void {
    this.#over(ex)
    ex.onError(err)
  }

  #error (info: NativeErrorInfo): HyperError {
    const err = errorFromNative(info)
    if (err.code === 'ERR_DESTROYED' && this.#destroyCause) {
      Object.defineProperty(err, 'cause', { value: this.#destroyCause, configurable: true, writable: true })
    }
    return err
  }
}

/** undici's `connectParams` for a connect to `t` (diagnostics). */
function connectParams (t: ResolvedTarget, options: ConnectOptions): ConnectParams {
  const defaultPort = t.secure ? 443 : 80
  const port = t.port && t.port !== defaultPort ? String(t.port) : ''
  const hostname = t.hostname || t.hostHeader.replace(/:\d+$/, '')
  const hostPart = net.isIPv6(hostname) ? `[${hostname}]` : hostname
  return {
    host: port ? `${hostPart}:${port}` : hostPart,
    hostname,
    protocol: t.secure ? 'https:' : 'http:',
    port,
    version: undefined,
    servername: t.secure ? (options.tls?.servername ?? (net.isIP(hostname) ? '' : hostname)) : null,
    localAddress: options.localAddress ?? null,
  }
}

function lengthMismatch (declared: number, seen: number, word: 'more' | 'only'): RequestBodyError {
  return new RequestBodyError('ERR_HTTP_CONTENT_LENGTH_MISMATCH', `the request body has ${word} ${seen} bytes but content-length is ${declared}`)
}
