/**
 * Pool: keep-alive connections to one origin. HTTP/1.1 requests go to a free connection or wait
 * in a bounded FIFO queue; over HTTP/2 (h2c with `http2: true`, or TLS where ALPN selects h2)
 * they are multiplexed over one connection. Idle connections close after `keepAliveTimeout` (or
 * the server's `Keep-Alive: timeout=` hint, if shorter); connections the server closed are
 * dropped before reuse; a request that failed before any byte was written is retried on a fresh
 * connection, and idempotent ones (with a fixed body) up to `retries` times after that.
 *
 * The Pool schedules exchanges (exchange.ts), not promises: `request()` and HyperDispatcher
 * share this one queue, retry policy and idle list.
 */
import { EventEmitter } from 'node:events'
import { ClientConn, kAccepting, kDispatch, kHooks, validateConnectOptions, type ConnectOptions } from './client-conn.js'
import { prepareRequest, type Exchange, type ExchangeHolder, type RequestOptions, type Scheduler } from './exchange.js'
import { ClientResponse, ResponseExchange } from './response.js'
import { AbortError, ConnectionClosedError, HyperError, InvalidArgumentError, isRetryable } from './errors.js'
import { methodIn, validateCount, validateTimeout } from './validate.js'
import { DedicatedConnections, kDedicated, type TunnelOptions, type UpgradeOptions, type UpgradedConnection } from './upgrade.js'
import { pinProxy } from './proxy.js'
import { requestTraced, traceRequest } from './diagnostics.js'
import { now } from './timings.js'

export interface PoolOptions extends Omit<ConnectOptions, 'signal'> {
  /** Most connections to open (HTTP/1.1; default 128). Over HTTP/2 one connection is used. */
  connections?: number
  /** Requests per HTTP/1.1 connection at a time: only 1 (hyper does not pipeline). */
  pipelining?: 1
  /** Close a connection idle this long (ms, default 4,000). */
  keepAliveTimeout?: number
  /** Upper bound for a server's `Keep-Alive: timeout=` hint (ms, default 600,000). */
  keepAliveMaxTimeout?: number
  /** Requests that may wait for a connection; more reject with `ERR_POOL_QUEUE_FULL` (default 10,000). */
  maxQueue?: number
  /** Retries of an idempotent request that failed after it was (partly) sent (default 1). */
  retries?: number
}

/** Counters like undici's `PoolStats`. */
export interface PoolStats {
  /** Open connections. */
  connected: number
  /** Open connections with nothing in flight. */
  free: number
  /** Requests waiting for a connection. */
  pending: number
  /** Requests waiting in the pool's queue: the same as `pending` (node-hyper queues only in the pool). */
  queued: number
  /** Requests in flight. */
  running: number
  /** pending + running. */
  size: number
}

/**
 * A Pool's events, with undici's arguments: `origin` is the pool's origin as a URL, `targets`
 * the emitters from the outside in (here the pool, then the connection; an Agent puts itself
 * first, a HyperDispatcher puts itself in the Agent's place).
 */
export interface PoolEvents {
  /** A connection was opened (connected, TLS and hyper's handshake done). */
  connect: [origin: URL, targets: [Pool, ClientConn]]
  /** An open connection closed: by the server, an error, idle timeout, or `close()`. */
  disconnect: [origin: URL, targets: [Pool, ClientConn], err: Error]
  /** A connection could not be opened (`targets` holds only the pool: no connection came to be). */
  connectionError: [origin: URL, targets: [Pool], err: Error]
  /**
   * The pool was busy (a dispatch returned false: every connection taken, the limit reached) and
   * has caught up with its queue (`targets` ends with the connection that took the last waiting
   * request; only the pool when aborts emptied the queue).
   */
  drain: [origin: URL, targets: [Pool, ClientConn] | [Pool]]
}

