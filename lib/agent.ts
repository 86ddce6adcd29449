/**
 * Agent: one {@link Pool} per origin, created on demand; and `request(url)`, a top-level helper
 * on a default Agent.
 */
import { Pool, type PoolOptions } from './pool.js'
import type { ClientResponse, RequestOptions } from './client-conn.js'
import { ConnectionClosedError, HyperError, InvalidArgumentError } from './errors.js'
import type { TunnelOptions, UpgradeOptions, UpgradedConnection } from './upgrade.js'

export interface AgentOptions extends PoolOptions {
  /** Most origins with a pool at once; a request to another origin rejects with `ERR_MAX_ORIGINS` (default unlimited). */
  maxOrigins?: number
}

export class Agent {
  #options: AgentOptions
  #pools = new Map<string, Pool>()
  #aliases = new Map<string, Pool>() // origin strings as given (e.g. with a trailing slash) -> pool
  #closed = false

  constructor (options: AgentOptions = {}) {
    this.#options = options
  }

  /** The pool for `origin` (created on first use). */
  pool (origin: string | URL): Pool {
    // Per-request hot path (the undici adapter passes the origin string every time): the
    // string as given is looked up before any URL parsing.
    const given = typeof origin === 'string' ? this.#aliases.get(origin) : undefined
    if (given) return given
    const key = new URL(String(origin)).origin
    let pool = this.#pools.get(key)
    if (!pool) {
      if (this.#options.maxOrigins !== undefined && this.#pools.size >= this.#options.maxOrigins) {
        throw new HyperError('ERR_MAX_ORIGINS', `more than ${this.#options.maxOrigins} origins`)
      }
      const { maxOrigins: _m, ...poolOptions } = this.#options
      pool = new Pool(key, poolOptions)
      this.#pools.set(key, pool)
    }
    if (typeof origin === 'string' && this.#aliases.size < 4096) this.#aliases.set(origin, pool)
    return pool
  }

  /** Sends `options` to `url`'s origin; `path` defaults to the URL's path and query. */
  request (url: string | URL, options: RequestOptions = {}): Promise<ClientResponse> {
    if (this.#closed) return Promise.reject(new ConnectionClosedError('ERR_CLOSED', 'the agent is closed'))
    let u: URL
    try {
      u = new URL(String(url))
    } catch {
      return Promise.reject(new InvalidArgumentError('ERR_INVALID_URL', 'url', `invalid URL: ${String(url)}`))
    }
    let pool: Pool
    try {
      pool = this.pool(u)
    } catch (err) {
      return Promise.reject(err)
    }
    return pool.request({ ...options, path: options.path ?? (u.pathname + u.search) })
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
    let pool: Pool
    try {
      new URL(String(url))  // eslint-disable-line no-new
    } catch {
      return Promise.reject(new InvalidArgumentError('ERR_INVALID_URL', 'url', `invalid URL: ${String(url)}`))
    }
    try {
      pool = this.pool(url)
    } catch (err) {
      return Promise.reject(err)
    }
    return pool.connect(options)
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
export function request (url: string | URL, options: RequestOptions & { agent?: Agent } = {}): Promise<ClientResponse> {
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
