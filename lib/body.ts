/**
 * Response body: a Node `Readable` (so `pipeline()` works, and it is async-iterable) whose
 * `_read()` asks for the next chunk: that demand is the backpressure.
 */
import { Readable } from 'node:stream'
import { HyperError, InvalidArgumentError } from './errors.js'

/** @internal */
export const kPush = Symbol('push')
/** @internal */
export const kEnd = Symbol('end')
/** @internal */
export const kFail = Symbol('fail')

/** @internal Where a body's bytes come from: its exchange on a connection. */
export interface BodySource {
  /** The consumer wants more: the next kPush (or kEnd) answers. */
  read (): void
  /** Discard the rest without events; past `limit` bytes give the exchange up instead (close/reset). */
  dump (limit: number): void
  /** The consumer is gone before the end: give the exchange up (HTTP/1 closes the connection, HTTP/2 resets the stream). */
  abandon (): void
  /** The whole body's length as its head declared it (a single content-length, no transfer-encoding), else -1. */
  bodyLength? (): number
  /**
   * Have the rest of the body copied straight into `dest` (bodyLength() bytes), after what
   * was delivered already: kPush only for a chunk already on its way, then kEnd (or kFail).
   * False when it cannot (then nothing changed).
   */
  collect? (dest: Uint8Array): boolean
}

/** Below this a body arrives in one or two deliveries anyway: read whole bodies as a stream. */
const COLLECT_MIN = 64 * 1024
/**
 * Above this the buffer is not allocated up front from the head's word: a server could announce
 * gigabytes and send nothing. Longer bodies are read as a stream and joined (memory then grows
 * with what actually arrives).
 */
const COLLECT_MAX = 64 * 1024 * 1024

interface Collector {
  dest: Buffer
  filled: number
  resolve: (b: Buffer) => void
  reject: (e: Error) => void
}

/** What an unread body that is garbage-collected may still discard before its connection is closed instead. */
export const GC_DUMP_LIMIT = 128 * 1024

function bodyUsed (what: string): HyperError {
  return new HyperError('ERR_BODY_ALREADY_USED', `the response body was already ${what}`)
}

export class ResponseBody extends Readable {
  #source: BodySource | null
  #readPending = false
  #ended = false
  #used: string | null = null
  #dumping: Promise<void> | null = null
  #dumpResolve: (() => void) | null = null
  #dumpReject: ((e: Error) => void) | null = null
  #error: Error | null = null
  #deferredError: Error | null = null
  #onConsume: (() => void) | null
  /** text()/json()/bytes()/arrayBuffer() of a large body of known length: the addon fills this. */
  #collector: Collector | null = null
  /**
   * A body that arrived complete with its head, kept out of the stream until someone reads it
   * as one (null: nothing left but the end). Pushing it into the Readable at once and reading
   * it back cost more than the rest of a small request's JS (push, push(null), read() and the
   * ticks they schedule); text()/bytes() take it directly. undefined: the stream has it all.
   */
  #whole: Buffer | null | undefined = undefined

  /** @internal */
  constructor (source: BodySource | null, first: Buffer | null, ended: boolean, onConsume: (() => void) | null = null) {
    // highWaterMark 0: no read-ahead of our own. Readable would otherwise call _read() to fill
    // its buffer without any consumer, and _read() is how we learn that someone is reading (an
    // unread body stays collectable). The addon already reads ahead up to 64 KiB.
    super({ highWaterMark: 0 })
    this.#source = ended ? null : source
    this.#onConsume = onConsume
    if (ended) {
      this.#ended = true
      this.#whole = first
    } else if (first !== null) {
      this.push(first)
    }
  }

