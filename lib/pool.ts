/**
 * Pool: keep-alive connections to one origin. HTTP/1.1 requests go to a free connection or wait
 * in a bounded FIFO queue; over HTTP/2 (h2c with `http2: true`, or TLS where ALPN selects h2)
 * they are multiplexed over one connection. Idle
 * connections close after `keepAliveTimeout` (or the server's `Keep-Alive: timeout=` hint, if
 * shorter); connections the server closed are dropped before reuse; a request that failed
 * before any byte was written is retried on a fresh connection, and idempotent ones (with a
 * fixed body) up to `retries` times after that.
 */
import { ClientConn, ClientResponse, kCancel, kHooks, type ConnectOptions, type RequestOptions } from './client-conn.js'
import { AbortError, ConnectionClosedError, HyperError, InvalidArgumentError } from './errors.js'
import { validateHttp2 } from './validate.js'
import { DedicatedConnections, kDedicated, type TunnelOptions, type UpgradeOptions, type UpgradedConnection } from './upgrade.js'

export interface PoolOptions extends Omit<ConnectOptions, 'signal' | 'host'> {
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
  /** Requests in flight. */
  running: number
  /** pending + running. */
  size: number
}

interface Item {
  options: RequestOptions
  resolve: (r: ClientResponse) => void
  reject: (e: Error) => void
  retriesLeft: number
  staleRetried: boolean
  /** Removes the item from the queue when its signal aborts while it waits for a connection. */
  onAbort: (() => void) | null
}

interface Slot {
  conn: ClientConn
  running: number
  idleTimer: NodeJS.Timeout | null
  keepAlive: number
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])

function positiveInt (name: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', name, `${name} must be a non-negative integer`)
  return v
}

export class Pool {
  /** The origin, e.g. `http://127.0.0.1:8080`. */
  readonly origin: string
  #options: PoolOptions
  #max: number
  #keepAlive: number
  #keepAliveMax: number
  #maxQueue: number
  #retries: number
  #slots = new Set<Slot>()
  #connecting = 0
  #queue: Item[] = []
  #closing: Promise<void> | null = null
  #destroyed = false
  #learnProtocol: boolean
  #protocol: '1.1' | '2' | null = null
  #dedicated: DedicatedConnections | null = null

  constructor (origin: string | URL, options: PoolOptions = {}) {
    let url: URL
    try {
      url = new URL(String(origin))
    } catch {
      throw new InvalidArgumentError('ERR_INVALID_URL', 'origin', `invalid origin: ${String(origin)}`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('ERR_INVALID_URL_SCHEME', 'origin', `unsupported origin scheme ${url.protocol}`)
    validateHttp2(options.http2)
    // Over TLS with 'auto' the protocol is known after the first handshake: until then one
    // connection at a time, so an h2 server is not sent a burst of parallel handshakes.
    this.#learnProtocol = url.protocol === 'https:' && options.http2 !== false && options.http2 !== true
    if (options.pipelining !== undefined && options.pipelining !== 1) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'pipelining', 'only pipelining: 1 is supported (hyper does not pipeline HTTP/1.1)')
    }
    this.origin = url.origin
    this.#options = options
    this.#max = options.http2 === true ? 1 : positiveInt('connections', options.connections, 128) || 1
    this.#keepAlive = positiveInt('keepAliveTimeout', options.keepAliveTimeout, 4000)
    this.#keepAliveMax = positiveInt('keepAliveMaxTimeout', options.keepAliveMaxTimeout, 600_000)
    this.#maxQueue = positiveInt('maxQueue', options.maxQueue, 10_000)
    this.#retries = positiveInt('retries', options.retries, 1)
  }

  /** Current counters. */
  get stats (): PoolStats {
    let free = 0
    let running = 0
    for (const s of this.#slots) {
      if (s.running === 0) free++
      running += s.running
    }
    return { connected: this.#slots.size, free, pending: this.#queue.length, running, size: this.#queue.length + running }
  }

  /** True once `close()` or `destroy()` was called. */
  get closed (): boolean {
    return this.#closing !== null || this.#destroyed
  }

  /** Sends a request on a pooled connection. `options` are those of {@link ClientConn.request}. */
  request (options: RequestOptions = {}): Promise<ClientResponse> {
    if (this.closed) return Promise.reject(new ConnectionClosedError('ERR_CLOSED', 'the pool is closed'))
    if (this.#queue.length >= this.#maxQueue) {
      return Promise.reject(new HyperError('ERR_POOL_QUEUE_FULL', `more than ${this.#maxQueue} requests are waiting for a connection`))
    }
    const method = (options.method ?? 'GET').toUpperCase()
    const body = options.body
    const replayable = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array ||
      body instanceof ArrayBuffer || ArrayBuffer.isView(body)
    const signal = options.signal
    if (signal?.aborted) return Promise.reject(new AbortError(signal.reason))
    return new Promise((resolve, reject) => {
      const item: Item = {
        options, resolve, reject, staleRetried: !replayable, onAbort: null,
        retriesLeft: IDEMPOTENT.has(method) && replayable ? this.#retries : 0,
      }
      if (signal instanceof AbortSignal) {
        // While queued, an abort removes the request at once (on a connection, ClientConn handles it).
        item.onAbort = () => this.#abandonQueued(item, signal.reason)
        signal.addEventListener('abort', item.onAbort, { once: true })
      }
      this.#cancelWhileQueued(item)
      this.#queue.push(item)
      this.#dispatch()
    })
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

  /** The adapter's internal cancel handle, while the item waits here (the connection takes it over). */
  #cancelWhileQueued (item: Item): void {
    const handle = item.options[kCancel]
    if (!handle) return
    handle.cancel = (reason) => this.#abandonQueued(item, reason)
  }

  /** An item still waiting in the queue was aborted: it leaves the queue and rejects. */
  #abandonQueued (item: Item, reason: unknown): void {
    const i = this.#queue.indexOf(item)
    if (i === -1) return
    this.#queue.splice(i, 1)
    this.#unqueued(item).reject(new AbortError(reason))
    this.#maybeClosed()
  }

