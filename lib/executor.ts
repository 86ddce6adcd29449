/**
 * Executor: drives hyper on this thread's libuv loop. Each connection has its own
 * `hyper_executor`; an Executor is the per-loop driver that polls them when their sockets are
 * ready, drives intent recorded from JS once per loop turn, and delivers results to JS in one
 * batch per turn. Most programs use the default one.
 */
import { binding, type NativeExecutor } from './native.js'
import { Slot } from './protocol.js'

/** @internal */
export const kOnEvent = Symbol('onEvent')

/** @internal What receives the addon's events: each event's record is at `at` in `meta`. */
export interface EventTarget {
  [kOnEvent](meta: Float64Array, at: number, text: string, objects: unknown[]): void
}

/** How many event records one batch holds (more events: several calls). */
const RECORDS = 512

function dispatcher (meta: Float64Array): (count: number, text: string, objects: unknown[]) => void {
  return (count, text, objects) => {
    let firstError: unknown
    let failed = false
    for (let i = 0, at = 0; i < count; i++, at += Slot.Size) {
      const owner = objects[meta[at + Slot.Owner]!] as EventTarget | undefined
      if (owner === undefined) continue // collected while idle: nobody to tell
      try {
        owner[kOnEvent](meta, at, text, objects)
      } catch (err) {
        // A user 'data' handler can run synchronously inside push(): finish the batch first,
        // then rethrow so the error surfaces as an uncaught exception (never swallowed).
        if (!failed) {
          failed = true
          firstError = err
        }
      }
    }
    if (failed) throw firstError
  }
}

export class Executor {
  /** @internal */
  readonly native: NativeExecutor
  static #default: Executor | undefined

  constructor () {
    const meta = new Float64Array(RECORDS * Slot.Size)
    this.native = new binding.Executor(dispatcher(meta), meta)
  }

  /** The executor shared by connections that do not name one (one per thread). */
  static get default (): Executor {
    return (Executor.#default ??= new Executor())
  }
}
