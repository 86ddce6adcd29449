/**
 * The undici adapter's side of upgrades and CONNECT: drives a dispatch handler (either of
 * undici's styles) from a request on a dedicated connection (see upgrade.ts), the way undici's
 * own HTTP/1.1 client does (`lib/dispatcher/client-h1.js`):
 *
 * - a 101 (upgrade) or any answer to CONNECT hands the socket over: `onUpgrade(statusCode,
 *   rawHeaders, socket)` / `onRequestUpgrade(controller, statusCode, headers, socket)`, with the
 *   bytes read past the head pushed back into the socket (`socket.unshift`), as undici does;
 * - an upgrade answered with another final status is an ordinary response (`onHeaders`/
 *   `onResponseStart`, body, `onComplete`/`onResponseEnd`): undici's `upgrade()` turns it into
 *   `SocketError('bad upgrade')`, its WebSocket into a failed handshake;
 * - 1xx other than 101 go to `onHeaders`/`onResponseStart` as informational responses;
 * - errors go to `onError`/`onResponseError`; an abort before the hand-over destroys the
 *   dedicated connection.
 * @internal
 */
import type * as http from 'node:http'
import type * as net from 'node:net'
import type { Agent } from '../agent.js'
import { ConnectionClosedError, TimeoutError } from '../errors.js'
import type { InformationalResponse } from '../exchange.js'
import { kDedicated, type DedicatedExchange, type DedicatedOutcome, type DedicatedRequest } from '../upgrade.js'
import type { ActiveDispatch, ControllerOwner, DispatchController, DispatchHandler, DispatchOptions } from './controller.js'
import { headersObjectFromList, rawBuffers } from '../headers.js'
import { badUpgrade, invalidArgument, notSupported, requestAborted } from './undici.js'

// undici's isValidHeaderValue: no CR, LF, NUL, no leading/trailing whitespace.
const INVALID_HEADER_VALUE = /[\0\r\n]|^[\t ]|[\t ]$/

function toBuffers (raw: readonly string[]): Buffer[] {
  return rawBuffers(raw.join('\0'))
}

/** What the dispatcher hands over: the request as it validated it, and its own hooks. */
export interface UpgradeDispatchInput {
  agent: Agent
  origin: string | URL
  method: string
  /** Path with the query appended (authority form for CONNECT). */
  path: string
  /** Flat `[name, value, ...]`, validated with undici's rules. */
  headers: string[]
  opts: DispatchOptions
  handler: DispatchHandler
  /** The dispatcher: tracks it in flight, hears a throwing error callback. */
  owner: ControllerOwner
  /** node-hyper's error → the error the handler gets (undici's classes). */
  toError: (err: unknown) => Error
}

/**
 * Starts an upgrade or CONNECT dispatch. Throws (synchronously) for invalid options: the
 * dispatcher reports those to the handler as for any request. Returns true.
 */
