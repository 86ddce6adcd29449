/**
 * Agent: one {@link Pool} per origin, created on demand and dropped again once it has no
 * connection and nothing queued; and `request(url)`, a top-level helper on a default Agent.
 */
import { EventEmitter } from 'node:events'
import { Pool, kPoolHooks, poolConfig, type PoolOptions, type PoolStats } from './pool.js'
import { kDispatch, type ClientConn } from './client-conn.js'
import { prepareRequest, type Exchange, type RequestOptions } from './exchange.js'
import { ClientResponse, ResponseExchange } from './response.js'
import { AbortError, ConnectionClosedError, HyperError, InvalidArgumentError } from './errors.js'
import type { TunnelOptions, UpgradeOptions, UpgradedConnection } from './upgrade.js'

export interface AgentOptions extends PoolOptions {
  /** Most origins with a pool at once; a request to another origin rejects with `ERR_MAX_ORIGINS` (default unlimited). */
  maxOrigins?: number
}

/** Options of {@link Agent.request}: a request's, and the Unix socket to reach its origin through. */
export interface AgentRequestOptions extends RequestOptions {
  /**
   * Send this request over this Unix domain socket (the URL still names the origin: `Host`, TLS
   * name). Pools are kept per socket path and origin. Default: the Agent's `socketPath`, if any.
   */
  socketPath?: string
}

/** How many origin strings (as given, e.g. with a trailing slash) are remembered per pool. */
const ALIASES_PER_POOL = 8

/** An Agent's events: its pools' ({@link PoolEvents}), with the Agent first in `targets` (as undici's Agent). */
export interface AgentEvents {
  connect: [origin: URL, targets: [Agent, Pool, ClientConn]]
  disconnect: [origin: URL, targets: [Agent, Pool, ClientConn], err: Error]
  connectionError: [origin: URL, targets: [Agent, Pool], err: Error]
  drain: [origin: URL, targets: [Agent, Pool, ClientConn] | [Agent, Pool]]
}

export class Agent extends EventEmitter<AgentEvents> {
  #options: PoolOptions
  #maxOrigins: number
  #pools = new Map<string, Pool>()
  // Origin strings as given -> pool: the per-request path looks the string up before parsing it.
  #aliases = new Map<string, Pool>()
  #aliasesOf = new Map<Pool, string[]>()
  #closed = false

