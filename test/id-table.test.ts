import { describe, it, expect } from 'vitest'
import { createRequire } from 'node:module'

// A connection's live exchanges by request id (lib/id-table.ts), checked against a Map.
const { IdTable } = createRequire(import.meta.url)('../dist/cjs/id-table.js')

// A small deterministic PRNG (mulberry32): the same sequence on every run.
function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function check (t: InstanceType<typeof IdTable>, ref: Map<number, string>, probes: number[]): void {
  expect(t.size).toBe(ref.size)
  for (const id of probes) expect(t.get(id)).toBe(ref.get(id))
  expect(t.values()).toEqual([...ref.keys()].sort((a, b) => a - b).map((k) => ref.get(k)))
}

describe('IdTable', () => {
  it('gets, replaces and deletes; absent ids give undefined and false', () => {
    const t = new IdTable()
    expect(t.get(1)).toBeUndefined()
    expect(t.delete(1)).toBe(false)
    t.set(1, 'a')
    t.set(9, 'b') // the same home slot as 1 in a table of 4 or 8 pairs
    t.set(17, 'c')
    expect([t.get(1), t.get(9), t.get(17), t.get(25)]).toEqual(['a', 'b', 'c', undefined])
    t.set(9, 'B')
    expect(t.size).toBe(3)
    expect(t.delete(1)).toBe(true) // the head of a probe run: the rest must stay reachable
    expect([t.get(1), t.get(9), t.get(17)]).toEqual([undefined, 'B', 'c'])
    expect(t.values()).toEqual(['B', 'c'])
    t.clear()
    expect(t.size).toBe(0)
    expect(t.get(9)).toBeUndefined()
  })

  it('refuses ids that are not positive safe integers', () => {
    const t = new IdTable()
    for (const bad of [0, -1, 1.5, NaN, 2 ** 53]) expect(() => t.set(bad, 'x')).toThrow(RangeError)
  })

  it('agrees with a Map over random adds and deletes, across growth, wrap-around and ids past 2^32', () => {
    for (const [seed, base, spread] of [[1, 1, 64], [2, 1, 5000], [3, 2 ** 32 - 40, 200], [4, 2 ** 40, 100000]] as const) {
      const next = rng(seed)
      const t = new IdTable()
      const ref = new Map<number, string>()
      let id = base
      for (let step = 0; step < 4000; step++) {
        const live = [...ref.keys()]
        if (live.length === 0 || next() < 0.55) {
          id += 1 + Math.floor(next() * (spread / 64)) // ids only grow, with gaps (other connections' ids)
          t.set(id, `v${id}`)
          ref.set(id, `v${id}`)
        } else {
          const victim = live[Math.floor(next() * live.length)]!
          expect(t.delete(victim)).toBe(true)
          ref.delete(victim)
        }
        if (step % 97 === 0) check(t, ref, [...ref.keys(), id + 1, base - 1 > 0 ? base - 1 : 1])
      }
      check(t, ref, [...ref.keys()])
      for (const k of [...ref.keys()]) {
        expect(t.delete(k)).toBe(true)
        ref.delete(k)
      }
      check(t, ref, [id])
    }
  })
})
