/**
 * @internal A connection's live exchanges by request id (ids are positive integers, each used
 * once): open addressing with linear probing over one array of id/value pairs, backward-shift
 * deletion (no tombstones). It replaces a `Map` that allocated on most requests: V8 shrinks
 * (reallocates) an `OrderedHashMap` when a delete leaves it under a quarter full, which an
 * HTTP/1 connection's map (one exchange at a time) did on every request, and refills a small
 * map's deleted entries by rehashing. This one allocates only when it grows past half full.
 */
export class IdTable<T> {
  /** Pairs: `slots[2i]` an id (0: empty), `slots[2i + 1]` its value. One plain array, allocated on first use. */
  #slots: Array<number | T | undefined> | null = null
  /** Pair count - 1 (a power of two minus one). */
  #mask = 0
  #size = 0

  get size (): number {
    return this.#size
  }

  get (id: number): T | undefined {
    const slots = this.#slots
    if (slots === null) return undefined
    const mask = this.#mask
    for (let i = id & mask; ; i = (i + 1) & mask) {
      const at = slots[2 * i]
      if (at === id) return slots[2 * i + 1] as T
      if (at === 0) return undefined
    }
  }

  /** Adds or replaces the value for `id` (a positive integer). */
  set (id: number, value: T): void {
    if (!(id > 0 && Number.isSafeInteger(id))) throw new RangeError(`IdTable: bad id ${id}`)
    if (this.#slots === null) this.#allocate(4)
    const slots = this.#slots!
    const mask = this.#mask
    let i = id & mask
    for (; slots[2 * i] !== 0; i = (i + 1) & mask) {
      if (slots[2 * i] === id) {
        slots[2 * i + 1] = value
        return
      }
    }
    if ((this.#size + 1) * 2 > mask + 1) {
      this.#grow()
      this.set(id, value)
      return
    }
    slots[2 * i] = id
    slots[2 * i + 1] = value
    this.#size++
  }

  delete (id: number): boolean {
    const slots = this.#slots
    if (slots === null) return false
    const mask = this.#mask
    let i = id & mask
    for (; slots[2 * i] !== id; i = (i + 1) & mask) {
      if (slots[2 * i] === 0) return false
    }
    // Backward shift: move later entries of the probe run into the hole, unless their home slot
    // lies (cyclically) after the hole and no later than where they are.
    let j = i
    for (;;) {
      j = (j + 1) & mask
      const at = slots[2 * j] as number
      if (at === 0) break
      const home = at & mask
      if (i <= j ? (home > i && home <= j) : (home > i || home <= j)) continue
      slots[2 * i] = at
      slots[2 * i + 1] = slots[2 * j + 1]
      i = j
    }
    slots[2 * i] = 0
    slots[2 * i + 1] = undefined
    this.#size--
    return true
  }

  /** The values, in id order (the order they were added in, as ids only grow). */
  values (): T[] {
    const slots = this.#slots
    if (slots === null) return []
    const live: number[] = []
    for (let i = 0; i < slots.length; i += 2) if (slots[i] !== 0) live.push(i)
    live.sort((a, b) => (slots[a] as number) - (slots[b] as number))
    return live.map((i) => slots[i + 1] as T)
  }

  clear (): void {
    if (this.#slots !== null) this.#allocate(this.#mask + 1)
    this.#size = 0
  }

  #allocate (pairs: number): void {
    const slots = new Array<number | T | undefined>(2 * pairs)
    for (let i = 0; i < slots.length; i += 2) {
      slots[i] = 0
      slots[i + 1] = undefined
    }
    this.#slots = slots
    this.#mask = pairs - 1
  }

  #grow (): void {
    const old = this.#slots!
    this.#allocate((this.#mask + 1) * 2)
    this.#size = 0
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0) this.set(old[i] as number, old[i + 1] as T)
  }
}
