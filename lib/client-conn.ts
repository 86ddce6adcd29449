/**
 * ClientConn: one HTTP connection driven by hyper. HTTP/1.1 requests on one connection run one
 * at a time; a `request()` made while another is in flight waits its turn in a FIFO queue.
 */
import * as dns from 'node:dns'
import * as net from 'node:net'
import { binding, type NativeConnection, type NativeErrorInfo, type NativeHead, type NativeErrno,
  EVENT_CONNECTED, EVENT_CONNECT_ERROR, EVENT_RESPONSE, EVENT_DATA, EVENT_END, EVENT_REQUEST_ERROR, EVENT_CLOSED } from './native.js'
import { Executor, kOnEvent } from './executor.js'
import { ConnectionClosedError, HyperError, InvalidArgumentError, SocketError, errorFromNative } from './errors.js'
import { ResponseBody, kEnd, kFail, kPush } from './body.js'
import { headersFromRaw, type IncomingHeaders } from './headers.js'
import { flattenHeaders, hasHeader, validateMethod, validatePath, type HeadersInput } from './validate.js'

/** A `dns.lookup`-compatible function. */
export type LookupFunction = (
  hostname: string,
  options: dns.LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
) => void

/** Where to connect: an `http:` URL, a host and port, or a Unix domain socket path. */
export type ConnectTarget =
  | string
  | URL
  | { host?: string; hostname?: string; port?: number | string }
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
}

/** Request body accepted in this release: a string (UTF-8), Buffer, Uint8Array or other binary view. */
export type RequestBody = string | Uint8Array | ArrayBuffer | ArrayBufferView

export interface RequestOptions {
  /** HTTP method (default `GET`). */
  method?: string
  /** Request target: origin form (`/a?b`), `*`, or an absolute URL (default `/`). */
  path?: string
  /** Request headers: an object, `[name, value]` pairs, or a flat `[name, value, ...]` array. */
  headers?: HeadersInput
  /** Request body; sent with `Content-Length`. */
  body?: RequestBody | null
}

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
  /** The body stream (also async-iterable, with `text()`, `json()`, `arrayBuffer()`, `bytes()`, `dump()`). */
  readonly body: ResponseBody
  #headers: IncomingHeaders | undefined

  /** @internal */
  constructor (head: NativeHead, body: ResponseBody) {
    this.status = head[0]
    this.httpVersion = head[1] === 20 ? '2.0' : head[1] === 10 ? '1.0' : '1.1'
    this.statusText = head[2]
    this.rawHeaders = head[3]
    this.body = body
  }

  /** Headers keyed by lower-cased name; repeated values joined with `, ` (`set-cookie` is an array), as Node does. */
  get headers (): IncomingHeaders {
    return (this.#headers ??= headersFromRaw(this.rawHeaders))
  }
}

interface Pending {
  resolve: (r: ClientResponse) => void
  reject: (e: Error) => void
  body: ResponseBody | null
}

type State = 'connecting' | 'open' | 'closing' | 'closed'

let nextRequestId = 1
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH'])

function toBody (body: unknown): Uint8Array | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string') return Buffer.from(body, 'utf8')
  if (body instanceof Uint8Array) return body
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'body',
    `body must be a string, Buffer, Uint8Array or ArrayBuffer (got ${typeof body}); streaming bodies are not supported yet`)
}

