import { describe, it, expect } from 'vitest'
import { createRequire } from 'node:module'

// HyperDispatcher's list of in-flight dispatches (close() waits for them, destroy() fails them).
const { ActiveList } = createRequire(import.meta.url)('../dist/cjs/dispatcher/controller.js')

const entry = (name: string) => ({ name, activePrev: null, activeNext: null, whenSettled: async () => {}, failHandler: () => {} })
const names = (l: { toArray (): Array<{ name: string }> }) => l.toArray().map((x) => x.name)

describe('ActiveList', () => {
  it('keeps what was added and not yet deleted, whatever the order of deletion', () => {
    const l = new ActiveList()
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(entry)
    for (const x of [a, b, c, d]) l.add(x)
    expect(names(l).sort()).toEqual(['a', 'b', 'c', 'd'])
    l.delete(c) // middle
    expect(names(l).sort()).toEqual(['a', 'b', 'd'])
    l.delete(d) // first
    expect(names(l).sort()).toEqual(['a', 'b'])
    l.delete(a) // last
    expect(names(l)).toEqual(['b'])
    l.delete(b)
    expect(names(l)).toEqual([])
  })

  it('deleting twice, or an entry never added, changes nothing; a deleted entry holds no links', () => {
    const l = new ActiveList()
    const [a, b, stranger] = ['a', 'b', 'x'].map(entry)
    l.add(a)
    l.add(b)
    l.delete(a)
    expect(a.activePrev).toBeNull()
    expect(a.activeNext).toBeNull()
    l.delete(a)
    l.delete(stranger)
    expect(names(l)).toEqual(['b'])
  })

  it('toArray is a snapshot: entries may settle while it is walked', () => {
    const l = new ActiveList()
    const all = Array.from({ length: 5 }, (_, i) => entry(String(i)))
    for (const x of all) l.add(x)
    for (const x of l.toArray()) l.delete(x)
    expect(names(l)).toEqual([])
  })
})
