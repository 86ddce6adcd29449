// Small body chunks are coalesced before they cross into JS (issue #17): many tiny HTTP chunks
// reach the consumer as a few Buffers, yet a chunk is never held back waiting for more (each
// server-sent event reaches the consumer while the server waits for it), and a paused consumer
// still stops the server. Every face (ClientConn, Pool, undici's request() and fetch on
// HyperDispatcher) over HTTP/1.1 and HTTP/2, plain and TLS.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import http from 'node:http'
import crypto from 'node:crypto'
import * as undici from 'undici'
import { ClientConn, Pool, HyperDispatcher } from '../dist/esm/index.mjs'
import { pattern } from './helpers'
import { everyProtocol, type Req, type Res, type Transport } from './protocols'

const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// Lockstep server-sent events: the server writes event i+1 only once the test has seen event i.
// A client that held a chunk back to coalesce it with later ones would never see event i.
const seen = new Map<string, (i: number) => void>()
// Bytes a backpressure stream has written so far.
const progress = new Map<string, { written: number, done: boolean }>()


function handler (req: Req, res: Res): void {
  const url = new URL(req.url ?? '/', 'http://x')
  const n = Number(url.searchParams.get('n') ?? 0)
  if (url.pathname === '/tiny') {
    // n chunks of `size` bytes, written back to back (one chunk each on the wire: HTTP/1.1
    // chunked encoding, HTTP/2 DATA frames as the stream has them).
    const size = Number(url.searchParams.get('size'))
    const body = pattern(n * size)
    res.writeHead(200, { 'content-type': 'application/octet-stream' })
    // burst=1 (HTTP/1.1): all of it in one socket write, so it is all there at the client's
    // first read.
    const socket = url.searchParams.get('burst') ? (res as http.ServerResponse).socket : null
    socket?.cork()
    for (let i = 0; i < n; i++) (res as http.ServerResponse).write(body.subarray(i * size, (i + 1) * size))
    res.end()
    socket?.uncork()
    return
  }
  if (url.pathname === '/events') {
    const id = url.searchParams.get('id')!
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
    let i = 0
    const next = (): void => {
      if (i === n) { res.end(); return }
      (res as http.ServerResponse).write(`id: ${i}\ndata: ${JSON.stringify({ i, at: Date.now() })}\n\n`)
      i++
    }
    seen.set(id, (got) => { if (got === i - 1) next() })
    next()
    return
  }
  if (url.pathname === '/flood') {
    // `total` bytes as 256-byte writes, waiting for 'drain' as a well-behaved server does.
    const id = url.searchParams.get('id')!
    const total = Number(url.searchParams.get('total'))
    const body = pattern(total)
    const p = { written: 0, done: false }
    progress.set(id, p)
    res.writeHead(200, { 'content-type': 'application/octet-stream' })
    const w = res as http.ServerResponse
    const more = (): void => {
      while (p.written < total) {
        const piece = body.subarray(p.written, p.written + 256)
        p.written += piece.length
        if (!w.write(piece)) { w.once('drain', more); return }
      }
      p.done = true
      w.end()
    }
    more()
    return
  }
  res.writeHead(404).end()
}

const served = everyProtocol(handler)
const { transports, options } = served
beforeAll(() => served.start())
afterAll(() => served.close())

// A response body as the consumer sees it: the chunks, in order.
type Open = (path: string) => Promise<{ chunks: AsyncIterator<Uint8Array>, done: () => Promise<void> }>


const faces: { name: string, open: (t: Transport) => Promise<Open> }[] = [
  {
    name: 'ClientConn',
    open: async (t) => {
      const conn = await ClientConn.connect(t.origin(), options(t))
      return async (path) => {
        const res = await conn.request({ path })
        expect(res.httpVersion).toBe(t.http2 ? '2.0' : '1.1')
        return { chunks: res.body[Symbol.asyncIterator](), done: () => conn.close() }
      }
    },
  },
  {
    name: 'Pool',
    open: async (t) => {
      const pool = new Pool(t.origin(), options(t))
      return async (path) => {
        const res = await pool.request({ path })
        return { chunks: res.body[Symbol.asyncIterator](), done: () => pool.close() }
      }
    },
  },
  {
    name: 'undici request() on HyperDispatcher',
    open: async (t) => {
      const d = new HyperDispatcher(options(t))
      return async (path) => {
        const res = await undici.request(t.origin() + path, { dispatcher: d })
        return { chunks: res.body[Symbol.asyncIterator](), done: () => d.close() }
      }
    },
  },
  {
    name: 'undici fetch on HyperDispatcher',
    open: async (t) => {
      const d = new HyperDispatcher(options(t))
      return async (path) => {
        const res = await undici.fetch(t.origin() + path, { dispatcher: d })
        const reader = res.body!.getReader()
        const chunks: AsyncIterator<Uint8Array> = {
          next: async () => {
            const r = await reader.read()
            return r.done ? { done: true, value: undefined } : { done: false, value: r.value }
          },
        }
        return { chunks, done: () => d.close() }
      }
    },
  },
]

