/**
 * The promise face of the exchange core: `conn.request()` / `pool.request()` resolve to a
 * ClientResponse whose body is a stream, built on the callback core (exchange.ts).
 */
import { Exchange, type InformationalResponse, type RequestOptions } from './exchange.js'
import { ResponseBody, GC_DUMP_LIMIT, kEnd, kFail, kPush, type BodySource } from './body.js'
import { HyperError } from './errors.js'
import { headersFromRaw, type IncomingHeaders } from './headers.js'
import { splitRawHeaders, type ResponseHead } from './protocol.js'
import { traceError } from './diagnostics.js'
import { responseConnection, responseTimings, type ResponseConnection, type ResponseTimings, type TimedExchange } from './timings.js'

/** A response head with its streaming body. */
export class ClientResponse {
  /** Status code, e.g. 200. */
  readonly status: number
  /** Reason phrase from the status line (latin1, as received). */
  readonly statusText: string
  /** `'1.0'`, `'1.1'` or `'2.0'`. */
  readonly httpVersion: string
  #joined: string
  #raw: string[] | undefined
  #headers: IncomingHeaders | undefined
  #body: ResponseBody | null
  #complete: Buffer | null
  #ex: TimedExchange
  #connection: ResponseConnection | undefined | null = null

  /** @internal */
  constructor (head: ResponseHead, body: ResponseBody | null, ex: TimedExchange) {
    this.#ex = ex
    this.status = head.status
    const v = head.version
    this.httpVersion = v === 20 ? '2.0' : v === 10 ? '1.0' : '1.1'
    this.statusText = head.reason
    this.#joined = head.rawHeaders
    this.#body = body
    // A body that arrived complete with its head: its stream is only made if someone asks.
    this.#complete = body === null ? head.body : null
  }

