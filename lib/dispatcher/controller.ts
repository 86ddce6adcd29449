/**
 * The undici face of the exchange core: one controller per dispatched request, driving an
 * undici handler straight from the exchange's callbacks (no promise, no ClientResponse, no body
 * stream). The handler style is chosen once per request: LegacyController for undici's old
 * handlers (`onConnect`/`onHeaders`/`onData`/`onComplete`/`onError`), ModernController for the
 * new ones (`onRequestStart`/`onResponseStart`/`onResponseData`/`onResponseEnd`/`onResponseError`).
 * Backpressure is the exchange's demand: the controller asks for more body only while the
 * handler is not paused.
 * @internal
 */
import { Exchange, type InformationalResponse } from '../exchange.js'
import { HyperError } from '../errors.js'
import type { ResponseHead } from '../protocol.js'
import { latin1Pairs } from './convert.js'
import { headersObject, headersObjectFromList, rawBuffers } from '../headers.js'
import { invalidArgument, requestAborted, toUndiciError } from './undici.js'
import { traceError } from '../diagnostics.js'

/** What undici passes to `dispatch()` (the fields node-hyper uses). */
export interface DispatchOptions {
  origin?: string | URL
  path: string
  method: string
  headers?: unknown
  body?: unknown
  query?: Record<string, unknown> | null
  headersTimeout?: number | null
  bodyTimeout?: number | null
  expectContinue?: boolean | null
  upgrade?: string | null
  [key: string]: unknown
}

/** The controller a new-style handler receives (undici 7's `DispatchController`). */
export interface DispatchController {
  readonly aborted: boolean
  readonly paused: boolean
  readonly reason: unknown
  /** Raw response head (`Buffer`s, wire order) once it arrived. */
  readonly rawHeaders: Buffer[] | null
  readonly rawTrailers: Buffer[] | null
  abort (reason?: unknown): void
  pause (): void
  resume (): void
}

/** A dispatch handler in either of undici's styles (old: `onConnect`/`onHeaders`/...; new: `onRequestStart`/`onResponseStart`/...). */
export interface DispatchHandler {
  onConnect?: (abort: (reason?: unknown) => void, context?: unknown) => void
  onResponseStarted?: () => void
  onHeaders?: (statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string) => boolean | void
  onData?: (chunk: Buffer) => boolean | void
  onComplete?: (trailers: Buffer[] | null) => void
  onError?: (err: Error) => void
  onUpgrade?: (statusCode: number, rawHeaders: Buffer[], socket: unknown) => void
  onRequestStart?: (controller: DispatchController, context: unknown) => void
  onRequestUpgrade?: (controller: DispatchController, statusCode: number, headers: Record<string, string | string[]>, socket: unknown) => void
  onResponseStart?: (controller: DispatchController, statusCode: number, headers: Record<string, string | string[]>, statusMessage?: string) => void
  onResponseData?: (controller: DispatchController, chunk: Buffer) => void
  onResponseEnd?: (controller: DispatchController, trailers: Record<string, string | string[]>) => void
  onResponseError?: (controller: DispatchController, err: Error) => void
  [key: string]: unknown
}

/** A request in flight as its dispatcher sees it (a controller, or an upgrade on a dedicated connection). */
export interface ActiveDispatch {
  /** Resolves once the handler got its last callback. */
  whenSettled (): Promise<void>
  /** Ends it with `err` delivered to the handler. */
  failHandler (err: unknown): void
  /** The owner's links while it is active (see {@link ActiveList}). */
  activePrev: ActiveDispatch | null
  activeNext: ActiveDispatch | null
}

/**
 * The dispatches between their start and their handler's last callback, as an intrusive doubly
 * linked list. Not a `Set`: when V8 outgrows a hash table it leaves the old table linked to the
 * new one, entries included, until a full GC. Under steady load a Set of in-flight requests,
 * added to and deleted from per request, kept such a chain of tables alive through old space, and
 * with it every request's objects (undici's handler and body stream, the head, the header
 * Buffers): undici's `request()` on `HyperDispatcher` promoted ~4x what it does on undici's own
 * `Agent` and ran 2.5x its Mark-Compacts.
 */
