/**
 * @internal A connection's live exchanges by request id (ids are positive integers, each used
 * once): open addressing with linear probing over two arrays, backward-shift deletion (no
 * tombstones). It replaces a `Map` that allocated on most requests: V8 shrinks (reallocates) an
 * `OrderedHashMap` when a delete leaves it under a quarter full, which an HTTP/1 connection's
 * map (one exchange at a time) did on every request, and refills a small map's deleted entries by
 * rehashing. This one allocates only when it grows past half full.
 */
export class IdTable<T> {
  #ids: Float64Array // 0: empty
  #values: (T | undefined)[]
  #mask: number
  #size = 0

  constructor (capacity = 8) {
    let n = 8
    while (n < capacity * 2) n *= 2
    this.#ids = new Float64Array(n)
    this.#values = new Array<T | undefined>(n).fill(undefined)
    this.#mask = n - 1
  }

  get size (): number {
    return this.#size
  }

  get (id: number): T | undefined {
    const ids = this.#ids
    const mask = this.#mask
    for (let i = id & mask; ; i = (i + 1) & mask) {
      const at = ids[i]!
      if (at === id) return this.#values[i]
      if (at === 0) return undefined
    }
  }

  /** Adds or replaces the value for `id` (a positive integer). */
  set (id: number, value: T): void {
    if (!(id > 0 && Number.isSafeInteger(id))) throw new RangeError(`IdTable: bad id ${id}`)
    const ids = this.#ids
    const mask = this.#mask
    let i = id & mask
    for (; ids[i] !== 0; i = (i + 1) & mask) {
      if (ids[i] === id) {
        this.#values[i] = value
        return
      }
    }
    if ((this.#size + 1) * 2 > ids.length) {
      this.#grow()
      this.set(id, value)
      return
    }
    ids[i] = id
    this.#values[i] = value
    this.#size++
  }

  delete (id: number): boolean {
    const ids = this.#ids
    const values = this.#values
    const mask = this.#mask
    let i = id & mask
    for (; ids[i] !== id; i = (i + 1) & mask) {
      if (ids[i] === 0) return false
    }
    // Backward shift: move later entries of the probe run into the hole when their home slot
    // is not between the hole and where they are now.
    let j = i
    for (;;) {
      j = (j + 1) & mask
      const at = ids[j]!
      if (at === 0) break
      const home = at & mask
      if (i <= j ? (home > i && home <= j) : (home > i || home <= j)) continue
      ids[i] = at
      values[i] = values[j]
      i = j
    }
    ids[i] = 0
    values[i] = undefined
    this.#size--
    return true
  }

  /** The values, in id order (the order they were added in, as ids only grow). */
  values (): T[] {
    const order: number[] = []
    const ids = this.#ids
    for (let i = 0; i < ids.length; i++) if (ids[i] !== 0) order.push(i)
    order.sort((a, b) => ids[a]! - ids[b]!)
    return order.map((i) => this.#values[i]!)
  }

  clear (): void {
    this.#ids.fill(0)
    this.#values.fill(undefined)
    this.#size = 0
  }

  #grow (): void {
    const ids = this.#ids
    const values = this.#values
    const n = ids.length * 2
    this.#ids = new Float64Array(n)
    this.#values = new Array<T | undefined>(n).fill(undefined)
    this.#mask = n - 1
    this.#size = 0
    for (let i = 0; i < ids.length; i++) if (ids[i] !== 0) this.set(ids[i]!, values[i]!)
  }
}
