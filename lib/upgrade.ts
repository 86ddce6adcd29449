/**
 * Upgrades (101 Switching Protocols, e.g. WebSocket) and CONNECT tunnels.
 *
 * hyper's C API cannot hand a connection over once hyper has started speaking HTTP on it (there
 * is no `hyper_upgrade` in the FFI), so these requests never touch hyper: each runs on a
 * dedicated connection of its own, opened here with Node's `net`/`tls` modules (honouring
 * node-hyper's connect options: `lookup`, `family`, `autoSelectFamily` (Node's own happy
 * eyeballs), `localAddress`, TCP keep-alive, `noDelay`, `socketPath`, `connectTimeout`,
 * `headersTimeout`, TLS options, and `proxy`: through a forward proxy the connection is always a
 * CONNECT tunnel, for `http:` targets too), and the HTTP/1.1 exchange is done by Node's own
 * `http` client on that socket. When the server switches protocols (101) or opens the tunnel,
 * the socket is the caller's.
 *
 * These connections are never pooled: a Pool neither counts nor reuses them.
 */
import * as http from 'node:http'
import * as net from 'node:net'
import * as tls from 'node:tls'
import type { ConnectOptions } from './client-conn.js'
import { endpoint, lookupCandidates } from './connect.js'
import type { InformationalResponse } from './exchange.js'
import { AbortError, ConnectionClosedError, HyperError, InvalidArgumentError, ProtocolError, ProxyError, SocketError, TimeoutError, TlsError, UpgradeError } from './errors.js'
import { authorityOf, resolveProxy, type ProxyConfig } from './proxy.js'
import { headersFromRaw, type IncomingHeaders } from './headers.js'
import { nodeSecureContextFor, type TlsOptions } from './tls.js'
import { flattenHeaders, hasHeader, validateHeaderValue, validateMethod, validatePath, type HeadersInput } from './validate.js'

/** Options of `upgrade()` (on a Pool, an Agent, or the top-level function). */
export interface UpgradeOptions {
  /** Request target (origin form, default `/`). */
  path?: string
  /** Method (default `GET`; `CONNECT` goes through `connect()`). */
  method?: string
  /** Request headers. `Connection` and `Upgrade` are set by node-hyper (see `protocol`). */
  headers?: HeadersInput
  /** The protocol to switch to: the `Upgrade` header (default `websocket`). */
  protocol?: string
  /** Abort until the upgrade completed (afterwards the socket is yours: destroy it). */
  signal?: AbortSignal
  /** ms from sending the request to the response head (default: the pool's `headersTimeout`, else 300,000; 0 = none). */
  headersTimeout?: number
  /** Called for each 1xx response other than the 101 (e.g. 103 Early Hints). */
  onInformational?: (res: InformationalResponse) => void
}

/** Options of `connect()`: a CONNECT request to the pool's origin (a proxy). */
export interface TunnelOptions {
  /** The tunnel's destination in authority form: `host:port` (`[v6]:port` for IPv6). */
  path: string
  /** Request headers (e.g. `Proxy-Authorization`). `Host` defaults to `path`. */
  headers?: HeadersInput
  /** Abort until the tunnel is open (afterwards the socket is yours: destroy it). */
  signal?: AbortSignal
  /** ms from sending the request to the response head (default: the pool's `headersTimeout`, else 300,000; 0 = none). */
  headersTimeout?: number
}

/**
 * A connection handed over by the server: after a 101 for `upgrade()`, after a 2xx for
 * `connect()`. The socket speaks the new protocol (or carries the tunnel) and belongs to you.
 */
