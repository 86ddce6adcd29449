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
import * as http from 'node:http'
import * as querystring from 'node:querystring'
import { Agent, type AgentOptions } from '../agent.js'
import type { PoolStats } from '../pool.js'
import { kDispatch as kSend } from '../client-conn.js'
import { inspectHeaders } from '../exchange.js'
import type { TlsOptions } from '../tls.js'
import { hasHeader, isMethodToken, validatePath } from '../validate.js'
import { flatHeaders, toBody } from './convert.js'
import { ActiveList, DispatchExchange, LegacyController, ModernController, wrapHandler, type ActiveDispatch, type ControllerOwner, type DispatchController, type DispatchHandler, type DispatchOptions } from './controller.js'
import { dispatchUpgrade } from './upgrade.js'
import { CONNECT_KEYS, applyConnect, type UndiciConnectOptions } from './connect.js'
import { clientClosed, clientDestroyed, invalidArgument, toUndiciError, undiciOrThrow } from './undici.js'

export type { DispatchController, DispatchHandler, DispatchOptions } from './controller.js'

/** Options of {@link HyperDispatcher}: those of {@link Agent} (and so of `Pool`), or an Agent to use. */
export interface HyperDispatcherOptions extends AgentOptions {
  /**
   * Response header bytes (names and values) at which a request fails with undici's
   * `HeadersOverflowError`, as undici's own client does (default `http.maxHeaderSize`, 16 KiB
   * unless Node was started with `--max-http-header-size`). hyper's own limits still apply above it.
   */
  maxHeaderSize?: number
  /**
   * Retries of an idempotent request that failed after it was (partly) sent: **default 0** here
   * (undici's Client does not retry; its `retry` interceptor does, and would multiply with these).
   * A request that failed before any byte of it was written is always sent once more on another
   * connection (the server never saw it), as undici does for requests queued on a dead socket.
   */
  retries?: number
  /** Use this Agent instead of creating one (its own `retries` apply). `close()`/`destroy()` close it too. */
  agent?: Agent
  /**
   * undici's `connect` options, for drop-in use. TLS: `ca`, `cert`, `key`, `passphrase`,
   * `servername`, `rejectUnauthorized`, `ALPNProtocols`, `ciphers`, `minVersion`, `maxVersion`
   * map to {@link TlsOptions} (`ca` replaces the default roots, as with undici; `tls` wins when
   * both are set), `maxCachedSessions: 0` turns session reuse off. Socket: `timeout`,
   * `socketPath`, `localAddress`, `lookup`, `family`, `keepAlive`, `keepAliveInitialDelay`,
   * `noDelay`, `autoSelectFamily`, `autoSelectFamilyAttemptTimeout` map to the options of the same
   * meaning (`timeout` → `connectTimeout`; explicit ones win). Any other key is an
   * InvalidArgumentError. A connect *function* is accepted only from undici's `ProxyAgent`/
   * `EnvHttpProxyAgent` factory (whose proxy node-hyper then honours itself); otherwise it is an
   * InvalidArgumentError (node-hyper opens its sockets natively and cannot use a custom connector).
   */
  connect?: UndiciConnectOptions
}

type DispatchFn = (opts: DispatchOptions, handler: DispatchHandler) => boolean
/** Callback of `close()`/`destroy()` in undici's style. */
export type DispatcherCallback = (err: Error | null, data: null) => void

const kActive = Symbol('active')

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
export class HyperDispatcher extends EventEmitter implements ControllerOwner {
  /** The node-hyper Agent requests go through (`agent.pool(origin).stats` for counters). */
  readonly agent: Agent;
  /** @internal */
  [kActive] = new ActiveList()
  private _closed = false
  private _destroyed = false
  private _closing: Promise<void> | null = null
  readonly #maxHeaderSize: number

