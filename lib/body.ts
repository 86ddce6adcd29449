/**
 * Response body: a Node `Readable` (so `pipeline()` works, and it is async-iterable) whose
 * `_read()` asks hyper for the next chunk: that request is the backpressure.
 */
import { Readable } from 'node:stream'
import { HyperError } from './errors.js'
import type { NativeConnection } from './native.js'

/** @internal */
export const kPush = Symbol('push')
/** @internal */
export const kEnd = Symbol('end')
/** @internal */
export const kFail = Symbol('fail')
/** @internal */
export const kTakeBuffered = Symbol('takeBuffered')

export class ResponseBody extends Readable {
  #native: NativeConnection | null
  #id: number
  #readPending: boolean
  #ended = false
  #dumping: Promise<void> | null = null
  #dumpResolve: (() => void) | null = null
  #dumpReject: ((e: Error) => void) | null = null
  #error: Error | null = null
  #deferredError: Error | null = null
  #onConsume: (() => void) | null
  /** Taken by text()/json()/arrayBuffer()/bytes() or by the undici adapter. */
  #taken = false

  /** @internal */
  constructor (native: NativeConnection, id: number, first: Buffer | null, ended: boolean, readOutstanding: boolean,
    onConsume: (() => void) | null = null) {
    // highWaterMark 0: no read-ahead of our own. Readable would otherwise call _read() to fill
    // its buffer without any consumer, and _read() is how we learn that someone is reading (an
    // unread body stays collectable). hyper already keeps at most one chunk in flight.
    super({ highWaterMark: 0 })
    this.#native = native
    this.#id = id
    this.#onConsume = onConsume
    // The addon reads ahead at most one chunk while the head is on its way to JS.
    this.#readPending = !ended && readOutstanding
    if (first !== null) this.push(first)
    if (ended) this.#finish()
  }

  #consumed (): void {
    if (this.#onConsume) {
      const f = this.#onConsume
      this.#onConsume = null
      f()
    }
  }

  override _read (): void {
    this.#consumed()
    if (this.#deferredError) {
      const err = this.#deferredError
      this.#deferredError = null
      this.#destroyWith(err)
      return
    }
    if (this.#readPending || this.#ended || this.#dumping) return
    this.#readPending = true
    this.#native!.read(this.#id)
  }

  override _destroy (err: Error | null, cb: (error?: Error | null) => void): void {
    if (!this.#ended && this.#native) {
      // Not fully read: let the addon discard the rest so the connection stays usable.
      this.#native.dump(this.#id)
      this.#dumping ??= Promise.resolve()
    }
    cb(err)
  }

  /** @internal */
  [kPush] (chunk: Buffer): void {
    this.#readPending = false
    if (this.#dumping || this.destroyed) return
    this.push(chunk)
  }

  /**
   * A 'data' listener that throws (from push(), or from Readable's own flow on a nextTick) cuts
   * Readable's bookkeeping short: it would never ask for more, stalling the body and its
   * connection. End the body with what the listener threw, as undici does; the throw still
   * propagates (reported as uncaught, never swallowed).
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
    this.#native = null
    this.#error = err
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
    this.#native = null
    if (this.#dumpResolve) {
      this.#dumpResolve()
      this.#dumpReject = this.#dumpResolve = null
    }
    if (this.destroyed) return
    if (this.#dumping) this.destroy()
    else this.push(null)
  }

  /**
   * @internal
   * The whole body, taken synchronously, when it has fully arrived and nobody reads it yet (the
   * common small-response case); null otherwise (then read it as a stream).
   */
  [kTakeBuffered] (): Buffer[] | null {
    if (!this.#ended || this.#error || this.destroyed || this.readableFlowing !== null || this.#taken) return null
    this.#consumed()
    this.#taken = true
    const chunks: Buffer[] = []
    let chunk: Buffer | null
    while ((chunk = this.read() as Buffer | null) !== null) chunks.push(chunk)
    return chunks
  }

  /** Reads the whole body as a Buffer. */
  async #collect (): Promise<Buffer> {
    const chunks: Buffer[] = []
    let size = 0
    if (this.destroyed && this.#error) throw this.#error
    // A body is read once, as with fetch's Response.text(): a second reader would get '' (or
    // whatever was left), which looks like a successful read of an empty body.
    if (this.#taken || this.#dumping || this.readableDidRead || this.destroyed) {
      throw new HyperError('ERR_BODY_ALREADY_USED', 'the response body was already read, dumped or destroyed')
    }
    // The whole body is already buffered (the common small-response case: it arrived with the
    // head): take it synchronously instead of paying for an async iterator.
    const buffered = this[kTakeBuffered]()
    if (buffered !== null) return buffered.length === 1 ? buffered[0]! : Buffer.concat(buffered)
    this.#taken = true
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

  /** Reads the whole body as UTF-8 text. Like the other readers, once: a second read rejects with `ERR_BODY_ALREADY_USED`. */
  async text (): Promise<string> {
    return (await this.#collect()).toString('utf8')
  }

  /** Reads the whole body and parses it as JSON. */
  async json<T = unknown> (): Promise<T> {
    return JSON.parse(await this.text()) as T
  }

  /** Reads the whole body into an ArrayBuffer. */
  async arrayBuffer (): Promise<ArrayBuffer> {
    const b = await this.#collect()
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer
  }

  /** Reads the whole body into a Uint8Array. */
  async bytes (): Promise<Uint8Array> {
    const b = await this.#collect()
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
  }

  /**
   * Discards the rest of the body without buffering it (the addon reads and drops it), so the
   * connection can serve the next request. Resolves when the body has ended.
   */
  dump (): Promise<void> {
    if (this.#ended) {
      if (!this.destroyed) this.destroy()
      return Promise.resolve()
    }
    if (this.#dumping) return this.#dumping
    this.#consumed()
    this.#dumping = new Promise<void>((resolve, reject) => {
      this.#dumpResolve = resolve
      this.#dumpReject = reject
    })
    this.#native!.dump(this.#id)
    return this.#dumping
  }
}