export interface UpgradedConnection {
  /** 101 for an upgrade; the 2xx status for a tunnel. */
  statusCode: number
  /** The reason phrase. */
  statusText: string
  /** Headers keyed by lower-cased name (Node's rules, as `ClientResponse.headers`). */
  headers: IncomingHeaders
  /** Headers as received: `[name, value, ...]` in wire case and order. */
  rawHeaders: string[]
  /**
   * The connection: a `net.Socket`, or a `tls.TLSSocket` for `https:` origins. Nothing else
   * listens on it: attach your `'error'` listener, and `destroy()`/`end()` it when done.
   */
  socket: net.Socket
  /**
   * Bytes the server sent after the response head, read before the hand-over (the first frames
   * of the new protocol, or of the tunnel): process them before what the socket delivers next.
   * Empty most of the time. They are not pushed back into `socket` (as with Node's
   * `'upgrade'`/`'connect'` events).
   */
  head: Buffer
}

/** The connect options a dedicated connection honours (those of `ConnectOptions` that apply, plus a Unix socket path). */
export type DedicatedConnectOptions = Pick<ConnectOptions, 'lookup' | 'family' | 'connectTimeout' | 'headersTimeout' | 'bodyTimeout' | 'tls' |
  'autoSelectFamily' | 'autoSelectFamilyAttemptTimeout' | 'localAddress' | 'keepAlive' | 'keepAliveInitialDelay' | 'noDelay' | 'socketPath' | 'proxy'> & {
  host?: string
}

/** @internal one request on a dedicated connection, validated. */
export interface DedicatedRequest {
  method: string
  path: string
  /** Flat `[name, value, ...]`, validated; Host is added when absent. */
  headers: string[]
  /** The `Upgrade` value for an upgrade request, null for CONNECT. */
  upgrade: string | null
  /** Host header value when `headers` has none. */
  host?: string
  headersTimeout?: number
  signal?: AbortSignal
  onInformational?: (res: InformationalResponse) => void
}

/** @internal what the server answered. */
export type DedicatedOutcome =
  | { kind: 'switched', statusCode: number, statusText: string, rawHeaders: string[], socket: net.Socket, head: Buffer }
  /** An upgrade request answered without switching: the response, its body still to read. */
  | { kind: 'response', statusCode: number, statusText: string, rawHeaders: string[], response: http.IncomingMessage, socket: net.Socket }

const noop = (): void => {}

function timeoutOption (name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', name, `${name} must be a non-negative number of milliseconds`)
  }
  return v
}

interface Target {
  secure: boolean
  hostname: string
  port: number
  hostHeader: string
  socketPath: string
}