interface Slot {
  conn: ClientConn
  running: number
  /** performance.now() when it went idle; -1 while in use (or not in the idle list). */
  idleSince: number
  keepAlive: number
  /** In the pool's #slots (a flag, not a Set lookup per request). */
  live: boolean
}

/** @internal what an Agent hears from its pools. */
export const kPoolHooks = Symbol('poolHooks')

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])
const POOL_OPTIONS = ['keepAliveTimeout', 'keepAliveMaxTimeout', 'connections', 'pipelining', 'maxQueue', 'retries'] as const
// After EMFILE/ENFILE, how long to serve from the connections there are before trying to open more.
const FD_BACKOFF_MS = 1000

interface PoolConfig {
  connect: ConnectOptions
  max: number
  keepAlive: number
  keepAliveMax: number
  maxQueue: number
  retries: number
}

/** @internal Validates Pool options (Agent checks them at construction too). */
export function poolConfig (options: PoolOptions, https: boolean): PoolConfig {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'options', 'options must be an object')
  const { tls, ...rest } = options
  const connect: Record<string, unknown> = { ...rest }
  for (const k of POOL_OPTIONS) delete connect[k]
  if (connect.signal !== undefined) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'signal', 'signal is a per-request option (RequestOptions.signal), not a Pool option')
  validateConnectOptions({ ...connect, tls } as ConnectOptions)
  // TLS options apply to https: origins only (an Agent shares one option set across schemes).
  if (https && tls !== undefined) connect.tls = tls
  if (options.pipelining !== undefined && options.pipelining !== 1) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'pipelining', 'only pipelining: 1 is supported (hyper does not pipeline HTTP/1.1)')
  }
  return {
    connect: connect as ConnectOptions,
    max: options.http2 === true ? 1 : validateCount('connections', options.connections, 128) || 1,
    keepAlive: options.keepAliveTimeout === undefined ? 4000 : validateTimeout('keepAliveTimeout', options.keepAliveTimeout),
    keepAliveMax: options.keepAliveMaxTimeout === undefined ? 600_000 : validateTimeout('keepAliveMaxTimeout', options.keepAliveMaxTimeout),
    maxQueue: validateCount('maxQueue', options.maxQueue, 10_000),
    retries: validateCount('retries', options.retries, 1),
  }
}

export class Pool extends EventEmitter<PoolEvents> implements ExchangeHolder, Scheduler {
  /** The origin, e.g. `http://127.0.0.1:8080`. */
  readonly origin: string
  /** The origin as a URL (the first argument of the pool's events). */
  #url: URL
  /** A dispatch found the pool saturated and said so: 'drain' is owed once the queue is served. */
  #needDrain = false
  #connectOptions: ConnectOptions
  #max: number
  #keepAlive: number
  #keepAliveMax: number
  #maxQueue: number
  #retries: number
  #slots = new Set<Slot>()
  /** HTTP/1.1 slots with nothing running, most recently used last (reused first). */
  #idle: Slot[] = []
  #connecting = 0
  /** FIFO of waiting exchanges; #head is the first live index (shift() is O(n)). */
  #queue: (Exchange | null)[] = []
  #head = 0
  #closing: Promise<void> | null = null
  #closedResolve: (() => void) | null = null
  #destroyed = false
  #learnProtocol: boolean
  #protocol: '1.1' | '2' | null = null
  #sweeper: NodeJS.Timeout | null = null
  #fdCap = Infinity
  #options: PoolOptions
  #dedicated: DedicatedConnections | null = null;
  /** @internal */
  [kPoolHooks]: { empty?: () => void } = {}