  #consumed (): void {
    if (this.#onConsume) {
      const f = this.#onConsume
      this.#onConsume = null
      f()
    }
  }

  override _read (): void {
    if (this.#whole !== undefined) {
      // Read as a stream after all: the complete body goes in now, then its end.
      const whole = this.#whole
      this.#whole = undefined
      this.#used ??= 'read'
      if (whole !== null) this.push(whole)
      this.push(null)
      return
    }
    if (this.#collector) return
    this.#consumed()
    this.#used ??= 'read'
    if (this.#deferredError) {
      const err = this.#deferredError
      this.#deferredError = null
      this.#destroyWith(err)
      return
    }
    if (this.#readPending || this.#ended || this.#dumping) return
    this.#readPending = true
    this.#source!.read()
  }

  override _destroy (err: Error | null, cb: (error?: Error | null) => void): void {
    // Not fully read (destroy(), a `break` out of `for await`, a failed pipeline): give the
    // exchange up rather than download the rest nobody wants (HTTP/1 closes the connection).
    if (!this.#ended && this.#source && !this.#dumping) this.#source.abandon()
    this.#source = null
    this.#whole = undefined
    if (this.#collector) this.#settleCollector(err ?? new HyperError('ERR_BODY_DESTROYED', 'the response body was destroyed before its end'))
    cb(err)
  }

  /** @internal */
  [kPush] (chunk: Buffer): void {
    this.#readPending = false
    const c = this.#collector
    if (c) {
      // A chunk that was on its way when the addon started filling the buffer: it goes before
      // what the addon copied (which starts after every byte it delivered).
      if (chunk.length > c.dest.length - c.filled) {
        this.#settleCollector(new HyperError('ERR_RESPONSE_CONTENT_LENGTH_MISMATCH', `the response body is longer than its content-length (${c.dest.length} bytes)`))
        this.#source?.abandon()
        return
      }
      c.dest.set(chunk, c.filled)
      c.filled += chunk.length
      return
    }
    if (this.#dumping || this.destroyed) return
    this.push(chunk)
  }

  /**
   * A 'data' listener that throws (from push(), or from Readable's own flow on a nextTick) cuts
   * Readable's bookkeeping short: it would never ask for more, stalling the body and its
   * connection. End the body with what the listener threw, as undici does (the exchange is
   * given up); the throw still propagates (reported as uncaught, never swallowed).
   */
  override emit (event: string | symbol, ...args: unknown[]): boolean {
    if (event !== 'data') return super.emit(event, ...args)
    try {
      return super.emit(event, ...args)
    } catch (err) {
      if (!this.destroyed) this.#destroyWith(err instanceof Error ? err : new Error(String(err)))
      throw err
    }
  }

  /** @internal */
  [kEnd] (): void {
    this.#finish()
  }

  /** @internal */
  [kFail] (err: Error): void {
    const wasReading = this.#readPending
    this.#ended = true
    this.#readPending = false
    this.#source = null
    this.#error = err
    if (this.#collector) {
      this.#settleCollector(err)
      if (!this.destroyed) this.destroy()
      return
    }
    if (this.#dumpReject) {
      this.#dumpReject(err)
      this.#dumpReject = this.#dumpResolve = null
    }
    if (this.destroyed) return
    if (wasReading || this.listenerCount('error') > 0) {
      this.#destroyWith(err)
    } else {
      // Nobody is reading yet (the error can arrive in the same batch as the head): keep
      // the chunks already received readable and report the error to the first consumer.
      this.#deferredError = err
    }
  }

  /** Destroys with `err`, but like Node's IncomingMessage never emits 'error' with no listener. */
  #destroyWith (err: Error): void {
    if (this.listenerCount('error') > 0) this.destroy(err)
    else this.destroy()
  }

  #finish (): void {
    this.#ended = true
    this.#readPending = false
    this.#source = null
    if (this.#collector) this.#settleCollector(null)
    if (this.#dumpResolve) {
      this.#dumpResolve()
      this.#dumpReject = this.#dumpResolve = null
    }
    if (this.destroyed) return
    if (this.#dumping) this.destroy()
    else this.push(null)
  }

  /** Whether the body was read (as a stream or whole) or dumped. */
  get bodyUsed (): boolean {
    return this.#used !== null
  }

  /**
   * @internal
   * The whole body, taken synchronously, when it has fully arrived and nobody reads it yet (the
   * common small-response case); null otherwise (then read it as a stream).
   */
  takeBuffered (): Buffer[] | null {
    if (!this.#ended || this.#error || this.destroyed || this.readableFlowing !== null) return null
    if (this.#whole !== undefined) {
      // Only the end is left for the stream (pushed if someone reads it after all).
      const whole = this.#whole
      this.#whole = null
      return whole === null ? [] : [whole]
    }
    this.#consumed()
    const chunks: Buffer[] = []
    let chunk: Buffer | null
    while ((chunk = this.read() as Buffer | null) !== null) chunks.push(chunk)
    return chunks
  }

  /**
   * The whole body when it is all here already (the common small-response case: it arrived with
   * the head), taken synchronously and marked read; null when it has to be read ({@link #collect}).
   * Throws what the read would reject with. The whole-body calls take this path without an
   * extra promise or await.
   */
  #wholeNow (): Buffer | null {
    if (this.#used !== null) throw bodyUsed(this.#used === 'dumped' ? 'dumped' : 'read')
    if (this.destroyed && this.#error) throw this.#error
    const buffered = this.takeBuffered()
    if (buffered === null) return null
    this.#used = 'read'
    return buffered.length === 1 ? buffered[0]! : Buffer.concat(buffered)
  }

  /** Reads the whole body as a Buffer, after {@link #wholeNow} found it not all here yet. */
  async #collect (): Promise<Buffer> {
    this.#used = 'read'
    const whole = this.#collectWhole()
    if (whole !== null) return whole
    const chunks: Buffer[] = []
    let size = 0
    try {
      for await (const chunk of this) {
        chunks.push(chunk as Buffer)
        size += (chunk as Buffer).length
      }
    } catch (err) {
      throw this.#error ?? err
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)
  }

  /**
   * The rest of a large body of known length, copied by the addon straight into one buffer:
   * no Buffer per chunk and no joining them (one allocation and one copy per byte instead of two).
   * Null when that does not apply (then the body is read as a stream).
   */
  #collectWhole (): Promise<Buffer> | null {
    const source = this.#source
    if (source === null || source.collect === undefined || this.#ended || this.#error || this.#deferredError ||
      this.destroyed || this.readableFlowing !== null) return null
    const size = source.bodyLength?.() ?? -1
    if (size < COLLECT_MIN || size > COLLECT_MAX || size < this.readableLength) return null
    const dest = Buffer.allocUnsafeSlow(size)
    if (!source.collect(dest)) return null
    // The addon writes into `dest` until the exchange ends: from now on the exchange holds this
    // body (and through the collector, `dest`) strongly, not only the caller's promise (which
    // nothing may keep: an unreachable body would be collected and dumped mid-read).
    this.#consumed()
    return new Promise<Buffer>((resolve, reject) => {
      const c: Collector = { dest, filled: 0, resolve, reject }
      this.#collector = c
      // What the stream holds already comes first (read() would ask for more: _read is off now).
      if (this.readableLength > 0) {
        const held = this.read() as Buffer
        dest.set(held, 0)
        c.filled = held.length
      }
    })
  }

  #settleCollector (err: Error | null): void {
    const c = this.#collector
    if (c === null) return
    this.#collector = null
    if (err) c.reject(err)
    else c.resolve(c.dest)
  }

  /** Reads the whole body as UTF-8 text. */
  async text (): Promise<string> {
    return (this.#wholeNow() ?? await this.#collect()).toString('utf8')
  }

  /** Reads the whole body and parses it as JSON. */
  async json<T = unknown> (): Promise<T> {
    return JSON.parse((this.#wholeNow() ?? await this.#collect()).toString('utf8')) as T
  }

  /** Reads the whole body into an ArrayBuffer. */
  async arrayBuffer (): Promise<ArrayBuffer> {
    const b = this.#wholeNow() ?? await this.#collect()
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer
  }

  /** Reads the whole body into a Uint8Array. */
  async bytes (): Promise<Uint8Array> {
    const b = this.#wholeNow() ?? await this.#collect()
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
  }

  /**
   * Discards the rest of the body without buffering it (the addon reads and drops it), so the
   * connection can serve the next request. With `limit`, a body longer than that is not read to
   * its end: the exchange is given up instead (HTTP/1 closes the connection, HTTP/2 resets the
   * stream). Resolves when the body is gone.
   */
  dump (options: { limit?: number } = {}): Promise<void> {
    const limit = options?.limit ?? Infinity
    if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
      return Promise.reject(new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'limit', 'dump limit must be a non-negative number'))
    }
    this.#used = 'dumped'
    if (this.#ended) {
      if (!this.destroyed) this.destroy()
      return this.#error ? Promise.reject(this.#error) : Promise.resolve()
    }
    if (this.#dumping) return this.#dumping
    this.#consumed()
    this.#dumping = new Promise<void>((resolve, reject) => {
      this.#dumpResolve = resolve
      this.#dumpReject = reject
    })
    this.#source!.dump(limit)
    return this.#dumping
  }
}