function resolveOrigin (origin: string | URL, options: DedicatedConnectOptions): Target {
  let url: URL
  try {
    url = new URL(String(origin))
  } catch {
    throw new InvalidArgumentError('ERR_INVALID_URL', 'origin', `invalid origin: ${String(origin)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('ERR_INVALID_URL_SCHEME', 'origin', `unsupported origin scheme ${url.protocol}`)
  const secure = url.protocol === 'https:'
  const socketPath = options.socketPath ?? ''
  if (typeof socketPath !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'socketPath', 'socketPath must be a string')
  return {
    secure,
    hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port ? Number(url.port) : secure ? 443 : 80,
    hostHeader: options.host ?? url.host,
    socketPath,
  }
}

type NodeError = NodeJS.ErrnoException & { address?: string, port?: number }

/** Node's TLS options for the target (SNI and the verified name: `servername`, else the host; no SNI for IP literals). */
function targetTls (t: Target, options: DedicatedConnectOptions, setup: { secureContext: tls.SecureContext, rejectUnauthorized: boolean }): tls.ConnectionOptions {
  const tlsOptions: TlsOptions = options.tls ?? {}
  const verifyHost = tlsOptions.servername ?? (t.socketPath ? t.hostHeader.replace(/:\d+$/, '').replace(/^\[|\]$/g, '') : t.hostname)
  return http1Tls(setup, verifyHost)
}

/** Node's TLS options for an https: proxy. */
function proxyTls (proxy: ProxyConfig): tls.ConnectionOptions {
  const tlsOptions: TlsOptions = proxy.tls ?? {}
  return http1Tls(nodeSecureContextFor(tlsOptions), tlsOptions.servername ?? proxy.hostname)
}

/**
 * Node's TLS options for a dedicated connection verified against `verifyHost` (SNI only for names,
 * not IP literals). It speaks HTTP/1.1: 101 and CONNECT tunnels are HTTP/1.1 only.
 */
function http1Tls (setup: { secureContext: tls.SecureContext, rejectUnauthorized: boolean }, verifyHost: string): tls.ConnectionOptions {
  return {
    secureContext: setup.secureContext,
    rejectUnauthorized: setup.rejectUnauthorized,
    ...(net.isIP(verifyHost) ? {} : { servername: verifyHost }),
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(verifyHost, cert),
    ALPNProtocols: ['http/1.1'],
  }
}

/** A socket error while connecting (TCP, TLS handshake) as node-hyper's classes. */
function connectError (err: NodeError, where: string): HyperError {
  const code = err.code ?? 'ERR_CONNECT'
  if (err.syscall || /^E[A-Z]+$/.test(code)) {
    const opts = { cause: err, requestSent: false, ...(err.errno !== undefined ? { errno: err.errno } : {}), ...(err.syscall ? { syscall: err.syscall } : {}) }
    const e = new SocketError(code, `${err.syscall ?? 'connect'} ${code} ${where}`, opts)
    if (err.address !== undefined) e.address = err.address
    if (err.port !== undefined) e.port = err.port
    return e
  }
  // Certificate verification (Node's codes: DEPTH_ZERO_SELF_SIGNED_CERT, ERR_TLS_CERT_ALTNAME_INVALID,
  // ...) and OpenSSL failures (ERR_SSL_*), as on node-hyper's own TLS.
  return new TlsError(code, err.message, { cause: err, requestSent: false })
}

/** An error of Node's http client (after the connection was made) as node-hyper's classes. */
function exchangeError (err: NodeError): HyperError {
  const code = err.code ?? ''
  if (code === 'ECONNRESET' && !err.syscall) {
    // Node's "socket hang up": the server closed before a response head.
    return new ConnectionClosedError('ERR_CONNECTION_CLOSED', 'the server closed the connection before sending a response head', { cause: err, requestSent: true })
  }
  if (code.startsWith('HPE_')) {
    // Node's parser (llhttp) refused the response: the same code as a malformed message on hyper's path.
    return new ProtocolError('HYPER_INVALID_PEER_MESSAGE', `invalid response head: ${err.message}`, { cause: err, requestSent: true })
  }
  if (err.syscall) {
    return new SocketError(code, `${err.syscall} ${code}`, { cause: err, requestSent: true, syscall: err.syscall, ...(err.errno !== undefined ? { errno: err.errno } : {}) })
  }
  return new HyperError(code || 'ERR_UPGRADE', err.message, { cause: err, requestSent: true })
}

/**
 * @internal
 * One request on a dedicated connection: DNS, connect (TCP or Unix, then TLS offering
 * `http/1.1` only), Node's http client for the exchange. Settles once: with the hand-over, the
 * non-switching response (upgrade requests), or an error (the socket is then destroyed).
 */
export class DedicatedExchange {
  readonly promise: Promise<DedicatedOutcome>
  #resolve!: (o: DedicatedOutcome) => void
  #reject!: (e: Error) => void
  #settled = false
  #socket: net.Socket | null = null
  #req: http.ClientRequest | null = null
  #timer: NodeJS.Timeout | null = null
  #signal: AbortSignal | undefined
  #onAbort: (() => void) | null = null
  /** Our 'error' listeners on the sockets of this exchange (removed at the hand-over). */
  #listeners: [net.Socket, (err: NodeError) => void][] = []

  constructor (target: Target, options: DedicatedConnectOptions, request: DedicatedRequest) {
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    // Nobody may be listening yet (the dispatcher adapter attaches later): no unhandled rejection.
    this.promise.catch(() => {})
    const signal = request.signal
    if (signal?.aborted) {
      this.fail(new AbortError(signal.reason))
      return
    }
    if (signal) {
      this.#signal = signal
      this.#onAbort = () => this.fail(new AbortError(signal.reason))
      signal.addEventListener('abort', this.#onAbort, { once: true })
    }
    void this.#run(target, options, request)
  }

  /** True once settled (handed over, answered, or failed). */
  get settled (): boolean {
    return this.#settled
  }

  /** Fails the exchange with `err` (abort, destroy) unless it settled; the connection is destroyed. */
  fail (err: Error): void {
    if (this.#settled) return
    // Every socket of this exchange: the target's, or the proxy's and the TLS one inside its tunnel.
    const sockets = new Set(this.#listeners.map(([socket]) => socket))
    if (this.#socket) sockets.add(this.#socket)
    this.#finish()
    this.#req?.destroy()
    for (const socket of sockets) {
      socket.destroy()
      socket.on('error', noop)  // whatever was already on its way
    }
    this.#reject(err)
  }

  #finish (): void {
    this.#settled = true
    for (const [socket, listener] of this.#listeners) socket.removeListener('error', listener)
    this.#listeners = []
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    if (this.#onAbort) this.#signal?.removeEventListener('abort', this.#onAbort)
    this.#onAbort = null
  }

  #arm (ms: number, code: string, message: string): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = ms > 0 ? setTimeout(() => this.fail(new TimeoutError(code, message)), ms) : null
  }

  async #run (t: Target, options: DedicatedConnectOptions, request: DedicatedRequest): Promise<void> {
    let connectMs: number
    let headersMs: number
    let tlsSetup: { secureContext: tls.SecureContext, rejectUnauthorized: boolean } | undefined
    let proxy: ProxyConfig | null
    try {
      connectMs = timeoutOption('connectTimeout', options.connectTimeout, 10_000)
      headersMs = timeoutOption('headersTimeout', request.headersTimeout ?? options.headersTimeout, 300_000)
      if (t.secure) tlsSetup = nodeSecureContextFor(options.tls ?? {})
      proxy = t.socketPath ? null : resolveProxy(options.proxy, t)
    } catch (err) {
      this.fail(err as Error)
      return
    }
    // Until the exchange starts, socket errors are connect errors; then the exchange's (Node's
    // http client reports them too once it has the socket; the first report wins).
    let phase: 'connect' | 'exchange' = 'connect'
    let where = t.socketPath
    const watch = (socket: net.Socket): void => {
      this.#socket = socket
      const listener = (err: NodeError): void => this.fail(phase === 'connect' ? connectError(err, where) : exchangeError(err))
      socket.on('error', listener)
      this.#listeners.push([socket, listener])
    }
    let socket: net.Socket
    try {
      // The first hop: the target, or the proxy.
      let hop: net.NetConnectOpts
      if (t.socketPath) {
        hop = { path: t.socketPath }
      } else {
        const host = proxy ? proxy.hostname : t.hostname
        const port = proxy ? proxy.port : t.port
        const candidates = await lookupCandidates(host, options)
        if (this.#settled) return
        where = candidates.length > 1 ? `${host}:${port}` : endpoint(candidates[0]!.address, candidates[0]!.family, port)
        if (proxy) where += ` (proxy ${proxy.origin})`
        const autoSelect = options.autoSelectFamily !== false && candidates.length > 1
        hop = {
          host: candidates[0]!.address,
          port,
          // Node's own happy eyeballs over the addresses looked up already.
          ...(autoSelect
            ? {
                host,
                autoSelectFamily: true,
                ...(options.autoSelectFamilyAttemptTimeout !== undefined ? { autoSelectFamilyAttemptTimeout: Math.max(10, options.autoSelectFamilyAttemptTimeout) } : {}),
                lookup: (_h: string, _o: unknown, cb: (...args: unknown[]) => void) => cb(null, candidates),
              }
            : {}),
          ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
          keepAlive: options.keepAlive ?? true,
          keepAliveInitialDelay: options.keepAliveInitialDelay ?? 60_000,
          noDelay: options.noDelay ?? true,
        } as net.NetConnectOpts
      }
      this.#arm(connectMs, 'ERR_CONNECT_TIMEOUT', `connect timeout after ${connectMs} ms (${where})`)
      if (proxy) {
        socket = await this.#ready(proxy.secure ? tls.connect({ ...hop, ...proxyTls(proxy) } as tls.ConnectionOptions) : net.connect(hop), proxy.secure, watch)
        if (this.#settled) return
        socket = await this.#tunnel(socket, proxy, t, where)
        if (this.#settled) return
        if (tlsSetup) socket = await this.#ready(tls.connect({ socket, ...targetTls(t, options, tlsSetup) }), true, watch)
      } else {
        socket = await this.#ready(tlsSetup ? tls.connect({ ...hop, ...targetTls(t, options, tlsSetup) } as tls.ConnectionOptions) : net.connect(hop), !!tlsSetup, watch)
      }
    } catch (err) {
      this.fail(err as Error)
      return
    }
    if (this.#settled) return
    phase = 'exchange'
    if (options.noDelay ?? true) socket.setNoDelay(true)
    this.#exchange(socket, request, headersMs, t)
  }

  /** Resolves once `socket` connected (and its TLS handshake completed when `secure`). */
  #ready (socket: net.Socket, secure: boolean, watch: (s: net.Socket) => void): Promise<net.Socket> {
    watch(socket)
    return new Promise((resolve) => socket.once(secure ? 'secureConnect' : 'connect', () => resolve(socket)))
  }

  /** Opens a CONNECT tunnel to the target on a connection to the proxy. */
  #tunnel (socket: net.Socket, proxy: ProxyConfig, t: Target, where: string): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const authority = authorityOf(t)
      let req: http.ClientRequest
      try {
        req = http.request({ method: 'CONNECT', path: authority, headers: ['Host', authority, ...proxy.headers], createConnection: () => socket })
      } catch (err) {
        reject(err)
        return
      }
      this.#req = req
      req.on('error', (err: NodeError) => reject(connectError(err, where)))
      req.on('connect', (res: http.IncomingMessage, s: net.Socket, head: Buffer) => {
        this.#req = null
        const status = res.statusCode ?? 0
        if (status < 200 || status >= 300) {
          const text = `${status} ${res.statusMessage ?? ''}`.trim()
          reject(new ProxyError('ERR_PROXY_REJECTED', `the proxy refused the tunnel to ${authority}: ${text} (proxy ${proxy.origin})`, proxy.origin,
            status, res.statusMessage ?? '', res.rawHeaders, { requestSent: false }))
          return
        }
        if (head.length > 0) s.unshift(head)
        resolve(s)
      })
      req.end()
    })
  }

  #exchange (socket: net.Socket, r: DedicatedRequest, headersMs: number, t: Target): void {
    const headers = hasHeader(r.headers, 'host') ? [...r.headers] : ['Host', r.host ?? t.hostHeader, ...r.headers]
    if (r.upgrade !== null) headers.push('Connection', 'Upgrade', 'Upgrade', r.upgrade)
    let req: http.ClientRequest
    try {
      req = http.request({ method: r.method, path: r.path, headers, createConnection: () => socket })
    } catch (err) {
      this.fail(err as Error)
      return
    }
    this.#req = req
    this.#arm(headersMs, 'ERR_HEADERS_TIMEOUT', `no response head within ${headersMs} ms`)
    req.on('error', (err: NodeError) => this.fail(exchangeError(err)))
    const switched = (res: http.IncomingMessage, s: net.Socket, head: Buffer): void => {
      if (this.#settled) {
        s.destroy()
        return
      }
      this.#finish()
      this.#resolve({ kind: 'switched', statusCode: res.statusCode!, statusText: res.statusMessage ?? '', rawHeaders: res.rawHeaders, socket: s, head })
    }
    req.on('upgrade', switched)
    req.on('connect', switched)
    req.on('response', (res) => {
      // Whoever reads the body attaches its own listener; an unread body destroyed with the
      // socket must not become an uncaught 'error'.
      res.on('error', noop)
      if (this.#settled) {
        res.destroy()
        return
      }
      this.#finish()
      this.#resolve({ kind: 'response', statusCode: res.statusCode!, statusText: res.statusMessage ?? '', rawHeaders: res.rawHeaders, response: res, socket })
    })
    if (r.onInformational) {
      const cb = r.onInformational
      req.on('information', (info) => {
        if (this.#settled) return
        try {
          cb({ status: info.statusCode, statusText: info.statusMessage, rawHeaders: info.rawHeaders, headers: headersFromRaw(info.rawHeaders) })
        } catch (err) {
          this.fail(new HyperError('ERR_CALLBACK', `onInformational threw: ${(err as Error)?.message ?? String(err)}`, { cause: err }))
        }
      })
    }
    req.end()
  }
}

// An authority-form target (RFC 9112 3.2.3): host:port, with an IPv6 literal in brackets.
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[^\s/?#@[\]:]+):\d{1,5}$/

/** Validates the `connect()` destination. @internal */
export function validateTunnelTarget (v: unknown): string {
  if (typeof v !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'path', 'path must be a string: the tunnel destination as host:port')
  if (!AUTHORITY.test(v) || Number(v.slice(v.lastIndexOf(':') + 1)) > 65535) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'path', `path must be the tunnel destination as host:port (authority form), got ${JSON.stringify(v)}`)
  }
  return v
}

function checkObject (options: unknown): void {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'options', 'options must be an object')
}

function checkSignal (signal: unknown): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'signal', 'signal must be an AbortSignal')
}

/** User headers, without the hop-by-hop fields node-hyper sets itself. */
function userHeaders (input: HeadersInput | undefined, reserved: readonly string[]): string[] {
  const headers = flattenHeaders(input)
  for (let i = 0; i < headers.length; i += 2) {
    const lower = headers[i]!.toLowerCase()
    if (reserved.includes(lower)) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', `headers.${headers[i]!}`, `the ${lower} header is set by node-hyper${lower === 'upgrade' ? ' (use the protocol option)' : ''}`)
    }
  }
  return headers
}

/** The fixed part of the dedicated connections of one origin (a Pool has one). @internal */
export class DedicatedConnections {
  readonly #target: Target | Error
  readonly #options: DedicatedConnectOptions
  readonly #inFlight = new Set<DedicatedExchange>()
  #idle: (() => void)[] = []

  constructor (origin: string | URL, options: DedicatedConnectOptions) {
    // TLS options apply to https: origins only (an Agent shares one option set across schemes).
    this.#options = options
    let target: Target | Error
    try {
      target = resolveOrigin(origin, options)
    } catch (err) {
      target = err as Error
    }
    this.#target = target
  }

  /** The idle timeout for the body of an answer that did not switch (ms; the pool's `bodyTimeout`, default 300,000). */
  get bodyTimeout (): number {
    return timeoutOption('bodyTimeout', this.#options.bodyTimeout, 300_000)
  }

  /** Handshakes in flight (before the hand-over or the answer). */
  get pending (): number {
    return this.#inFlight.size
  }

  /** Starts `request` on a new dedicated connection. Throws for an invalid origin. */
  open (request: DedicatedRequest): DedicatedExchange {
    if (this.#target instanceof Error) throw this.#target
    const x = new DedicatedExchange(this.#target, this.#options, request)
    if (!x.settled) {
      this.#inFlight.add(x)
      const done = (): void => {
        this.#inFlight.delete(x)
        if (this.#inFlight.size === 0) for (const f of this.#idle.splice(0)) f()
      }
      x.promise.then(done, done)
    }
    return x
  }

  /** Sends an upgrade request; resolves with the connection once the server answered 101. */
  async upgrade (options: UpgradeOptions = {}): Promise<UpgradedConnection> {
    checkObject(options)
    const method = options.method === undefined ? 'GET' : validateMethod(options.method)
    if (method.toUpperCase() === 'CONNECT') throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'method', 'CONNECT goes through connect(), not upgrade()')
    const path = options.path === undefined ? '/' : validatePath(options.path)
    const protocol = options.protocol === undefined ? 'websocket' : validateHeaderValue('upgrade', options.protocol)
    if (protocol.trim() === '') throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'protocol', 'protocol must not be empty')
    checkSignal(options.signal)
    if (options.onInformational !== undefined && typeof options.onInformational !== 'function') {
      throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'onInformational', 'onInformational must be a function')
    }
    const request: DedicatedRequest = { method, path, headers: userHeaders(options.headers, ['connection', 'upgrade']), upgrade: protocol }
    if (options.signal) request.signal = options.signal
    if (options.headersTimeout !== undefined) request.headersTimeout = timeoutOption('headersTimeout', options.headersTimeout, 0)
    if (options.onInformational) request.onInformational = options.onInformational
    const out = await this.open(request).promise
    if (out.kind === 'switched') return handOver(out)
    out.socket.destroy()
    const { statusCode, statusText, rawHeaders } = out
    if (statusCode === 101) {
      throw new UpgradeError('ERR_BAD_UPGRADE', 'the server answered 101 without the Upgrade and Connection: upgrade fields of a protocol switch', statusCode, statusText, rawHeaders)
    }
    throw new UpgradeError('ERR_UPGRADE_REJECTED', `the server did not switch protocols: ${statusCode} ${statusText}`.trim(), statusCode, statusText, rawHeaders)
  }

  /** Sends a CONNECT request; resolves with the tunnel once the server answered 2xx. */
  async connect (options: TunnelOptions): Promise<UpgradedConnection> {
    checkObject(options)
    const path = validateTunnelTarget(options.path)
    checkSignal(options.signal)
    const request: DedicatedRequest = { method: 'CONNECT', path, headers: userHeaders(options.headers, ['connection', 'upgrade']), upgrade: null, host: path }
    if (options.signal) request.signal = options.signal
    if (options.headersTimeout !== undefined) request.headersTimeout = timeoutOption('headersTimeout', options.headersTimeout, 0)
    const out = await this.open(request).promise
    // Node's client reports every answer to CONNECT as a hand-over (as undici does).
    const { statusCode, statusText, rawHeaders } = out
    if (out.kind === 'switched' && statusCode >= 200 && statusCode < 300) return handOver(out)
    out.socket.destroy()
    throw new UpgradeError('ERR_CONNECT_REJECTED', `the proxy refused the tunnel to ${path}: ${statusCode} ${statusText}`.trim(), statusCode, statusText, rawHeaders)
  }

  /** Resolves once no handshake is in flight (established connections are not waited for: they are the caller's). */
  close (): Promise<void> {
    if (this.#inFlight.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idle.push(resolve))
  }

  /** Fails every handshake in flight with `ERR_DESTROYED` (`cause`: `err`); established connections are not touched. */
  destroy (err?: Error): void {
    const e = new ConnectionClosedError('ERR_DESTROYED', err ? `destroyed before the upgrade completed: ${err.message}` : 'destroyed before the upgrade completed', { cause: err })
    for (const x of [...this.#inFlight]) x.fail(e)
  }
}

function handOver (out: Extract<DedicatedOutcome, { kind: 'switched' }>): UpgradedConnection {
  return {
    statusCode: out.statusCode,
    statusText: out.statusText,
    headers: headersFromRaw(out.rawHeaders),
    rawHeaders: out.rawHeaders,
    socket: out.socket,
    head: out.head,
  }
}

/** @internal Symbol of a Pool's {@link DedicatedConnections} (used by the undici adapter). */
export const kDedicated = Symbol('dedicated')