export function dispatchUpgrade (input: UpgradeDispatchInput): boolean {
  const { opts, method } = input
  const upgrade = opts.upgrade
  if (upgrade != null && upgrade !== '' && typeof upgrade !== 'string') throw invalidArgument('upgrade must be a string')
  if (typeof upgrade === 'string' && INVALID_HEADER_VALUE.test(upgrade)) throw invalidArgument('invalid upgrade header')
  if (method !== 'CONNECT' && input.path[0] !== '/' && !/^https?:\/\//.test(input.path)) throw invalidArgument('path must be an absolute URL or start with a slash')
  const body = opts.body
  const empty = body == null || (typeof body === 'string' && body.length === 0) || (ArrayBuffer.isView(body) && body.byteLength === 0)
  if (!empty) throw notSupported('a request body on an upgrade or CONNECT request is not supported by node-hyper')
  const handler = input.handler
  if (typeof handler.onRequestStart !== 'function' && typeof handler.onUpgrade !== 'function') throw invalidArgument('invalid onUpgrade method')
  for (const name of ['headersTimeout', 'bodyTimeout'] as const) {
    const v = opts[name]
    if (v != null && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) throw invalidArgument(`invalid ${name}`)
  }
  let pool: ReturnType<Agent['pool']>
  try {
    pool = input.agent.pool(input.origin)
  } catch (err) {
    throw input.toError(err)
  }
  const x = new UpgradeDispatch(input, pool[kDedicated]())
  input.owner.started(x)
  x.start()
  return true
}

type Dedicated = ReturnType<ReturnType<Agent['pool']>[typeof kDedicated]>

class UpgradeDispatch implements DispatchController {
  readonly #input: UpgradeDispatchInput
  readonly #handler: DispatchHandler
  readonly #modern: boolean
  readonly #dedicated: Dedicated
  #exchange: DedicatedExchange | null = null
  #response: http.IncomingMessage | null = null
  #socket: net.Socket | null = null
  #bodyTimer: NodeJS.Timeout | null = null
  #bodyTimeout = 0
  #done = false
  #paused = false
  #aborted = false
  #reason: unknown = null
  #waiting: (() => void)[] | null = null
  rawHeaders: Buffer[] | null = null
  rawTrailers: Buffer[] | null = null
  activePrev: ActiveDispatch | null = null
  activeNext: ActiveDispatch | null = null

  constructor (input: UpgradeDispatchInput, dedicated: Dedicated) {
    this.#input = input
    this.#handler = input.handler
    this.#modern = typeof input.handler.onRequestStart === 'function'
    this.#dedicated = dedicated
  }

  get aborted (): boolean { return this.#aborted }
  get paused (): boolean { return this.#paused }
  get reason (): unknown { return this.#reason }

  whenSettled (): Promise<void> {
    if (this.#done) return Promise.resolve()
    return new Promise((resolve) => (this.#waiting ??= []).push(resolve))
  }

  #finish (): void {
    this.#done = true
    this.#clearBodyTimer()
    this.#input.owner.settled(this)
    const waiting = this.#waiting
    this.#waiting = null
    if (waiting) for (const f of waiting) f()
  }

  /** Runs a handler callback; a throw fails the exchange with what was thrown (as in undici). */
  #call (fn: () => void): boolean {
    try {
      fn()
      return true
    } catch (err) {
      this.failHandler(err)
      return false
    }
  }

  start (): void {
    const h = this.#handler
    const ok = this.#call(() => {
      if (this.#modern) h.onRequestStart!(this, undefined)
      else h.onConnect?.((reason?: unknown) => this.abort(reason), undefined)
    })
    if (!ok || this.#done) return
    const { opts, method, path, headers } = this.#input
    const request: DedicatedRequest = { method, path, headers, upgrade: typeof opts.upgrade === 'string' && opts.upgrade ? opts.upgrade : null }
    if (opts.headersTimeout != null) request.headersTimeout = opts.headersTimeout
    if (typeof h.onHeaders === 'function' || typeof h.onResponseStart === 'function') request.onInformational = (info) => this.#informational(info)
    this.#bodyTimeout = opts.bodyTimeout ?? this.#dedicated.bodyTimeout
    let x: DedicatedExchange
    try {
      x = this.#dedicated.open(request)
    } catch (err) {
      this.failHandler(this.#input.toError(err))
      return
    }
    this.#exchange = x
    x.promise.then((out) => this.#answered(out), (err: unknown) => this.failHandler(this.#input.toError(err)))
  }

  abort (reason?: unknown): void {
    if (this.#done) return
    this.#aborted = true
    this.#reason = reason
    this.failHandler(reason ?? requestAborted())
  }

  pause (): void {
    if (this.#done) return
    this.#paused = true
    this.#clearBodyTimer()
    this.#response?.pause()
  }

  resume (): void {
    if (!this.#paused) return
    this.#paused = false
    if (this.#done || !this.#response) return
    this.#armBodyTimer()
    this.#response.resume()
  }

  /** Ends the exchange with `err` delivered to the handler; the dedicated connection is destroyed. */
  failHandler (err: unknown): void {
    if (this.#done) return
    this.#finish()
    this.#exchange?.fail(new ConnectionClosedError('ERR_DESTROYED', 'the upgrade was given up', { cause: err }))
    this.#response?.destroy()
    this.#socket?.destroy()
    try {
      if (this.#modern) {
        if (typeof this.#handler.onResponseError !== 'function') throw invalidArgument('invalid onError method')
        this.#handler.onResponseError(this, err as Error)
      } else {
        this.#handler.onError!(err as Error)
      }
    } catch (e) {
      this.#input.owner.report(e)
    }
  }

  #informational (info: InformationalResponse): void {
    if (this.#done) return
    const h = this.#handler
    // As undici's client: 1xx (but 100, and the 101 itself) go to onHeaders / onResponseStart; the
    // return value is ignored. undici's upgrade() handler throws here ('bad upgrade').
    if (info.status === 100) return
    this.#call(() => {
      if (this.#modern) h.onResponseStart?.(this, info.status, headersObjectFromList(info.rawHeaders), info.statusText)
      else h.onHeaders?.(info.status, toBuffers(info.rawHeaders), () => {}, info.statusText)
    })
  }

  #answered (out: DedicatedOutcome): void {
    if (this.#done) {
      out.socket.destroy()
      return
    }
    if (out.kind === 'switched') {
      this.#switched(out)
      return
    }
    this.#response = out.response
    this.#socket = out.socket
    if (out.statusCode === 101) {
      // A 101 without Upgrade / Connection: upgrade: not a protocol switch (undici's parser
      // would not hand the socket over either).
      this.failHandler(badUpgrade())
      return
    }
    this.#respond(out)
  }

  #switched (out: Extract<DedicatedOutcome, { kind: 'switched' }>): void {
    const { socket, head, statusCode, rawHeaders } = out
    const h = this.#handler
    // undici pushes what was read past the head back into the socket before the hand-over.
    if (head.length > 0) socket.unshift(head)
    this.rawHeaders = toBuffers(rawHeaders)
    this.#finish()
    try {
      if (this.#modern) {
        h.onRequestUpgrade?.(this, statusCode, headersObjectFromList(rawHeaders), socket)
      } else {
        h.onResponseStarted?.()
        h.onUpgrade!(statusCode, this.rawHeaders, socket)
      }
    } catch (err) {
      // undici: a throwing onUpgrade gets the error through onError, and the socket is destroyed.
      socket.destroy()
      this.#done = false
      this.failHandler(err)
    }
  }

  #respond (out: Extract<DedicatedOutcome, { kind: 'response' }>): void {
    const h = this.#handler
    const res = out.response
    this.rawHeaders = toBuffers(out.rawHeaders)
    const ok = this.#call(() => {
      if (this.#modern) {
        h.onResponseStart?.(this, out.statusCode, headersObjectFromList(out.rawHeaders), out.statusText)
      } else {
        h.onResponseStarted?.()
        if (h.onHeaders?.(out.statusCode, this.rawHeaders!, () => this.resume(), out.statusText) === false) this.pause()
      }
    })
    if (!ok || this.#done) return
    if (this.#paused) res.pause()
    else this.#armBodyTimer()
    res.on('data', (chunk: Buffer) => {
      if (this.#done) return
      this.#armBodyTimer()
      this.#call(() => {
        if (this.#modern) h.onResponseData?.(this, chunk)
        else if (h.onData?.(chunk) === false) this.pause()
      })
    })
    res.on('end', () => {
      if (this.#done) return
      this.#finish()
      out.socket.destroy()  // never reused: the connection was made for this one request
      this.rawTrailers = []
      try {
        if (this.#modern) h.onResponseEnd?.(this, {})
        else h.onComplete?.([])
      } catch (err) {
        this.#done = false
        this.failHandler(err)
      }
    })
    const cut = (err?: Error): void => {
      if (this.#done) return
      this.failHandler(this.#input.toError(new ConnectionClosedError('ERR_CONNECTION_CLOSED', 'the server closed the connection before the end of the response body', { cause: err })))
    }
    res.on('error', cut)
    res.on('aborted', () => cut())
    res.on('close', () => { if (!res.complete) cut() })
  }

  #armBodyTimer (): void {
    this.#clearBodyTimer()
    const ms = this.#bodyTimeout
    if (ms > 0 && !this.#paused) {
      this.#bodyTimer = setTimeout(() => {
        this.#bodyTimer = null
        this.failHandler(this.#input.toError(new TimeoutError('ERR_BODY_TIMEOUT', `the response body was idle for ${ms} ms`)))
      }, ms)
    }
  }

  #clearBodyTimer (): void {
    if (this.#bodyTimer) clearTimeout(this.#bodyTimer)
    this.#bodyTimer = null
  }
}