export class ActiveList {
  #first: ActiveDispatch | null = null

  add (c: ActiveDispatch): void {
    c.activePrev = null
    c.activeNext = this.#first
    if (this.#first !== null) this.#first.activePrev = c
    this.#first = c
  }

  delete (c: ActiveDispatch): void {
    const prev = c.activePrev
    const next = c.activeNext
    if (prev === null && this.#first !== c) return // not listed
    if (prev !== null) prev.activeNext = next
    else this.#first = next
    if (next !== null) next.activePrev = prev
    c.activePrev = null
    c.activeNext = null
  }

  /** A snapshot, safe to iterate while entries settle. */
  toArray (): ActiveDispatch[] {
    const out: ActiveDispatch[] = []
    for (let c = this.#first; c !== null; c = c.activeNext) out.push(c)
    return out
  }
}

/** What the controllers need of their dispatcher. */
export interface ControllerOwner {
  /** A request started (close() waits for it, destroy() fails it). */
  started (c: ActiveDispatch): void
  /** A request got its handler's last callback. */
  settled (c: ActiveDispatch): void
  /** A handler threw from its error callback: report it (an 'error' event, or uncaught). */
  report (err: unknown): void
}

/**
 * One dispatched request: the exchange's callbacks become the handler's. A handler callback that
 * throws ends the request with what it threw (as in undici): each call site catches and fails the
 * handler (inline, not through a shared callback wrapper: that cost a closure per call).
 */
export abstract class DispatchExchange extends Exchange implements DispatchController, ActiveDispatch {
  protected readonly owner: ControllerOwner
  protected readonly handler: DispatchHandler
  #paused = false
  #aborted = false
  #reason: unknown = null
  /** The handler got its last callback. */
  #finished = false
  /** Body chunks that arrived while the handler was paused, in order. */
  #held: Buffer[] | null = null
  /** The body ended (the handler hears it once #held is delivered). */
  #ended = false
  #joined: string | null = null
  #rawHeaders: Buffer[] | null = null
  #waiters: (() => void)[] | null = null
  rawTrailers: Buffer[] | null = null
  activePrev: ActiveDispatch | null = null
  activeNext: ActiveDispatch | null = null
  /** undici's `maxHeaderSize`: response header bytes (names and values) at or above it fail the request. */
  maxHeaderSize = 0

  constructor (owner: ControllerOwner, handler: DispatchHandler) {
    super()
    this.owner = owner
    this.handler = handler
  }

  // ---- the handler's side, one implementation per style ----
  protected abstract handlerStart (): void
  protected abstract handlerInformational (info: InformationalResponse): void
  /** false: the handler wants to pause. */
  protected abstract handlerHeaders (status: number, statusText: string, joined: string): boolean
  /** false: the handler wants to pause. */
  protected abstract handlerData (chunk: Buffer): boolean
  protected abstract handlerComplete (): void
  protected abstract handlerError (err: Error): void

  get aborted (): boolean { return this.#aborted }
  get paused (): boolean { return this.#paused }
  get reason (): unknown { return this.#reason }
  get finished (): boolean { return this.#finished }
  /** The raw response head as Buffers (built on first use). */
  get rawHeaders (): Buffer[] | null {
    if (this.#rawHeaders === null && this.#joined !== null) this.#rawHeaders = rawBuffers(this.#joined)
    return this.#rawHeaders
  }

  /** Resolves once the handler got its last callback. */
  whenSettled (): Promise<void> {
    if (this.#finished) return Promise.resolve()
    return new Promise((resolve) => (this.#waiters ??= []).push(resolve))
  }

  /** Tells the handler the request starts; false when it aborted right there (or threw). */
  begin (): boolean {
    try {
      this.handlerStart()
    } catch (err) {
      this.failHandler(err)
    }
    return !this.#finished
  }

  pause (): void {
    if (!this.#finished) this.#paused = true
  }

  resume (): void {
    if (!this.#paused) return
    this.#paused = false
    if (this.#finished) return
    this.#flush()
    if (!this.#finished && !this.#paused && !this.#ended && this.#held === null) this.read()
  }

  override abort (reason?: unknown): void {
    if (this.#finished) return
    this.#aborted = true
    this.#reason = reason
    // On its way or on a connection: the core cancels it there and calls onError. Already over
    // there (a paused handler still holds body): end it here.
    if (!this.done) super.abort(reason)
    else this.failHandler(reason ?? requestAborted())
  }

  // ---- the exchange core's callbacks ----

  override onHead (head: ResponseHead): void {
    if (this.#finished) return
    if (this.maxHeaderSize > 0 && head.rawHeaders.length >= this.maxHeaderSize && headerBytes(head.rawHeaders) >= this.maxHeaderSize) {
      // As undici's parser does (it counts names and values): the head is too big.
      this.failHandler(toUndiciError(new HyperError('ERR_HEADERS_OVERFLOW', `the response headers reach maxHeaderSize (${this.maxHeaderSize} bytes)`)))
      return
    }
    this.#joined = head.rawHeaders
    let go: boolean
    try {
      go = this.handlerHeaders(head.status, head.reason, head.rawHeaders)
    } catch (err) {
      this.failHandler(err)
      return
    }
    if (!go) this.pause()
    const body = head.body
    if (body !== null) this.#deliver(body)
    if (head.ended) this.#end()
    else if (!this.#paused && !this.#finished) this.read()
  }

  override onData (chunk: Buffer): void {
    if (this.#finished) return
    this.#deliver(chunk)
    if (!this.#paused && !this.#finished && this.#held === null) this.read()
  }

  override onEnd (): void {
    if (!this.#finished) this.#end()
  }

  override onError (err: Error): void {
    this.failHandler(this.#aborted ? (this.#reason ?? requestAborted()) : toUndiciError(err))
  }

  override onInformational (info: InformationalResponse): void {
    // 1xx go to onHeaders / onResponseStart as undici's client does (return value ignored);
    // 100 and 101 are handled by the connection.
    if (this.#finished || info.status === 100 || info.status === 101) return
    try {
      this.handlerInformational(info)
    } catch (err) {
      this.failHandler(err)
    }
  }

  #deliver (chunk: Buffer): void {
    if (this.#paused || this.#held !== null) {
      (this.#held ??= []).push(chunk)
      return
    }
    this.#give(chunk)
  }

  #end (): void {
    this.#ended = true
    if (this.#paused || this.#held !== null) return
    this.#complete()
  }

  /** Delivers held chunks (and the end) while the handler keeps reading. */
  #flush (): void {
    const held = this.#held
    while (held !== null && held.length > 0) {
      if (this.#paused || this.#finished) return
      this.#give(held.shift()!)
    }
    this.#held = null
    if (this.#ended && !this.#paused && !this.#finished) this.#complete()
  }

  #complete (): void {
    this.#settle()
    this.rawTrailers = []
    try {
      this.handlerComplete()
    } catch (err) {
      // undici: a throwing onComplete is reported to onError
      this.#finished = false
      this.failHandler(err)
    }
  }

  /** Ends the request with `err` delivered to the handler (and the exchange cancelled). */
  failHandler (err: unknown): void {
    if (this.#finished) return
    this.#settle()
    if (!this.done) super.abort(err) // the core cancels it; our onError then finds us finished
    if (this.diag !== null) traceError(this, err as Error) // diagnostics: the error the handler sees
    try {
      this.handlerError(err as Error)
    } catch (e) {
      this.owner.report(e)
    }
  }

  #settle (): void {
    this.#finished = true
    this.#held = null
    this.owner.settled(this)
    const waiters = this.#waiters
    this.#waiters = null
    if (waiters) for (const f of waiters) f()
  }

  /** Hands the handler one chunk, pausing when it says so; one that throws ends the request. */
  #give (chunk: Buffer): void {
    let go: boolean
    try {
      go = this.handlerData(chunk)
    } catch (err) {
      this.failHandler(err)
      return
    }
    if (!go) this.pause()
  }
}

/** undici's old handler style. */
export class LegacyController extends DispatchExchange {
  protected handlerStart (): void {
    this.handler.onConnect?.((reason?: unknown) => this.abort(reason), undefined)
  }

  protected handlerInformational (info: InformationalResponse): void {
    this.handler.onHeaders?.(info.status, latin1Pairs(headersObjectFromList(info.rawHeaders)), () => {}, info.statusText)
  }

  protected handlerHeaders (status: number, statusText: string, joined: string): boolean {
    const h = this.handler
    h.onResponseStarted?.()
    // Built for the call, not cached on the controller: the controller lives as long as the body
    // stream undici hands out, and Buffers kept that long get promoted out of the young
    // generation (see detachedSlice in protocol.ts).
    return h.onHeaders?.(status, rawBuffers(joined), () => this.resume(), statusText) !== false
  }

  protected handlerData (chunk: Buffer): boolean {
    return this.handler.onData?.(chunk) !== false
  }

  protected handlerComplete (): void {
    this.handler.onComplete?.([])
  }

  protected handlerError (err: Error): void {
    this.handler.onError!(err)
  }
}

/** undici's new handler style (what its interceptors speak). */
export class ModernController extends DispatchExchange {
  protected handlerStart (): void {
    this.handler.onRequestStart!(this, undefined)
  }

  protected handlerInformational (info: InformationalResponse): void {
    this.handler.onResponseStart?.(this, info.status, headersObjectFromList(info.rawHeaders), info.statusText)
  }

  protected handlerHeaders (status: number, statusText: string, joined: string): boolean {
    this.handler.onResponseStart?.(this, status, headersObject(joined), statusText)
    return true // a modern handler pauses through the controller
  }

  protected handlerData (chunk: Buffer): boolean {
    this.handler.onResponseData?.(this, chunk)
    return true
  }

  protected handlerComplete (): void {
    this.handler.onResponseEnd?.(this, {})
  }

  protected handlerError (err: Error): void {
    if (typeof this.handler.onResponseError !== 'function') throw invalidArgument('invalid onError method')
    this.handler.onResponseError(this, err)
  }
}

/** The bytes of the names and values in a NUL-joined header list. */
function headerBytes (joined: string): number {
  let separators = 0
  for (let i = joined.indexOf('\0'); i !== -1; i = joined.indexOf('\0', i + 1)) separators++
  return joined.length - separators
}

/** Presents an old-style handler to new-style code (what undici's interceptors expect). */
export function wrapHandler (handler: DispatchHandler): DispatchHandler {
  if (typeof handler.onRequestStart === 'function') return handler
  return {
    onRequestStart (controller, context) {
      handler.onConnect?.((reason) => controller.abort(reason), context)
    },
    onRequestUpgrade (_controller: DispatchController, statusCode: number, headers: Record<string, unknown>, socket: unknown) {
      handler.onUpgrade?.(statusCode, latin1Pairs(headers), socket)
    },
    onResponseStart (controller, statusCode, headers, statusMessage) {
      if (handler.onResponseStarted) handler.onResponseStarted()
      // From the headers object, not controller.rawHeaders: an interceptor may have changed them.
      if (handler.onHeaders?.(statusCode, latin1Pairs(headers), () => controller.resume(), statusMessage ?? '') === false) controller.pause()
    },
    onResponseData (controller, chunk) {
      if (handler.onData?.(chunk) === false) controller.pause()
    },
    onResponseEnd (_controller, trailers) {
      handler.onComplete?.(latin1Pairs(trailers))
    },
    onResponseError (_controller, err) {
      if (typeof handler.onError !== 'function') throw invalidArgument('invalid onError method')
      handler.onError(err)
    },
  }
}
