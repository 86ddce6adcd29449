/**
 * Agent: one {@link Pool} per origin, created on demand; and `request(url)`, a top-level helper
 * on a default Agent.
 */
import { Pool, type PoolOptions } from './pool.js'
import type { ClientResponse, RequestOptions } from './client-conn.js'
import { ConnectionClosedError, HyperError, InvalidArgumentError } from './errors.js'

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