  constructor (origin: string | URL, options: PoolOptions = {}) {
    let url: URL
    try {
      url = new URL(String(origin))
    } catch {
      throw new InvalidArgumentError('ERR_INVALID_URL', 'origin', `invalid origin: ${String(origin)}`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('ERR_INVALID_URL_SCHEME', 'origin', `unsupported origin scheme ${url.protocol}`)
    super()
    this.#url = new URL(url.origin)
    const config = poolConfig(options, url.protocol === 'https:')
    // proxy: 'env' is decided once per pool (the environment's proxy for this origin, or none).
    const proxy = pinProxy(config.connect.proxy, url, config.connect.socketPath)
    if (proxy !== config.connect.proxy) options = { ...options, proxy: config.connect.proxy = proxy }
    // Over TLS with 'auto' the protocol is known after the first handshake: until then one
    // connection at a time, so an h2 server is not sent a burst of parallel handshakes.
    this.#learnProtocol = url.protocol === 'https:' && options.http2 !== false && options.http2 !== true
    this.origin = url.origin
    this.#options = options
    this.#connectOptions = config.connect
    this.#max = config.max
    this.#keepAlive = config.keepAlive
    this.#keepAliveMax = config.keepAliveMax
    this.#maxQueue = config.maxQueue
    this.#retries = config.retries
  }

  /** Current counters. */
  get stats (): PoolStats {
    let free = 0
    let running = 0
    for (const s of this.#slots) {
      if (s.running === 0) free++
      running += s.running
    }
    const pending = this.#queued()
    return { connected: this.#slots.size, free, pending, queued: pending, running, size: pending + running }
  }

  /** True once `close()` or `destroy()` was called. */
  get closed (): boolean {
    return this.#closing !== null || this.#destroyed
  }

  /** Sends a request on a pooled connection. `options` are those of {@link ClientConn.request}. */
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
    this[kDispatch](ex)
    return ex.takePromise()
  }

  /**
   * Sends an upgrade request (`Connection: Upgrade`, `Upgrade: <protocol>`) and resolves with the
   * connection once the server answers 101 Switching Protocols: `{ statusCode, statusText,
   * headers, rawHeaders, socket, head }`. hyper cannot hand a connection over, so this runs on a
   * dedicated HTTP/1.1 connection of its own (Node's `net`/`tls` and `http` client, with this
   * pool's connect and TLS options; ALPN offers `http/1.1` only). That connection is not pooled
   * and not counted in {@link Pool.stats}; once resolved, the socket is yours.
   *
   * Rejects with an `UpgradeError` (`ERR_UPGRADE_REJECTED`, with `statusCode`) when the server
   * answers anything but 101, and with the usual errors otherwise (`ERR_CONNECT_TIMEOUT`,
   * `ERR_HEADERS_TIMEOUT`, `ABORT_ERR`, `ECONNREFUSED`, TLS codes, ...).
   * @example
   * const { socket, head } = await pool.upgrade({ path: '/chat', protocol: 'websocket', headers: { 'sec-websocket-key': key, 'sec-websocket-version': '13' } })
   */
  upgrade (options: UpgradeOptions = {}): Promise<UpgradedConnection> {
    if (this.closed) return Promise.reject(new ConnectionClosedError('ERR_CLOSED', 'the pool is closed'))
    return this[kDedicated]().upgrade(options)
  }

  /**
   * Opens a tunnel through this pool's origin (an HTTP proxy) with `CONNECT <path>` and resolves
   * with it once the proxy answers 2xx: `{ statusCode, headers, rawHeaders, socket, head }`. Runs
   * on a dedicated connection like {@link Pool.upgrade}. Rejects with an `UpgradeError`
   * (`ERR_CONNECT_REJECTED`, with `statusCode`) for any other answer (e.g. 407).
   * @example
   * const { socket } = await proxyPool.connect({ path: 'example.com:443', headers: { 'proxy-authorization': auth } })
   */
  connect (options: TunnelOptions): Promise<UpgradedConnection> {
    if (this.closed) return Promise.reject(new ConnectionClosedError('ERR_CLOSED', 'the pool is closed'))
    return this[kDedicated]().connect(options)
  }

  /** @internal The dedicated (never pooled) connections of upgrades and CONNECT tunnels. */
  [kDedicated] (): DedicatedConnections {
    return (this.#dedicated ??= new DedicatedConnections(this.origin, this.#options))
  }

  /**
   * @internal Schedules a prepared exchange (the core entry both faces use). false: the pool is
   * saturated (the request waits in the queue and no more connections may be opened); 'drain'
   * follows once the queue is served (undici's dispatch contract).
   */
  [kDispatch] (ex: Exchange): boolean {
    // observability: its start, and its diagnostics message when someone subscribes
    ex.startedAt = now()
    if (requestTraced()) traceRequest(ex, this.origin)
    if (this.closed) {
      ex.fail(new ConnectionClosedError('ERR_CLOSED', 'the pool is closed'))
      return true
    }
    if (this.#queued() >= this.#maxQueue) {
      ex.fail(new HyperError('ERR_POOL_QUEUE_FULL', `more than ${this.#maxQueue} requests are waiting for a connection`))
      this.#needDrain = true
      return false
    }
    ex.scheduler = this
    ex.retriesLeft = ex.replayable && methodIn(IDEMPOTENT, ex.method) ? this.#retries : 0
    ex.staleRetried = !ex.replayable
    if (this.#queued() === 0) {
      const slot = this.#freeSlot()
      if (slot) {
        this.#run(slot, ex)
        return true
      }
    }
    this.#enqueue(ex, false)
    this.#dispatch()
    // Saturated: requests wait and no further connection may be opened.
    if (this.#queued() > 0 && this.#slots.size + this.#connecting >= this.#limit()) this.#needDrain = true
    return !this.#needDrain
  }

  #queued (): number {
    return this.#queue.length - this.#head
  }

  #enqueue (ex: Exchange, front: boolean): void {
    ex.holder = this
    if (front && this.#head > 0) this.#queue[--this.#head] = ex
    else if (front) this.#queue.unshift(ex)
    else this.#queue.push(ex)
  }

  #dequeue (): Exchange | undefined {
    while (this.#head < this.#queue.length) {
      const ex = this.#queue[this.#head]
      this.#queue[this.#head++] = null
      if (this.#head === this.#queue.length) {
        this.#queue.length = 0
        this.#head = 0
      } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head)
        this.#head = 0
      }
      if (ex) return ex
    }
    return undefined
  }