interface ResolvedTarget {
  kind: 'tcp' | 'unix'
  hostname: string
  port: number
  socketPath: string
  hostHeader: string
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
    if (url.protocol === 'https:') {
      throw new HyperError('ERR_NOT_SUPPORTED', 'https is not supported yet (TLS lands with the HTTP/2 + TLS work)')
    }
    if (url.protocol !== 'http:') {
      throw new InvalidArgumentError('ERR_INVALID_URL_SCHEME', 'url', `unsupported URL scheme ${JSON.stringify(url.protocol)}; expected http:`)
    }
    hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    port = url.port ? Number(url.port) : 80
    return { kind: 'tcp', hostname, port, socketPath: '', hostHeader: options.host ?? url.host }
  }
  if (target === null || typeof target !== 'object') {
    throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'target', 'connect target must be a URL string, a URL, { host, port } or { socketPath }')
  }
  if ('socketPath' in target) {
    if (typeof target.socketPath !== 'string' || target.socketPath.length === 0) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'socketPath', 'socketPath must be a non-empty string')
    }
    return { kind: 'unix', hostname: '', port: 0, socketPath: target.socketPath, hostHeader: options.host ?? 'localhost' }
  }
  const h = target.hostname ?? target.host ?? 'localhost'
  if (typeof h !== 'string' || h.length === 0) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'host', 'host must be a non-empty string')
  hostname = h.startsWith('[') ? h.slice(1, -1) : h
  port = target.port === undefined ? 80 : Number(target.port)
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new InvalidArgumentError('ERR_SOCKET_BAD_PORT', 'port', `port must be an integer from 1 to 65535, got ${String(target.port)}`)
  }
  const hostPart = net.isIPv6(hostname) ? `[${hostname}]` : hostname
  return { kind: 'tcp', hostname, port, socketPath: '', hostHeader: options.host ?? (port === 80 ? hostPart : `${hostPart}:${port}`) }
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
  #connect: { resolve: (c: ClientConn) => void, reject: (e: Error) => void, where: string, address?: string, port?: number } | null = null
  #closed: Promise<void> | null = null
  #closedResolve: (() => void) | null = null
  #destroyCause: Error | undefined

  private constructor (executor: Executor, options: ConnectOptions, hostHeader: string) {
    this.#executor = executor
    this.#hostHeader = hostHeader
    this.#native = new binding.Connection(executor.native, this, {
      preserveHeaderCase: options.preserveHeaderCase ?? true,
      preserveHeaderOrder: options.preserveHeaderOrder ?? true,
      allowMultilineHeaders: options.allowMultilineHeaders ?? false,
      http2: false,
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
    const t = resolveTarget(target, options)
    let address = ''
    let family: 4 | 6 = 4
    if (t.kind === 'tcp') ({ address, family } = await lookupAddress(t.hostname, options))
    const conn = new ClientConn(executor, options, t.hostHeader)
    return conn.#start(t, address, family)
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

  /** The executor this connection runs on. */
  get executor (): Executor {
    return this.#executor
  }

  /** True once the connection is closed (by `close()`, `destroy()`, the server, or an error). */
  get closed (): boolean {
    return this.#state === 'closed'
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
    let body: Uint8Array | undefined
    try {
      if (options === null || typeof options !== 'object') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'options', 'request options must be an object')
      method = options.method === undefined ? 'GET' : validateMethod(options.method)
      path = options.path === undefined ? '/' : validatePath(options.path)
      headers = flattenHeaders(options.headers)
      body = toBody(options.body)
    } catch (err) {
      return Promise.reject(err)
    }
    if (this.#state !== 'open') {
      return Promise.reject(new ConnectionClosedError('ERR_CLOSED', this.#state === 'connecting' ? 'the connection is not open yet' : 'the connection is closed'))
    }
    if (!hasHeader(headers, 'host')) headers.unshift('Host', this.#hostHeader)
    const framed = hasHeader(headers, 'content-length') || hasHeader(headers, 'transfer-encoding')
    if (!framed) {
      if (body !== undefined) headers.push('Content-Length', String(body.byteLength))
      else if (BODY_METHODS.has(method.toUpperCase())) headers.push('Content-Length', '0')
    }
    const id = nextRequestId++
    const bad = this.#native.request(id, method, path, headers, body)
    if (bad) {
      const [field, code] = bad
      if (field === 'connection') return Promise.reject(new ConnectionClosedError('ERR_CLOSED', 'the connection is closed'))
      return Promise.reject(new InvalidArgumentError('ERR_INVALID_ARG_VALUE', field, `hyper rejected the request's ${field} (hyper code ${code})`))
    }
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, body: null })
    })
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
        const body = new ResponseBody(this.#native, id, head[4], head[5], head[6])
        if (head[5]) this.#pending.delete(id)
        else p.body = body
        p.resolve(new ClientResponse(head, body))
        return
      }
      case EVENT_DATA:
        this.#pending.get(id)?.body?.[kPush](payload as Buffer)
        return
      case EVENT_END: {
        const p = this.#pending.get(id)
        this.#pending.delete(id)
        p?.body?.[kEnd]()
        return
      }
      case EVENT_REQUEST_ERROR: {
        const p = this.#pending.get(id)
        if (!p) return
        this.#pending.delete(id)
        const err = this.#error(payload as NativeErrorInfo)
        if (p.body) p.body[kFail](err)
        else p.reject(err)
        return
      }
      case EVENT_CONNECTED:
        if (this.#state === 'connecting') this.#state = this.#closed ? 'closing' : 'open'
        if (this.#connect) {
          this.#connect.resolve(this)
          this.#connect = null
        }
        return
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
        for (const [pid, p] of this.#pending) {
          this.#pending.delete(pid)
          if (p.body) p.body[kFail](err)
          else p.reject(err)
        }
        this.#closedResolve?.()
        this.#closedResolve = null
        if (!this.#closed) this.#closed = Promise.resolve()
      }
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
