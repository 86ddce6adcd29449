/**
 * `diagnostics_channel` publishing, compatible with undici's channels: what OpenTelemetry's
 * undici instrumentation, APM agents and undici's own debug log subscribe to. Every request
 * node-hyper sends (through `HyperDispatcher`, `Agent`, `Pool`, `ClientConn`, `request()`) is
 * published on:
 *
 * - `undici:request:create` `{ request }`: the request entered node-hyper. Headers a subscriber
 *   adds with `request.addHeader(name, value)` go on the wire (e.g. `traceparent`).
 * - `undici:client:sendHeaders` `{ request, headers, socket }`: it was handed to a connection
 *   (once per attempt). `headers` is the head as text; `socket` describes the connection
 *   ({@link DiagnosticsSocket}: node-hyper has no JS socket).
 * - `undici:request:headers` `{ request, response: { statusCode, headers, statusText } }`: the
 *   response head arrived (`headers`: raw `Buffer[]`, name, value, ...).
 * - `undici:request:trailers` `{ request, trailers }`: the body ended (`trailers`: always `[]`).
 * - `undici:request:error` `{ request, error }`: the request failed or was aborted.
 * - `node-hyper:request:done` `{ request, statusCode, error, timings, connection }`: node-hyper's
 *   own: the request is over, with its timings (timings.ts) and connection, for every face
 *   (the undici face has no other way to see them).
 *
 * and for each connection node-hyper opens: `undici:client:beforeConnect`,
 * `undici:client:connected` (with `socket`) and `undici:client:connectError`, each with
 * `{ connectParams, connector }` as undici publishes them (`connector` is null: node-hyper
 * connects natively).
 *
 * The hot path pays a few `hasSubscribers` checks per request when nobody subscribes: a request
 * is traced (gets its message object) only if a request channel has a subscriber when it starts,
 * and every later hook is a null check on the exchange.
 * @internal
 */
import * as dc from 'node:diagnostics_channel'
import type { Exchange } from './exchange.js'
import type { ResponseHead } from './protocol.js'
import { rawBuffers } from './headers.js'
import { InvalidArgumentError } from './errors.js'
import { flattenHeaders } from './validate.js'
import { now, requestTimings, responseConnection, type ConnectionInfo, type RequestTimings, type ResponseConnection, type TimedConnection } from './timings.js'

const createCh = dc.channel('undici:request:create')
const sendHeadersCh = dc.channel('undici:client:sendHeaders')
const headersCh = dc.channel('undici:request:headers')
const trailersCh = dc.channel('undici:request:trailers')
const errorCh = dc.channel('undici:request:error')
const doneCh = dc.channel('node-hyper:request:done')
const beforeConnectCh = dc.channel('undici:client:beforeConnect')
const connectedCh = dc.channel('undici:client:connected')
const connectErrorCh = dc.channel('undici:client:connectError')

/** Whether a request starting now should be traced (some request channel has a subscriber). */
export function requestTraced (): boolean {
  return createCh.hasSubscribers || sendHeadersCh.hasSubscribers || headersCh.hasSubscribers ||
    trailersCh.hasSubscribers || errorCh.hasSubscribers || doneCh.hasSubscribers
}

/** Whether a connect starting now should be traced. */
export function connectTraced (): boolean {
  return beforeConnectCh.hasSubscribers || connectedCh.hasSubscribers || connectErrorCh.hasSubscribers
}

/** The final status, once the head arrived, and when it was last handed to a connection (read by `node-hyper:request:done`). */
const kStatus = Symbol('status')
const kHandedOver = Symbol('handedOver')

// Headers that shape the request's framing or routing: a subscriber cannot add them.
const RESERVED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'expect', 'keep-alive', 'upgrade'])

/**
 * The `request` of undici's request channels: the same object for every message about one
 * request (subscribers key their state on it).
 */
export class DiagnosticsRequest {
  /** The origin it is sent to (`http://host:port`). */
  readonly origin: string
  readonly method: string
  /** The request target as sent (origin form, or absolute). */
  readonly path: string
  /** The body ended (set before `undici:request:trailers`). */
  completed = false
  /** It failed or was aborted (set before `undici:request:error`). */
  aborted = false;
  /** @internal */
  [kStatus]: number | undefined = undefined;
  /** @internal */
  [kHandedOver]: number | undefined = undefined
  readonly #ex: Exchange

  constructor (ex: Exchange, origin: string) {
    this.#ex = ex
    this.origin = origin
    this.method = ex.method
    this.path = ex.path
  }