  constructor (options: AgentOptions = {}) {
    super()
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'options', 'options must be an object')
    const { maxOrigins, ...poolOptions } = options
    if (maxOrigins !== undefined && (typeof maxOrigins !== 'number' || !(maxOrigins > 0))) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'maxOrigins', 'maxOrigins must be a positive number')
    }
    // Checked now, not when the first pool is made (a bad option must not surface inside one).
    poolConfig(poolOptions, true)
    this.#options = poolOptions
    this.#maxOrigins = maxOrigins ?? Infinity
  }

  /**
   * The pool for `origin` (created on first use); with `socketPath`, the pool that reaches
   * `origin` over that Unix socket (pools are keyed by socket path and origin).
   */
  pool (origin: string | URL, socketPath?: string): Pool {
    return this.#pool(origin, socketPath, undefined)
  }

  /**
   * The pool for `origin`, over `socketPath`, with `servername` as the TLS name (SNI and the
   * verified name) of an https: origin: pools are kept per socket path, server name and origin.
   */
  #pool (origin: string | URL, socketPath: string | undefined, servername: string | undefined): Pool {
    if (socketPath !== undefined && (typeof socketPath !== 'string' || socketPath.length === 0)) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'socketPath', 'socketPath must be a non-empty string')
    }
    if (servername !== undefined && (typeof servername !== 'string' || servername.length === 0)) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'servername', 'servername must be a non-empty string')
    }
    const plain = socketPath === undefined && servername === undefined
    const given = typeof origin === 'string' && plain ? this.#aliases.get(origin) : undefined
    if (given) return given
    let url: URL
    try {
      url = new URL(String(origin))
    } catch {
      throw new InvalidArgumentError('ERR_INVALID_URL', 'origin', `invalid origin: ${String(origin)}`)
    }
    const base = url.origin
    let key = base
    let options = this.#options
    // The Agent's own socketPath, if any, is part of every pool's options: only a per-request one keys.
    if (socketPath !== undefined && socketPath !== this.#options.socketPath) {
      key = `${socketPath}\0${key}`
      options = { ...options, socketPath }
    }
    // A per-request TLS name (undici's `servername`, e.g. from its dns interceptor) other than
    // the one the origin would get: a pool of its own.
    if (servername !== undefined && url.protocol === 'https:') {
      const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
      if (servername !== (this.#options.tls?.servername ?? hostname)) {
        key = `\u0001${servername}\0${key}`
        options = { ...options, tls: { ...options.tls, servername } }
      }
    }
    let pool = this.#pools.get(key)
    if (!pool) {
      if (this.#pools.size >= this.#maxOrigins) throw new HyperError('ERR_MAX_ORIGINS', `more than ${this.#maxOrigins} origins`)
      const created = new Pool(base, options)
      created[kPoolHooks].empty = () => this.#forget(key, created)
      // undici's events, the Agent first in `targets`.
      created.on('connect', (o, t) => this.emit('connect', o, [this, ...t]))
      created.on('disconnect', (o, t, err) => this.emit('disconnect', o, [this, ...t], err))
      created.on('connectionError', (o, t, err) => this.emit('connectionError', o, [this, ...t], err))
      created.on('drain', (o, t) => this.emit('drain', o, [this, ...t] as AgentEvents['drain'][1]))
      this.#pools.set(key, created)
      this.#aliasesOf.set(created, [])
      pool = created
    }
    const aliases = this.#aliasesOf.get(pool)!
    if (typeof origin === 'string' && plain && aliases.length < ALIASES_PER_POOL) {
      aliases.push(origin)
      this.#aliases.set(origin, pool)
    }
    return pool
  }

  /** A pool with no connection and nothing queued is dropped (a new one is made on demand). */
  #forget (key: string, pool: Pool): void {
    if (this.#pools.get(key) !== pool) return
    this.#pools.delete(key)
    for (const a of this.#aliasesOf.get(pool) ?? []) this.#aliases.delete(a)
    this.#aliasesOf.delete(pool)
  }

  /** Sends `options` to `url`'s origin; `path` defaults to the URL's path and query. */
  request (url: string | URL, options: AgentRequestOptions = {}): Promise<ClientResponse> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError('ERR_CLOSED', 'the agent is closed'))
    const ex = new ResponseExchange(options)
    try {
      let u: URL
      try {
        u = new URL(String(url))
      } catch {
        throw new InvalidArgumentError('ERR_INVALID_URL', 'url', `invalid URL: ${String(url)}`)
      }
      if (options === null || typeof options !== 'object') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'options', 'request options must be an object')
      prepareRequest(ex, options.path === undefined ? { ...options, path: u.pathname + u.search } : options)
      const signal = options.signal
      if (signal?.aborted) return Promise.reject(new AbortError(signal.reason))
      const pool = this.pool(u, options.socketPath)
      if (signal) ex.listen(signal)
      pool[kDispatch](ex)
    } catch (err) {
      return Promise.reject(err)
    }
    return ex.takePromise()
  }

  /**
   * Upgrades a request to `url` (`http:`/`https:`, or `ws:`/`wss:` for the same) on a dedicated
   * connection: see {@link Pool.upgrade}. `path` defaults to the URL's path and query.
   */
  upgrade (url: string | URL, options: UpgradeOptions = {}): Promise<UpgradedConnection> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError('ERR_CLOSED', 'the agent is closed'))
    let u: URL
    let pool: Pool
    try {
      u = new URL(String(url))
      if (u.protocol === 'ws:' || u.protocol === 'wss:') u = new URL(`${u.protocol === 'ws:' ? 'http:' : 'https:'}${u.href.slice(u.protocol.length)}`)
    } catch {
      return Promise.reject(new InvalidArgumentError('ERR_INVALID_URL', 'url', `invalid URL: ${String(url)}`))
    }
    try {
      pool = this.pool(u)
    } catch (err) {
      return Promise.reject(err)
    }
    return pool.upgrade({ ...options, path: options.path ?? (u.pathname + u.search) })
  }

  /** Opens a CONNECT tunnel through the proxy at `url` (its origin) to `options.path` (`host:port`): see {@link Pool.connect}. */
  connect (url: string | URL, options: TunnelOptions): Promise<UpgradedConnection> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError('ERR_CLOSED', 'the agent is closed'))
    try {
      return this.pool(url).connect(options)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Counters per origin (undici's `Agent.stats`): `{ [origin]: PoolStats }` for each origin with a
   * pool (pools of one origin over different Unix sockets or TLS names are added up).
   */
  get stats (): Record<string, PoolStats> {
    const out: Record<string, PoolStats> = {}
    for (const pool of this.#pools.values()) {
      const s = pool.stats
      const o = out[pool.origin]
      if (!o) {
        out[pool.origin] = s
        continue
      }
      for (const k of Object.keys(s) as (keyof PoolStats)[]) o[k] += s[k]
    }
    return out
  }

  /**
   * @internal Schedules a prepared exchange on `origin`'s pool (the one for `servername` when
   * given). false: that pool is saturated ('drain' follows).
   */
  [kDispatch] (origin: string | URL, ex: Exchange, servername?: string | null): boolean {
    if (this.#closed) {
      ex.fail(new ConnectionClosedError('ERR_CLOSED', 'the agent is closed'))
      return true
    }
    let pool: Pool
    try {
      pool = servername == null ? this.pool(origin) : this.#pool(origin, undefined, servername)
    } catch (err) {
      ex.fail(err as Error)
      return true
    }
    return pool[kDispatch](ex)
  }

  /** Graceful close of every pool. */
  async close (): Promise<void> {
    this.#closed = true
    await Promise.all([...this.#pools.values()].map((p) => p.close()))
  }

  /** Destroys every pool. */
  destroy (err?: Error): void {
    this.#closed = true
    for (const p of this.#pools.values()) p.destroy(err)
  }
}

let globalAgent: Agent | undefined

/** The Agent used by {@link request} (one per thread). */
export function getGlobalAgent (): Agent {
  return (globalAgent ??= new Agent())
}

/** Sends a request through the global Agent: `await request('http://host/path', { method: 'POST', body })`. */
export function request (url: string | URL, options: AgentRequestOptions & { agent?: Agent } = {}): Promise<ClientResponse> {
  if (options === null || typeof options !== 'object') return Promise.reject(new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'options', 'request options must be an object'))
  const { agent, ...rest } = options
  return (agent ?? getGlobalAgent()).request(url, rest)
}

/**
 * Upgrades a request through the global Agent (or `options.agent`): resolves with
 * `{ statusCode, headers, socket, head }` once the server answers 101 Switching Protocols. Runs
 * on a dedicated connection outside hyper (see {@link Pool.upgrade}).
 * @example
 * const { socket, head } = await upgrade('ws://127.0.0.1:8080/chat', { headers: { 'sec-websocket-key': key, 'sec-websocket-version': '13' } })
 */
export function upgrade (url: string | URL, options: UpgradeOptions & { agent?: Agent } = {}): Promise<UpgradedConnection> {
  const { agent, ...rest } = options
  return (agent ?? getGlobalAgent()).upgrade(url, rest)
}