  // ---- ExchangeHolder (while queued) and Scheduler (once on a connection) ----

  /** @internal A queued exchange was aborted: it leaves the queue at once. */
  cancelExchange (ex: Exchange, reason: unknown, err?: Error): void {
    const i = this.#queue.indexOf(ex, this.#head)
    if (i === -1) return
    this.#queue.splice(i, 1)
    ex.fail(err ?? new AbortError(reason))
    if (this.#needDrain && this.#queued() === 0) this.#drained(null)
    this.#maybeClosed()
  }

  /** @internal */
  retryExchange (ex: Exchange, err: Error): boolean {
    if (this.closed || !isRetryable(err)) return false
    const sent = (err as HyperError).requestSent !== false
    if (!sent && !ex.staleRetried) {
      // Nothing of it was written (a connection the server had closed, an HTTP/2 GOAWAY):
      // sending it elsewhere is safe, whatever the method.
      ex.staleRetried = true
    } else if (sent && ex.retriesLeft > 0) {
      ex.retriesLeft--
    } else {
      return false
    }
    this.#release(ex)
    this.#enqueue(ex, true)
    this.#dispatch()
    return true
  }

  /** @internal */
  exchangeDone (ex: Exchange): void {
    this.#release(ex)
    this.#maybeClosed()
  }

  #release (ex: Exchange): void {
    const slot = ex.slot as Slot | null
    if (!slot) return
    ex.slot = null
    slot.running--
    if (slot.running === 0) this.#slotIdle(slot, ex.endAt)
    else if (this.#queued() > 0) this.#dispatch() // HTTP/2: a stream is free
  }

  #freeSlot (): Slot | undefined {
    if (this.#protocol === '2') {
      for (const s of this.#slots) {
        if (s.conn[kAccepting] && s.running < (this.#connectOptions.maxConcurrentStreams ?? 100)) return s
      }
      return undefined
    }
    let slot: Slot | undefined
    while ((slot = this.#idle.pop()) !== undefined) {
      slot.idleSince = -1
      if (slot.conn[kAccepting]) return slot
      this.#drop(slot)
    }
    return undefined
  }

  #run (slot: Slot, ex: Exchange): void {
    slot.running++
    ex.slot = slot
    slot.conn[kDispatch](ex)
    if (this.#needDrain && this.#queued() === 0) this.#drained(slot.conn)
  }

  /** The queue a saturated dispatch waited on has been served: 'drain' (emitted on a microtask, outside the scheduling code). */
  #drained (conn: ClientConn | null): void {
    this.#needDrain = false
    queueMicrotask(() => this.emit('drain', this.#url, conn ? [this, conn] : [this]))
  }

  /** Most connections to have open now. */
  #limit (): number {
    return this.#protocol === '2' || (this.#learnProtocol && this.#protocol === null) ? 1 : Math.min(this.#max, this.#fdCap)
  }

  #dispatch (): void {
    while (this.#queued() > 0) {
      const slot = this.#freeSlot()
      if (!slot) break
      const ex = this.#dequeue()
      if (!ex) break
      this.#run(slot, ex)
    }
    // Open at most as many connections as requests wait for one (N concurrent requests to a
    // fresh origin open N, not N²).
    const limit = this.#limit()
    const wanted = Math.min(this.#queued() - this.#connecting, limit - this.#slots.size - this.#connecting)
    for (let i = 0; i < wanted; i++) this.#open()
  }

  #open (): void {
    this.#connecting++
    ClientConn.connect(this.origin, this.#connectOptions).then((conn) => {
      this.#connecting--
      if (this.closed) {
        void conn.close()
        this.#maybeClosed()
        return
      }
      this.#protocol ??= conn.protocol
      const slot: Slot = { conn, running: 0, idleSince: -1, keepAlive: this.#keepAlive, live: true }
      conn[kHooks].closed = (err) => {
        this.#gone(slot)
        this.emit('disconnect', this.#url, [this, conn], err)
      }
      conn[kHooks].draining = () => this.#gone(slot)
      this.#slots.add(slot)
      this.emit('connect', this.#url, [this, conn])
      this.#slotIdle(slot)
    }, (err: Error) => {
      this.#connecting--
      this.emit('connectionError', this.#url, [this], err)
      const code = (err as HyperError).code
      if ((code === 'EMFILE' || code === 'ENFILE') && this.#slots.size + this.#connecting > 0) {
        // Out of file descriptors: serve the queue on the connections there are (or are being
        // opened), and try to open more a little later (or when one of them closes).
        this.#fdCap = this.#slots.size + this.#connecting
        setTimeout(() => { this.#fdCap = Infinity; this.#dispatch() }, FD_BACKOFF_MS).unref()
        return
      }
      // Nothing to connect to: the oldest waiting request gets the error.
      const ex = this.#dequeue()
      if (ex) ex.fail(err)
      this.#dispatch()
      this.#maybeClosed()
    })
  }

  /**
   * A connection with nothing running: reuse it for the queue, or park it (keep-alive). `at`:
   * when its last exchange ended, if it did (0: now).
   */
  #slotIdle (slot: Slot, at = 0): void {
    if (!slot.live) return
    const conn = slot.conn
    if (!conn[kAccepting] || !conn.reusable || this.#closing) {
      this.#drop(slot)
      void conn.close()
      this.#dispatch()
      this.#maybeClosed()
      return
    }
    if (this.#queued() > 0) {
      const ex = this.#dequeue()!
      this.#run(slot, ex)
      if (this.#protocol === '2') this.#dispatch()
      return
    }
    const hint = conn.keepAliveHint
    slot.keepAlive = hint >= 0 ? Math.min(this.#keepAlive, Math.max(0, hint - 1000), this.#keepAliveMax) : this.#keepAlive
    if (slot.keepAlive === 0) {
      this.#drop(slot)
      void conn.close()
      return
    }
    slot.idleSince = at > 0 ? at : performance.now()
    if (this.#protocol !== '2') this.#idle.push(slot)
    this.#armSweeper()
  }

  /** One timer for every idle connection: it closes those idle past their keep-alive. */
  #armSweeper (): void {
    if (this.#sweeper) return
    let next = Infinity
    for (const s of this.#slots) {
      if (s.idleSince >= 0 && s.running === 0) next = Math.min(next, s.idleSince + s.keepAlive)
    }
    if (next === Infinity) return
    this.#sweeper = setTimeout(() => {
      this.#sweeper = null
      const now = performance.now()
      for (const s of [...this.#slots]) {
        if (s.idleSince >= 0 && s.running === 0 && s.idleSince + s.keepAlive <= now + 1) {
          this.#drop(s)
          void s.conn.close()
        }
      }
      this.#armSweeper()
    }, Math.max(1, next - performance.now())).unref()
  }

  /** The connection closed or stopped taking requests: forget it; what waits goes elsewhere. */
  #gone (slot: Slot): void {
    if (!slot.live) return
    this.#drop(slot)
    if (slot.running === 0) void slot.conn.close()
    this.#fdCap = Infinity
    this.#dispatch()
    this.#maybeClosed()
  }

  #drop (slot: Slot): void {
    slot.idleSince = -1
    slot.live = false
    this.#slots.delete(slot)
    const i = this.#idle.indexOf(slot)
    if (i !== -1) this.#idle.splice(i, 1)
    if (this.#slots.size === 0 && this.#queued() === 0 && this.#connecting === 0 && !this.closed) this[kPoolHooks].empty?.()
  }

  #maybeClosed (): void {
    if (!this.#closing || this.#queued() > 0 || this.#connecting > 0) return
    for (const s of this.#slots) if (s.running > 0) return
    const conns = [...this.#slots].map((s) => s.conn)
    for (const s of this.#slots) s.live = false
    this.#slots.clear()
    this.#idle.length = 0
    if (this.#sweeper) clearTimeout(this.#sweeper)
    this.#sweeper = null
    void Promise.all(conns.map((c) => c.close())).then(() => this.#closedResolve?.())
  }

  /**
   * Graceful: queued and in-flight requests finish, then every connection closes. Upgrades and
   * tunnels still waiting for their answer finish too; connections already handed over are the
   * caller's and stay open.
   */
  close (): Promise<void> {
    if (!this.#closing) {
      const pooled = new Promise<void>((resolve) => { this.#closedResolve = resolve })
      const dedicated = this.#dedicated?.close()
      this.#closing = dedicated ? Promise.all([pooled, dedicated]).then(() => {}) : pooled
      this.#maybeClosed()
    }
    return this.#closing
  }

  /**
   * Fails every queued request with `err` (or `ERR_DESTROYED`) and destroys every connection,
   * and every upgrade or tunnel still waiting for its answer. Connections already handed over
   * are the caller's and are not touched.
   */
  destroy (err?: Error): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.#dedicated?.destroy(err)
    const e = new ConnectionClosedError('ERR_DESTROYED', err ? `the pool was destroyed: ${err.message}` : 'the pool was destroyed', { cause: err })
    let ex: Exchange | undefined
    while ((ex = this.#dequeue()) !== undefined) ex.fail(e)
    if (this.#sweeper) clearTimeout(this.#sweeper)
    this.#sweeper = null
    for (const s of this.#slots) {
      s.conn.destroy(err)
      s.live = false
    }
    this.#slots.clear()
    this.#idle.length = 0
  }
}