  /** Headers as received: `[name, value, name, value, ...]` in wire case and order. */
  get rawHeaders (): string[] {
    return (this.#raw ??= splitRawHeaders(this.#joined))
  }

  /** Headers keyed by lower-cased name; repeated values joined with `, ` (`set-cookie` is an array), as Node does. */
  get headers (): IncomingHeaders {
    return (this.#headers ??= headersFromRaw(this.rawHeaders))
  }

  /**
   * When each step of this request happened (`performance.now()` ms) and how long each phase
   * took: queued, DNS, connect, TLS (of a connection opened for it), sent, first byte, end.
   * `end` (and `phases.download`, `phases.total`) are undefined until the body has ended.
   */
  get timings (): ResponseTimings {
    return responseTimings(this.#ex)
  }

  /** The connection that carried this request: reused or new, protocol, peer and local address, TLS. */
  get connection (): ResponseConnection {
    return (this.#connection ??= responseConnection(this.#ex))!
  }

  /** The body stream (also async-iterable, with `text()`, `json()`, `arrayBuffer()`, `bytes()`, `dump()`). */
  get body (): ResponseBody {
    if (this.#body === null) {
      this.#body = new ResponseBody(null, this.#complete, true)
      this.#complete = null
    }
    return this.#body
  }
}

// An unread, unreachable response body is discarded so the connection can move on (up to a
// limit: a long one closes the connection instead, rather than download what nobody reads).
const bodyRegistry = new FinalizationRegistry<WeakRef<ResponseExchange>>((held) => {
  const ex = held.deref()
  if (ex && !ex.done) ex.dump(GC_DUMP_LIMIT)
})

// A body is registered only if it is still unread once the turn that delivered its head is over
// (an immediate), not when it is made. V8's young-generation GC treats a FinalizationRegistry's
// cells as strong references to their targets, and the registry (old space) lists every cell
// until a full GC: registering every body kept every response's objects alive through scavenges
// into old space (HTTP/2, 100 streams: ~1.4 KB promoted per request and a Mark-Compact every
// ~10,000 requests; HTTP/1 bodies of small responses mostly arrive complete and were never
// registered). A body read at once (`await res.body.text()`, `for await`) never is.
let unswept: ResponseExchange[] = []

function sweepUnread (): void {
  const list = unswept
  unswept = []
  for (const ex of list) ex[kRegisterIfUnread]()
}

const kRegisterIfUnread = Symbol('registerIfUnread')

/** One `request()` call: resolves with the head, then feeds the body stream. */
export class ResponseExchange extends Exchange implements BodySource {
  #promise: Promise<ClientResponse> | null
  #resolve!: (r: ClientResponse) => void
  #reject!: (e: Error) => void
  #onInformational: ((res: InformationalResponse) => void) | undefined
  /** Held strongly once someone reads it; until then weakly, so an unread body can be collected. */
  #body: ResponseBody | null = null
  #bodyRef: WeakRef<ResponseBody> | null = null
  /** Held strongly until the end of the turn that made it, then registered if still unread. */
  #bodyUnswept: ResponseBody | null = null
  /** The head's names and values (NUL-joined) while the body streams: for bodyLength(). */
  #rawHeaders = ''

  constructor (options: RequestOptions | undefined) {
    super()
    this.#promise = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    this.#onInformational = options?.onInformational
  }

  /**
   * The caller's promise, handed out once: the exchange must not keep it (through it, the
   * resolved response and its body would stay reachable and an unread body could never be
   * collected).
   */
  takePromise (): Promise<ClientResponse> {
    const p = this.#promise!
    this.#promise = null
    return p
  }

  override onHead (head: ResponseHead): void {
    // The response keeps this exchange (for its timings): not the request body, which no retry
    // needs once a response came (a fixed body went to the addon as a copy; a stream is the pump's).
    this.body = undefined
    if (head.ended) {
      this.#resolve(new ClientResponse(head, null, this))
      return
    }
    this.#rawHeaders = head.rawHeaders
    const body = new ResponseBody(this, head.body, false, () => { this.#body = body })
    this.#bodyRef = new WeakRef(body)
    this.#bodyUnswept = body
    if (unswept.push(this) === 1) setImmediate(sweepUnread)
    const resolve = this.#resolve
    // Drop the settle functions: they reach the resolved promise and through it the response,
    // which would keep an unread body alive.
    this.#resolve = this.#reject = noop
    resolve(new ClientResponse(head, body, this))
  }

  override onData (chunk: Buffer): void {
    this.#liveBody()?.[kPush](chunk)
  }

  override onEnd (): void {
    this.#liveBody()?.[kEnd]()
  }

  override onError (err: Error): void {
    if (this.diag !== null) traceError(this, err)
    if (this.responded) this.#liveBody()?.[kFail](err)
    else this.#reject(err)
  }

  override onInformational (info: InformationalResponse): void {
    if (!this.#onInformational) return
    try {
      this.#onInformational(info)
    } catch (err) {
      // A throwing callback aborts its request; the error is the cause.
      const e = new HyperError('ERR_CALLBACK', `onInformational threw: ${(err as Error)?.message ?? String(err)}`, { cause: err })
      this.holder?.cancelExchange(this, err, e)
    }
  }

  /** @internal End of the head's turn: an unread body is from now on held only weakly. */
  [kRegisterIfUnread] (): void {
    const body = this.#bodyUnswept
    this.#bodyUnswept = null
    if (body !== null && this.#body === null && !this.done) bodyRegistry.register(body, new WeakRef(this))
  }

  #liveBody (): ResponseBody | undefined {
    return this.#body ?? this.#bodyRef?.deref()
  }

  // BodySource (read, dump and collect come from Exchange).
  /** The body's length from a single content-length header, when no transfer-encoding decides instead; else -1. */
  bodyLength (): number {
    return declaredLength(this.#rawHeaders)
  }

  // A body stream destroyed early gives up the exchange.
  abandon (): void {
    if (!this.done) this.abort(new HyperError('ERR_BODY_DESTROYED', 'the response body was destroyed before its end'))
  }
}

function noop (): void {}

/** A single valid content-length and no transfer-encoding among NUL-joined names and values: its value, else -1. */
export function declaredLength (joined: string): number {
  if (joined === '') return -1
  const raw = splitRawHeaders(joined)
  let length = -1
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return -1
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (length !== -1 || !/^\d{1,15}$/.test(raw[i + 1]!)) return -1
      length = Number(raw[i + 1])
    }
  }
  return length
}