// Next chunk, or a clear failure if the body stalls (instead of the test's timeout).
async function nextChunk (it: AsyncIterator<Uint8Array>, what: string): Promise<IteratorResult<Uint8Array>> {
  let timer: NodeJS.Timeout | undefined
  const stalled = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`stalled waiting for ${what}`)), 5000)
  })
  try {
    return await Promise.race([it.next(), stalled])
  } finally {
    clearTimeout(timer)
  }
}

// The chunks up to the end of the body (each one within nextChunk's stall limit).
async function restOf (it: AsyncIterator<Uint8Array>, what: string): Promise<Uint8Array[]> {
  const got: Uint8Array[] = []
  for (;;) {
    const r = await nextChunk(it, what)
    if (r.done) return got
    got.push(r.value)
  }
}

// HTTP/1.1 only: there a corked server write puts every chunk on the wire at once (Node's HTTP/2
// server frames writes its own way).
describe.each(transports.filter((t) => !t.http2))('a burst over $name', (t) => {
  describe.each(faces)('$name', (face) => {
    it('a burst of 4096 chunks of 16 bytes (64 KiB at once) arrives as a handful of Buffers', async () => {
      const open = await face.open(t)
      const n = 4096
      const size = 16
      const { chunks, done } = await open(`/tiny?n=${n}&size=${size}&burst=1`)
      const got = await restOf(chunks, 'the burst')
      await done()
      expect(sha(Buffer.concat(got))).toBe(sha(pattern(n * size)))
      // What one drive of the connection collects goes out as one Buffer (up to 64 KiB), and a
      // drive is not cut short by its task budget before the coalescing limit: with the earlier
      // budget of 64 hyper tasks per drive this arrived as 64 Buffers of 1 KiB (checked).
      expect(got.length).toBeLessThanOrEqual(8)
    })
  })
})

describe.each(transports)('over $name', (t) => {
  describe.each(faces)('$name', (face) => {
    it('4096 chunks of 16 bytes arrive as a few Buffers, byte for byte', async () => {
      const open = await face.open(t)
      const n = 4096
      const size = 16
      const { chunks, done } = await open(`/tiny?n=${n}&size=${size}`)
      const got = await restOf(chunks, 'the tiny chunks')
      await done()
      expect(sha(Buffer.concat(got))).toBe(sha(pattern(n * size)))
      // Without coalescing the consumer would see one Buffer per HTTP chunk (4096) over HTTP/1.1
      // (checked: with the cap set to 1 byte this fails). Node's HTTP/2 server already merges
      // back-to-back writes into large DATA frames, so over h2 this checks integrity only.
      expect(got.length).toBeLessThanOrEqual(n / 16)
    })

    it('each server-sent event reaches the consumer while the server waits for it', async () => {
      const open = await face.open(t)
      const id = crypto.randomUUID()
      const n = 12
      const { chunks, done } = await open(`/events?id=${id}&n=${n}`)
      let text = ''
      let events = 0
      let worst = 0
      for (;;) {
        const r = await nextChunk(chunks, `event ${events} (the server sends event ${events + 1} only after the client has seen it)`)
        if (r.done) break
        text += Buffer.from(r.value).toString('utf8')
        let end: number
        while ((end = text.indexOf('\n\n')) !== -1) {
          const block = text.slice(0, end)
          text = text.slice(end + 2)
          const data = JSON.parse(block.split('\n').find((l) => l.startsWith('data: '))!.slice(6)) as { i: number, at: number }
          expect(data.i).toBe(events)
          worst = Math.max(worst, Date.now() - data.at)
          events++
          seen.get(id)!(data.i)
        }
      }
      await done()
      seen.delete(id)
      expect(events).toBe(n)
      expect(text).toBe('')
      // Loopback: an event is in the consumer's hands within milliseconds; a generous bound
      // for a loaded CI machine, far below any "wait for more bytes" delay.
      expect(worst).toBeLessThan(1000)
    })

    it('a paused consumer of 256-byte chunks stops the server; everything arrives after resuming', async () => {
      const open = await face.open(t)
      const id = crypto.randomUUID()
      const total = 48 * 1024 * 1024
      const { chunks, done } = await open(`/flood?id=${id}&total=${total}`)
      const got: Uint8Array[] = []
      const first = await nextChunk(chunks, 'the first chunk')
      got.push(first.value!)
      await sleep(400)
      const p = progress.get(id)!
      // Socket buffers on loopback (and HTTP/2 windows) hold a few MiB; the rest waits for the reader.
      expect(p.done).toBe(false)
      expect(p.written).toBeLessThan(total / 2)
      got.push(...await restOf(chunks, 'the rest of the flood'))
      const bytes = got.reduce((n, c) => n + c.length, 0)
      await done()
      progress.delete(id)
      expect(bytes).toBe(total)
      expect(sha(Buffer.concat(got))).toBe(sha(pattern(total)))
    })
  })
})
