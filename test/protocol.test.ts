// The wire contract: lib/protocol.ts (what the JS side reads) and native/src/protocol.h (what
// the addon writes) must hold the same tables. Either side changing alone fails here.
import { describe, it, expect } from 'vitest'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { binding } = require('../dist/cjs/native.js')
const protocol = require('../dist/cjs/protocol.js')

describe('native <-> JS wire contract', () => {
  const native = binding.protocol() as Record<string, Record<string, number>>

  // tsc keeps const enums as objects (preserveConstEnums): { Name: value, value: 'Name' }.
  function table (e: Record<string, string | number>): Record<string, number> {
    return Object.fromEntries(Object.entries(e).filter(([, v]) => typeof v === 'number')) as Record<string, number>
  }

  const TABLES = ['Attempt', 'AttemptOutcome', 'ConnInfo', 'Err', 'Event', 'Flag', 'Limit', 'Slot', 'Tls', 'Tunnel']
  for (const name of TABLES) {
    it(`${name}: the same names and values on both sides`, () => {
      expect(protocol[name], `lib/protocol.ts exports ${name}`).toBeTypeOf('object')
      expect(table(protocol[name])).toEqual(native[name])
    })
  }

  it('covers every table the addon has', () => {
    expect(Object.keys(native).sort()).toEqual(TABLES)
  })

  it('slot counts match what the addon sends', async () => {
    // An error tuple from a real refusal: a destroyed connection's request() answers synchronously.
    const { Executor, kOnEvent } = require('../dist/cjs/executor.js')
    const events: number[] = []
    const owner = { [kOnEvent]: (meta: Float64Array, at: number) => events.push(meta[at + native.Slot.Kind]!) }
    const conn = new binding.Connection(new Executor().native, owner, {})
    conn.destroy()
    const err = conn.request(1, 'GET\0/', undefined, 0, 0, 0, false)
    expect(Array.isArray(err)).toBe(true)
    expect(err.length).toBe(native.Err.Size)
    expect(err[native.Err.LocalCode]).toBe('ERR_CLOSED')
    for (let i = 0; i < 20 && !events.includes(native.Event.Closed); i++) await new Promise((r) => setTimeout(r, 5))
    expect(events).toEqual([native.Event.Closed])
  })
})