  /** The request headers, flat (`[name, value, ...]`, as undici 7's `request.headers`); live. */
  get headers (): string[] {
    return this.#ex.headers
  }

  /** The request body (bytes, or the stream it is read from), or null (also once the response came: node-hyper lets go of it then). */
  get body (): unknown {
    return this.#ex.body ?? null
  }

  /** Whether the method is idempotent (undici's default rule: GET and HEAD). */
  get idempotent (): boolean {
    return this.method === 'GET' || this.method === 'HEAD'
  }

  /**
   * Adds a request header (as undici's `request.addHeader`). Called from an
   * `undici:request:create` subscriber, it goes on the wire; headers that shape framing or
   * routing (`host`, `content-length`, `transfer-encoding`, `connection`, `expect`, ...) are
   * refused with an InvalidArgumentError.
   */
  addHeader (name: string, value: string | number | readonly string[]): this {
    const values: readonly unknown[] = Array.isArray(value) ? value : [value]
    const pairs = flattenHeaders(values.map((v) => [name, v as string] as const))
    for (let i = 0; i < pairs.length; i += 2) {
      const lower = pairs[i]!.toLowerCase()
      if (RESERVED.has(lower)) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', `headers.${lower}`, `a diagnostics subscriber cannot add the ${lower} header`)
    }
    this.#ex.headers.push(...pairs)
    return this
  }
}

/** The `socket` of `undici:client:sendHeaders` and `undici:client:connected`: the fields consumers read of a net/tls socket. */
export interface DiagnosticsSocket {
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
  readonly remoteFamily: 'IPv4' | 'IPv6' | undefined
  readonly localAddress: string | undefined
  readonly localPort: number | undefined
  /**
   * `'h2'` when the connection speaks HTTP/2 (by ALPN, or h2c with prior knowledge), the ALPN
   * protocol otherwise, `false` for cleartext HTTP/1.1 (as `tls.TLSSocket#alpnProtocol`).
   */
  readonly alpnProtocol: string | false
  /** true over TLS. */
  readonly encrypted: boolean
  /** TLS: whether the certificate verified. */
  readonly authorized: boolean | undefined
}

const sockets = new WeakMap<TimedConnection, DiagnosticsSocket>()

function socketOf (conn: TimedConnection): DiagnosticsSocket {
  let s = sockets.get(conn)
  if (!s) {
    const i: ConnectionInfo = conn.info
    s = Object.freeze({
      remoteAddress: i.remoteAddress,
      remotePort: i.remotePort,
      remoteFamily: i.remoteFamily,
      localAddress: i.localAddress,
      localPort: i.localPort,
      alpnProtocol: i.protocol === '2' ? 'h2' : i.tls?.alpnProtocol ?? false,
      encrypted: i.tls !== undefined,
      authorized: i.tls?.authorized,
    })
    sockets.set(conn, s)
  }
  return s
}

/** The request enters node-hyper: it gets its message object, and `create` is published. */
/** The message object traceRequest() attached to the exchange. */
function requestOf (ex: Exchange): DiagnosticsRequest {
  return ex.diag as DiagnosticsRequest
}

export function traceRequest (ex: Exchange, origin: string): void {
  const request = new DiagnosticsRequest(ex, origin)
  ex.diag = request
  if (createCh.hasSubscribers) createCh.publish({ request })
}

/** The wire head (method NUL target NUL name NUL value ...) as the text undici publishes. */
function headText (wire: string, http2: boolean): string {
  const f = wire.split('\0')
  let out: string
  if (http2) {
    const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(.*)$/i.exec(f[1]!)
    out = `:method: ${f[0]}\r\n:path: ${m ? m[3] || '/' : f[1]}\r\n`
    if (m) out += `:scheme: ${m[1]}\r\n:authority: ${m[2]}\r\n`
  } else {
    out = `${f[0]} ${f[1]} HTTP/1.1\r\n`
  }
  for (let i = 2; i + 1 < f.length; i += 2) out += `${f[i]}: ${f[i + 1]}\r\n`
  return out
}

/**
 * The message of `undici:client:sendHeaders`. `headers` is a getter: the text is built when read
 * (OpenTelemetry, for one, reads only `socket`).
 */
export class SendHeadersMessage {
  readonly request: DiagnosticsRequest
  readonly socket: DiagnosticsSocket
  readonly #wire: string
  readonly #http2: boolean
  #text: string | undefined

  constructor (request: DiagnosticsRequest, socket: DiagnosticsSocket, wire: string, http2: boolean) {
    this.request = request
    this.socket = socket
    this.#wire = wire
    this.#http2 = http2
  }