  constructor (options: HyperDispatcherOptions = {}) {
    super()
    const { agent, maxHeaderSize, ...rest } = options
    if (maxHeaderSize !== undefined && (typeof maxHeaderSize !== 'number' || !Number.isInteger(maxHeaderSize) || maxHeaderSize < 1)) {
      throw invalidArgument('invalid maxHeaderSize')
    }
    this.#maxHeaderSize = maxHeaderSize ?? http.maxHeaderSize
    const agentOptions: Record<string, unknown> = { ...rest }
    for (const k of CONNECT_KEYS) delete agentOptions[k]
    applyConnect(options as unknown as Record<string, unknown>, agentOptions)
    // undici's dispatchers do not retry sent requests by themselves (see `retries`).
    if (agentOptions.retries === undefined) agentOptions.retries = 0
    this.agent = agent ?? new Agent(agentOptions as AgentOptions)
    // undici's Agent events: `targets` is [this dispatcher, node-hyper's Pool, its ClientConn];
    // errors are undici's (the node-hyper error is the cause).
    const a = this.agent
    a.on('connect', (o, t) => this.emit('connect', o, [this, ...t.slice(1)]))
    a.on('disconnect', (o, t, err) => this.emit('disconnect', o, [this, ...t.slice(1)], toUndiciError(err)))
    a.on('connectionError', (o, t, err) => this.emit('connectionError', o, [this, ...t.slice(1)], toUndiciError(err)))
    a.on('drain', (o, t) => this.emit('drain', o, [this, ...t.slice(1)]))
  }

  /**
   * Counters per origin, as undici's `Agent.stats`: `{ [origin]: { connected, free, pending,
   * queued, running, size } }`.
   */
  get stats (): Record<string, PoolStats> {
    return this.agent.stats
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
    if (!handler || typeof handler !== 'object') throw invalidArgument('handler must be an object')
    const modern = typeof handler.onRequestStart === 'function'
    if (!modern && typeof handler.onError !== 'function') throw invalidArgument('invalid onError method')
    if (opts !== null && typeof opts === 'object' && (opts.upgrade || opts.method === 'CONNECT')) return this.#dispatchDedicated(opts, handler, modern)
    const controller = modern ? new ModernController(this, handler) : new LegacyController(this, handler)
    let origin: string | URL
    try {
      origin = this.#prepare(controller, opts)
    } catch (err) {
      // Invalid options reach the handler's error callback, as in undici. true: nothing to wait
      // for (false would tell the caller to wait for a 'drain'), as undici 8 returns.
      if (modern && typeof handler.onResponseError !== 'function') throw err
      controller.failHandler(err)
      return true
    }
    controller.wantInformational = typeof handler.onHeaders === 'function' || typeof handler.onResponseStart === 'function'
    controller.maxHeaderSize = this.#maxHeaderSize
    this.started(controller)
    // false: the origin's pool is saturated ('drain' follows), as undici's dispatch says.
    // `servername` (checked where it is used: an invalid one fails the request through its handler).
    if (controller.begin()) return this.agent[kSend](origin, controller, opts.servername as string | null | undefined)
    return true
  }

  /** What every dispatch is checked for (undici's rules and error classes): origin, method, path with the query. */
  #common (opts: DispatchOptions, dedicated: boolean): { origin: string | URL, method: string, path: string } {
    if (!opts || typeof opts !== 'object') throw invalidArgument('opts must be an object.')
    if (this._destroyed) throw clientDestroyed()
    if (this._closed) throw clientClosed()
    const { origin, method, query } = opts
    if (!origin || (typeof origin !== 'string' && !(origin instanceof URL))) throw invalidArgument('opts.origin must be a non-empty string or URL.')
    if (typeof opts.path !== 'string') throw invalidArgument('path must be a string')
    if (typeof method !== 'string') throw invalidArgument('method must be a string')
    if (!isMethodToken(method)) throw invalidArgument('invalid request method')
    if (opts.maxRedirections != null && opts.maxRedirections !== 0) throw invalidArgument('maxRedirections is not supported, use the redirect interceptor')
    let path = opts.path
    // CONNECT's target is host:port (authority form).
    if (!dedicated && path[0] !== '/' && !/^https?:\/\//.test(path)) throw invalidArgument('path must be an absolute URL or start with a slash')
    if (query) {
      if (path.includes('?') || path.includes('#')) throw new Error('Query params cannot be passed when url already contains "?" or "#".')
      const qs = querystring.stringify(query as querystring.ParsedUrlQueryInput)
      if (qs) path += '?' + qs
    }
    return { origin, method, path }
  }

