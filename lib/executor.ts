/**
 * Executor: drives hyper on this thread's libuv loop. Each connection has its own
 * `hyper_executor`; an Executor is the per-loop driver that polls them when their sockets are
 * ready, drives intent recorded from JS once per loop turn, and delivers results to JS in one
 * batch per turn. Most programs use the default one.
 */
import { binding, type NativeExecutor } from './native.js'

/** @internal */
export const kOnEvent = Symbol('onEvent')

/** @internal */
export interface EventTarget {
  [kOnEvent](kind: number, id: number, payload: unknown): void
}

function dispatch (events: unknown[]): void {
  let firstError: unknown
  let failed = false
  for (let i = 0; i < events.length; i += 4) {
    const owner = events[i + 1] as EventTarget | undefined
    if (owner === undefined) continue // collected while idle: nobody to tell
    try {
      owner[kOnEvent](events[i] as number, events[i + 2] as number, events[i + 3])
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

export class Executor {
  /** @internal */
  readonly native: NativeExecutor
  static #default: Executor | undefined

  constructor () {
    this.native = new binding.Executor(dispatch)
  }

  /** The executor shared by connections that do not name one (one per thread). */
  static get default (): Executor {
    return (Executor.#default ??= new Executor())
  }
}
