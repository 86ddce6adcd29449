// text()/json()/bytes()/arrayBuffer() of a large body with a content-length: the addon copies the
// body straight into one buffer of that length (no Buffer per chunk, no joining). Byte for byte
// over HTTP/1.1, h2c and TLS, with the head's bytes and read-ahead in front; a body that does not
// match its length fails with a typed error, never a half-filled buffer; abort, destroy() and
// bodyTimeout still end it; the connection is reused afterwards.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import http from 'node:http'
import crypto from 'node:crypto'
import { ClientConn, Pool, HyperError, TimeoutError, AbortError } from '../dist/esm/index.mjs'
import { pattern, rawServer } from './helpers'
import { everyProtocol, type Req, type Res } from './protocols'

const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const MiB = 1024 * 1024
const gc = () => (globalThis as { gc?: () => void }).gc!()


// /body?size=N&piece=P&pause=MS: N bytes of pattern(N) with a content-length, written in pieces
// of P bytes, pausing MS ms after the first piece (so the head and a first part arrive before the
// rest). /stall?size=N: the first half, then nothing.
function handler (req: Req, res: Res): void {
  const url = new URL(req.url ?? '/', 'http://x')
  const size = Number(url.searchParams.get('size'))
  const body = pattern(size, 5)
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) })
  const w = res as http.ServerResponse
  if (url.pathname === '/stall') {
    w.write(body.subarray(0, size >> 1))
    return
  }
  const piece = Number(url.searchParams.get('piece') ?? 65536)
  const pause = Number(url.searchParams.get('pause') ?? 0)
  let at = 0
  const more = (): void => {
    while (at < size) {
      const part = body.subarray(at, at + piece)
      at += part.length
      const ok = w.write(part)
      if (at === part.length && pause > 0) { setTimeout(more, pause); return }
      if (!ok) { w.once('drain', more); return }
    }
    w.end()
  }
  more()
}

const served = everyProtocol(handler)
const { transports, options } = served
beforeAll(() => served.start())
afterAll(() => served.close())

// The body's stream, watched: with the addon filling the buffer, no chunk is pushed into it
// once the whole-body read started.
function watchPushes (body: { push: (chunk: unknown) => boolean }): () => number {
  let pushed = 0
  const push = body.push.bind(body)
  body.push = (chunk: unknown) => {
    if (chunk !== null) pushed++
    return push(chunk)
  }
  return () => pushed
}