  /** Upgrades and CONNECT run on a dedicated connection outside hyper (dispatcher/upgrade.ts). */
  #dispatchDedicated (opts: DispatchOptions, handler: DispatchHandler, modern: boolean): boolean {
    try {
      const { origin, method, path } = this.#common(opts, true)
      const headers = flatHeaders(opts.headers)
      return dispatchUpgrade({ agent: this.agent, origin, method, path, headers, opts, handler, owner: this, toError: toUndiciError })
    } catch (err) {
      if (modern) {
        if (typeof handler.onResponseError !== 'function') throw err
        handler.onResponseError({ aborted: false, paused: false, reason: null, rawHeaders: null, rawTrailers: null, abort () {}, pause () {}, resume () {} }, err as Error)
      } else {
        handler.onError!(err as Error)
      }
      return true
    }
  }

  /** undici's dispatch options onto the exchange (undici's validation rules and error classes). */
  #prepare (ex: DispatchExchange, opts: DispatchOptions): string | URL {
    const common = this.#common(opts, false)
    const { origin, method } = common
    let path = common.path
    if (opts.reset != null && typeof opts.reset !== 'boolean') throw invalidArgument('invalid reset')
    if (opts.expectContinue != null && typeof opts.expectContinue !== 'boolean') throw invalidArgument('invalid expectContinue')
    try {
      path = validatePath(path)
    } catch (err) {
      throw invalidArgument(`invalid request path (${(err as Error).message})`)
    }
    const headers = flatHeaders(opts.headers)
    // undici's `reset: true`: no keep-alive after this request. Otherwise, like undici, say
    // keep-alive on HTTP/1.1 (servers and undici's own tests look for it).
    if (opts.reset === true && !hasHeader(headers, 'connection')) headers.push('connection', 'close')
    else if (!hasHeader(headers, 'connection')) ex.announceKeepAlive = true
    const body = toBody(opts.body, headers)
    ex.method = method
    ex.path = path
    ex.headers = headers
    if (body !== undefined) {
      ex.body = typeof body === 'string' ? Buffer.from(body, 'utf8')
        : body instanceof Uint8Array ? body
          : ArrayBuffer.isView(body) ? new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
            : body instanceof ArrayBuffer ? new Uint8Array(body)
              : body as AsyncIterable<unknown>
    }
    if (opts.headersTimeout != null) ex.headersTimeout = checkTimeout('headersTimeout', opts.headersTimeout)
    if (opts.bodyTimeout != null) ex.bodyTimeout = checkTimeout('bodyTimeout', opts.bodyTimeout)
    if (opts.expectContinue && ex.body !== undefined) ex.continueMs = 1000
    try {
      inspectHeaders(ex)
    } catch (err) {
      throw toUndiciError(err)
    }
    return origin
  }

  /** @internal a request started. */
  started (c: ActiveDispatch): void {
    this[kActive].add(c)
  }

  /** @internal a request got its handler's last callback. */
  settled (c: ActiveDispatch): void {
    this[kActive].delete(c)
  }

  /** @internal a handler threw from onError: like undici, report it as an 'error' event (thrown when nobody listens). */
  report (err: unknown): void {
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
      await Promise.all(this[kActive].toArray().map((x) => x.whenSettled()))
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
      for (const x of this[kActive].toArray()) x.failHandler(reason)
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

function checkTimeout (name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalidArgument(`invalid ${name}`)
  return v > 0x7fffffff ? 0x7fffffff : v
}