  #unqueued (item: Item): Item {
    if (item.onAbort) {
      item.options.signal?.removeEventListener('abort', item.onAbort)
      item.onAbort = null
    }
    return item
  }

  #dispatch (): void {
    while (this.#queue.length > 0) {
      const slot = this.#freeSlot()
      if (!slot) break
      this.#run(slot, this.#unqueued(this.#queue.shift()!))
    }
    const limit = this.#protocol === '2' || (this.#learnProtocol && this.#protocol === null) ? 1 : this.#max
    const wanted = Math.min(this.#queue.length, limit - this.#slots.size - this.#connecting)
    for (let i = 0; i < wanted; i++) this.#open()
  }

  #freeSlot (): Slot | undefined {
    for (const s of this.#slots) {
      if (s.conn.closed) {
        this.#drop(s)
        continue
      }
      if (s.conn.protocol === '2' || s.running === 0) return s
    }
    return undefined
  }

  #open (): void {
    this.#connecting++
    const { keepAliveTimeout: _k, keepAliveMaxTimeout: _m, connections: _c, pipelining: _p, maxQueue: _q, retries: _r, tls, ...rest } = this.#options
    // TLS options apply to https: origins only (an Agent shares one option set across schemes).
    const connectOptions = this.origin.startsWith('https:') ? { ...rest, tls } : rest
    ClientConn.connect(this.origin, connectOptions).then((conn) => {
      this.#connecting--
      if (this.closed) {
        void conn.close()
        return
      }
      this.#protocol ??= conn.protocol
      const slot: Slot = { conn, running: 0, idleTimer: null, keepAlive: this.#keepAlive }
      conn[kHooks].idle = () => this.#onIdle(slot)
      conn[kHooks].closed = () => { this.#drop(slot); this.#dispatch() }
      this.#slots.add(slot)
      this.#onIdle(slot)
    }, (err: Error) => {
      this.#connecting--
      // Nothing to connect to: the oldest waiting request gets the error.
      const item = this.#queue.shift()
      if (item) this.#unqueued(item).reject(err)
      this.#dispatch()
    })
  }

  #run (slot: Slot, item: Item): void {
    if (slot.idleTimer) {
      clearTimeout(slot.idleTimer)
      slot.idleTimer = null
    }
    slot.running++
    slot.conn.request(item.options).then((res) => {
      slot.running--
      const hint = /timeout=(\d+)/i.exec(String(res.headers['keep-alive'] ?? ''))
      if (hint) slot.keepAlive = Math.min(this.#keepAlive, Math.max(0, Number(hint[1]) * 1000 - 1000), this.#keepAliveMax)
      if (/\bclose\b/i.test(String(res.headers.connection ?? ''))) slot.keepAlive = 0
      item.resolve(res)
      // The connection's idle hook may have run before this: re-check (a complete-on-arrival
      // response leaves the connection free already).
      this.#onIdle(slot)
    }, (err: HyperError) => {
      slot.running--
      if (slot.conn.closed) this.#drop(slot)
      // Nothing of the request was written (a connection the server had closed, hyper's
      // "operation was canceled" on a finished connection, ...): sending it elsewhere is safe.
      const notSent = err instanceof HyperError && err.requestSent === false && err.code !== 'ABORT_ERR' && !err.code.endsWith('_TIMEOUT')
      if (notSent && !item.staleRetried && !this.closed) {
        // The server closed a reused connection before it read a byte: safe to send elsewhere.
        item.staleRetried = true
        this.#cancelWhileQueued(item)
        this.#queue.unshift(item)
      } else if (err.requestSent && item.retriesLeft > 0 && !this.closed && err.code !== 'ABORT_ERR' && !err.code?.endsWith('_TIMEOUT')) {
        item.retriesLeft--
        this.#cancelWhileQueued(item)
        this.#queue.unshift(item)
      } else {
        item.reject(err)
      }
      this.#dispatch()
    })
  }

  #onIdle (slot: Slot): void {
    if (!this.#slots.has(slot)) return
    if (slot.conn.closed) {
      this.#drop(slot)
    } else if (slot.running === 0 && slot.conn.pending === 0) {
      if (this.#closing || slot.keepAlive === 0) {
        this.#drop(slot)
        void slot.conn.close()
      } else if (!slot.idleTimer) {
        slot.idleTimer = setTimeout(() => {
          slot.idleTimer = null
          this.#drop(slot)
          void slot.conn.close()
        }, slot.keepAlive).unref()
      }
    }
    this.#dispatch()
    this.#maybeClosed()
  }

  #drop (slot: Slot): void {
    if (slot.idleTimer) clearTimeout(slot.idleTimer)
    slot.idleTimer = null
    this.#slots.delete(slot)
  }

  #closedResolve: (() => void) | null = null

  #maybeClosed (): void {
    if (this.#closing && this.#queue.length === 0 && this.stats.running === 0 && this.#connecting === 0) {
      const conns = [...this.#slots]
      this.#slots.clear()
      void Promise.all(conns.map((s) => { if (s.idleTimer) clearTimeout(s.idleTimer); return s.conn.close() })).then(() => this.#closedResolve?.())
    }
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
    for (const item of this.#queue.splice(0)) this.#unqueued(item).reject(e)
    for (const s of this.#slots) {
      if (s.idleTimer) clearTimeout(s.idleTimer)
      s.conn.destroy(err)
    }
    this.#slots.clear()
  }
}