describe.each(transports)('whole-body reads of a large body over $name', (t) => {
  it.each([
    ['bytes()', 3 * MiB + 17, 65536, 0],
    ['arrayBuffer()', 1 * MiB, 16384, 30],
    ['text()', 200_000, 7000, 30],
  ])('%s of %i bytes (pieces of %i, pause %i ms after the first) arrives byte for byte, filled by the addon', async (how, size, piece, pause) => {
    const conn = await ClientConn.connect(t.origin(), options(t))
    const res = await conn.request({ path: `/body?size=${size}&piece=${piece}&pause=${pause}` })
    if (pause > 0) await sleep(pause * 2) // the first piece is read ahead before the body is asked for
    const pushes = watchPushes(res.body as never)
    let got: Uint8Array
    if (how === 'bytes()') got = await res.body.bytes()
    else if (how === 'arrayBuffer()') got = new Uint8Array(await res.body.arrayBuffer())
    else got = Buffer.from(await res.body.text(), 'utf8')
    const want = how === 'text()' ? Buffer.from(pattern(size, 5).toString('utf8'), 'utf8') : pattern(size, 5)
    expect(got.length).toBe(want.length)
    expect(sha(got)).toBe(sha(want))
    expect(pushes()).toBe(0)
    // The connection goes on: the next response on it is whole too.
    const again = await conn.request({ path: `/body?size=${size}` })
    expect(sha(await again.body.bytes())).toBe(sha(pattern(size, 5)))
    await conn.close()
  })

  // Nothing but the promise holds the body here: the exchange must hold it (and the buffer the
  // addon writes into) until the end, or GC collects it mid-read (the read never settled, and
  // the addon wrote into freed memory).
  it('a whole-body read survives GC with nothing but its promise kept', async () => {
    const conn = await ClientConn.connect(t.origin(), options(t))
    const size = 2 * MiB
    const pending = (await conn.request({ path: `/body?size=${size}&piece=65536&pause=300` })).body.bytes()
    for (let i = 0; i < 20; i++) {
      gc()
      await sleep(20)
    }
    const got = await pending
    expect(sha(got)).toBe(sha(pattern(size, 5)))
    await conn.close()
    }, 20_000)

  it('a Pool reads a large body whole as well', async () => {
    const pool = new Pool(t.origin(), options(t))
    const res = await pool.request({ path: `/body?size=${2 * MiB}` })
    expect(sha(await res.body.bytes())).toBe(sha(pattern(2 * MiB, 5)))
    await pool.close()
  })

  it('bodyTimeout ends a whole-body read that stalls', async () => {
    const conn = await ClientConn.connect(t.origin(), options(t))
    const res = await conn.request({ path: `/stall?size=${MiB}`, bodyTimeout: 300 })
    const err = await res.body.bytes().then(() => null, (e: Error) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    conn.destroy()
  })

  it('an abort ends a whole-body read at once', async () => {
    const conn = await ClientConn.connect(t.origin(), options(t))
    const ac = new AbortController()
    const res = await conn.request({ path: `/stall?size=${MiB}`, signal: ac.signal })
    const pending = res.body.bytes().then(() => null, (e: Error) => e)
    await sleep(50)
    ac.abort()
    expect(await pending).toBeInstanceOf(AbortError)
    conn.destroy()
  })

  it('destroy() of the body ends a whole-body read at once', async () => {
    const conn = await ClientConn.connect(t.origin(), options(t))
    const res = await conn.request({ path: `/stall?size=${MiB}` })
    const pending = res.body.text().then(() => null, (e: Error) => e)
    await sleep(50)
    res.body.destroy()
    // As an abort: the exchange is given up (its reason says the body was destroyed).
    const err = await pending
    expect(err).toBeInstanceOf(AbortError)
    expect((err?.cause as HyperError | undefined)?.code).toBe('ERR_BODY_DESTROYED')
    conn.destroy()
  })
})

describe('whole-body reads and framing (HTTP/1.1, exact bytes)', () => {
  it('a body that ends before its content-length fails; no half-filled buffer is returned', async () => {
    const body = pattern(100_000, 9)
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 200000\r\n\r\n')
      socket.end(body) // half of it, then the connection closes
    })
    const conn = await ClientConn.connect(`http://127.0.0.1:${server.port}`)
    const res = await conn.request({ path: '/' })
    const err = await res.body.bytes().then(() => null, (e: Error) => e)
    expect(err).toBeInstanceOf(HyperError)
    conn.destroy()
    await server.close()
  })

  it('a huge content-length is not allocated up front (a server could announce gigabytes and send nothing)', async () => {
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 536870912\r\n\r\n')
      socket.write(pattern(100_000, 1)) // then nothing
    })
    const conn = await ClientConn.connect(`http://127.0.0.1:${server.port}`)
    const before = process.memoryUsage().arrayBuffers
    const res = await conn.request({ path: '/' })
    const pending = res.body.bytes().then(() => null, (e: Error) => e)
    await sleep(100)
    // Read as a stream instead: memory follows what arrived (512 MiB with an up-front buffer).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * MiB)
    conn.destroy()
    expect(await pending).toBeInstanceOf(HyperError)
    await server.close()
  })

  it('transfer-encoding decides over content-length: the chunked body is read, not the declared length', async () => {
    const body = pattern(150_000, 3)
    const server = await rawServer((socket) => {
      // Both headers (RFC 9112 6.3: chunked wins). hyper reads it chunked; the whole-body read
      // must not trust the content-length.
      socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 999999\r\n\r\n')
      for (let at = 0; at < body.length; at += 50_000) {
        const part = body.subarray(at, at + 50_000)
        socket.write(part.length.toString(16) + '\r\n')
        socket.write(part)
        socket.write('\r\n')
      }
      socket.end('0\r\n\r\n')
    })
    const conn = await ClientConn.connect(`http://127.0.0.1:${server.port}`)
    const res = await conn.request({ path: '/' })
    const got = await res.body.bytes()
    expect(got.length).toBe(body.length)
    expect(sha(got)).toBe(sha(body))
    conn.destroy()
    await server.close()
  })
})