  /** The request head as text: `GET /path HTTP/1.1\r\nname: value\r\n...` (HTTP/2: pseudo-headers first). */
  get headers (): string {
    return (this.#text ??= headText(this.#wire, this.#http2))
  }
}

/** The `response` of `undici:request:headers`. `headers` is a getter: the Buffers are made when read. */
export class ResponseHeadMessage {
  readonly statusCode: number
  readonly statusText: string
  readonly #joined: string
  #raw: Buffer[] | undefined

  constructor (statusCode: number, statusText: string, joined: string) {
    this.statusCode = statusCode
    this.statusText = statusText
    this.#joined = joined
  }

  /** The raw response headers, `[name, value, ...]` as latin1 Buffers (undici's form). */
  get headers (): Buffer[] {
    return (this.#raw ??= rawBuffers(this.#joined))
  }
}

/** The request was handed to a connection (`wire`: the head as the addon took it). */
export function traceSend (ex: Exchange, conn: TimedConnection, wire: string): void {
  const request = requestOf(ex)
  request[kHandedOver] = now()
  if (sendHeadersCh.hasSubscribers) sendHeadersCh.publish(new SendHeadersMessage(request, socketOf(conn), wire, conn.info.protocol === '2'))
}

/** The response head arrived. */
export function traceHead (ex: Exchange, head: ResponseHead): void {
  const request = requestOf(ex)
  request[kStatus] = head.status
  if (headersCh.hasSubscribers) {
    headersCh.publish({ request, response: new ResponseHeadMessage(head.status, head.reason, head.rawHeaders) })
  }
}

/** The message of `node-hyper:request:done`. */
export class RequestDone {
  readonly request: DiagnosticsRequest
  /** The final status (undefined when no response came). */
  readonly statusCode: number | undefined
  /** Why it failed (undefined when it completed). */
  readonly error: Error | undefined
  readonly #ex: Exchange

  constructor (ex: Exchange, error: Error | undefined) {
    this.#ex = ex
    this.request = requestOf(ex)
    this.statusCode = this.request[kStatus]
    this.error = error
  }

  /** The request's timings (built when read; `sent`/`firstByte` undefined if it failed before). */
  get timings (): RequestTimings {
    return requestTimings(this.#ex, this.request[kHandedOver])
  }

  /** The connection that carried it (undefined when none did). */
  get connection (): ResponseConnection | undefined {
    return responseConnection(this.#ex)
  }
}

/** The body ended. */
export function traceEnd (ex: Exchange): void {
  const request = requestOf(ex)
  if (request.completed || request.aborted) return
  request.completed = true
  if (trailersCh.hasSubscribers) trailersCh.publish({ request, trailers: [] })
  if (doneCh.hasSubscribers) doneCh.publish(new RequestDone(ex, undefined))
}

/** The request failed (or was aborted), before or after its head. */
export function traceError (ex: Exchange, error: Error): void {
  const request = requestOf(ex)
  if (request.completed || request.aborted) return
  request.aborted = true
  if (errorCh.hasSubscribers) errorCh.publish({ request, error })
  if (doneCh.hasSubscribers) doneCh.publish(new RequestDone(ex, error))
}

/** undici's `connectParams`. */
export interface ConnectParams {
  host: string
  hostname: string
  protocol: 'http:' | 'https:'
  /** As a URL's `port`: '' for the scheme's default. */
  port: string
  /** `'h1'` or `'h2'` once connected (undefined before, as undici). */
  version: 'h1' | 'h2' | undefined
  /** The TLS name (SNI; '' for an IP address); null for cleartext. */
  servername: string | null
  localAddress: string | null
}

/** One connect, traced: `beforeConnect` now, then `connected` or `connectError`. */
export class ConnectTrace {
  readonly #params: ConnectParams

  constructor (params: ConnectParams) {
    this.#params = params
    if (beforeConnectCh.hasSubscribers) beforeConnectCh.publish({ connectParams: { ...params }, connector: null })
  }

  connected (conn: TimedConnection): void {
    if (connectedCh.hasSubscribers) {
      const version = conn.info.protocol === '2' ? 'h2' : 'h1'
      connectedCh.publish({ connectParams: { ...this.#params, version }, connector: null, socket: socketOf(conn) })
    }
  }

  failed (error: unknown): void {
    if (connectErrorCh.hasSubscribers) connectErrorCh.publish({ connectParams: { ...this.#params }, connector: null, error })
  }
}
