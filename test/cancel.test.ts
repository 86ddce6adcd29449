import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fs from 'node:fs'
import net from 'node:net'
import { spawn, type ChildProcess } from 'node:child_process'
import { ClientConn, AbortError, TimeoutError, HyperError, ConnectionClosedError } from '../dist/esm/index.mjs'
import { httpServer, rawServer, rssBound } from './helpers'

const gc = () => (globalThis as { gc?: () => void }).gc?.()
const openFds = () => fs.readdirSync('/proc/self/fd').length
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('AbortSignal', () => {
  it('an already aborted signal rejects connect and request at once', async () => {
    const reason = new Error('nope')
    const err = await ClientConn.connect('http://127.0.0.1:1/', { signal: AbortSignal.abort(reason) }).catch((e) => e)
    expect(err).toBeInstanceOf(AbortError)
    expect(err.code).toBe('ABORT_ERR')
    expect(err.cause).toBe(reason)
    const srv = await httpServer((_q, s) => s.end('ok'))
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: srv.port })
    const e2 = await conn.request({ signal: AbortSignal.abort(reason) }).catch((e) => e)
    expect(e2).toBeInstanceOf(AbortError)
    expect(await (await conn.request()).body.text()).toBe('ok')
    await conn.close()
    await srv.close()
  })

  it('aborts while the DNS lookup is pending', async () => {
    const ac = new AbortController()
    const p = ClientConn.connect('http://never.test/', { signal: ac.signal, lookup: () => { /* never answers */ } })
    setTimeout(() => ac.abort('gave up'), 10)
    const err = await p.catch((e) => e)
    expect(err).toBeInstanceOf(AbortError)
    expect(err.cause).toBe('gave up')
  })

  it('aborts while waiting for the response head: rejects, closes the connection', async () => {
    let closed = false
    const raw = await rawServer((s) => s.on('close', () => { closed = true }))
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    const ac = new AbortController()
    const p = conn.request({ signal: ac.signal })
    await sleep(20)
    ac.abort(new Error('user cancelled'))
    const err = await p.catch((e) => e)
    expect(err).toBeInstanceOf(AbortError)
    expect(err.cause.message).toBe('user cancelled')
    for (let i = 0; i < 100 && !closed; i++) await sleep(5)
    expect(closed).toBe(true)
    expect(conn.closed).toBe(true)
    await raw.close()
  })

  it('aborting a queued request leaves the connection and the others alone', async () => {
    const srv = await httpServer(async (q, s) => { await sleep(20); s.end(q.url) })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: srv.port })
    const ac = new AbortController()
    const a = conn.request({ path: '/a' })
    const b = conn.request({ path: '/b', signal: ac.signal })
    const c = conn.request({ path: '/c' })
    ac.abort()
    expect(await b.catch((e) => e)).toBeInstanceOf(AbortError)
    expect(await (await a).body.text()).toBe('/a')
    expect(await (await c).body.text()).toBe('/c')
    expect(srv.connections()).toBe(1)
    expect(conn.closed).toBe(false)
    await conn.close()
    await srv.close()
  })

  it('aborts mid-download: the body stream errors with AbortError', async () => {
    const raw = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n' + 'x'.repeat(1000)))
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    const ac = new AbortController()
    const res = await conn.request({ signal: ac.signal })
    const reading = res.body.text().catch((e) => e)
    await sleep(20)
    ac.abort()
    const err = await reading
    expect(err).toBeInstanceOf(AbortError)
    await raw.close()
  })

  it('aborts mid-upload: the request rejects and the body source is released', async () => {
    const srv = await httpServer(async (q, s) => { q.on('error', () => {}); q.resume() })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: srv.port })
    const ac = new AbortController()
    let finalized = false
    async function * slow () {
      try {
        for (;;) { yield Buffer.alloc(1024); await sleep(1) }
      } finally { finalized = true }
    }
    const p = conn.request({ method: 'POST', body: slow(), signal: ac.signal })
    await sleep(30)
    ac.abort()
    expect(await p.catch((e) => e)).toBeInstanceOf(AbortError)
    for (let i = 0; i < 100 && !finalized; i++) await sleep(5)
    expect(finalized).toBe(true)
    await srv.close()
  })

  it('abort at 20 points of a streaming exchange, 1,000 times: fds and RSS stable', async () => {
    // Server: reads the upload as it streams, answers with a body in pieces.
    const srv = await httpServer(async (q, s) => {
      q.on('error', () => {})
      s.on('error', () => {})
      let n = 0
      try { for await (const c of q) n += (c as Buffer).length } catch { return }
      s.writeHead(200, { 'content-type': 'text/plain' })
      for (let i = 0; i < 8 && !s.destroyed; i++) {
        s.write(`${n}:${i};`)
        await new Promise((r) => setImmediate(r))
      }
      s.end()
    })
    const run = async (point: number) => {
      const ac = new AbortController()
      const conn = await ClientConn.connect({ host: '127.0.0.1', port: srv.port })
      let step = 0
      const maybeAbort = () => { if (step++ === point) ac.abort(new Error(`at ${point}`)) }
      async function * upload () {
        for (let i = 0; i < 6; i++) {
          maybeAbort()
          yield Buffer.alloc(512, i)
          await new Promise((r) => setImmediate(r))
        }
      }
      try {
        maybeAbort()
        const res = await conn.request({ method: 'POST', body: upload(), signal: ac.signal })
        maybeAbort()
        for await (const _ of res.body) maybeAbort()
        maybeAbort()
      } catch (err) {
        if (!(err instanceof HyperError)) throw err
        expect(['ABORT_ERR', 'ERR_CONNECTION_CLOSED']).toContain(err.code)
      }
      conn.destroy()
    }
    // Warm up: RSS settles after ~2,000 iterations (measured: +19 MiB, then flat within ~1 MiB
    // per 2,000 up to 12,000).
    for (let i = 0; i < 2000; i++) await run(i % 20)
    gc()
    await sleep(50)
    const fds0 = openFds()
    const rss0 = process.memoryUsage().rss
    for (let i = 0; i < 1000; i++) await run(i % 20)
    await sleep(100)
    gc()
    await sleep(50)
    expect(openFds() - fds0).toBeLessThanOrEqual(2)
    expect(process.memoryUsage().rss - rss0).toBeLessThan(rssBound(16 * 1024 * 1024))
    await srv.close()
  }, 120_000)
})

describe('connects that never complete', () => {
  // A listener that never accepts, with its backlog filled: further SYNs are dropped, so a
  // connect hangs (loopback only).
  let python: ChildProcess | null = null
  let port = 0
  const fillers: net.Socket[] = []
  beforeAll(async () => {
    python = spawn('python3', ['-c', [
      'import socket,sys,time',
      's=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(0)',
      'print(s.getsockname()[1], flush=True)',
      'time.sleep(60)',
    ].join('\n')], { stdio: ['ignore', 'pipe', 'ignore'] })
    port = await new Promise<number>((resolve, reject) => {
      python!.on('error', reject)
      python!.stdout!.once('data', (d) => resolve(Number(String(d).trim())))
    }).catch(() => 0)
    if (!port) return
    for (let i = 0; i < 4; i++) fillers.push(net.connect(port, '127.0.0.1').on('error', () => {}))
    await sleep(50)
  })
  afterAll(() => {
    for (const f of fillers) f.destroy()
    python?.kill()
  })

  it('AbortSignal aborts a TCP connect in progress', async (ctx) => {
    if (!port) return ctx.skip()
    const ac = new AbortController()
    const p = ClientConn.connect({ host: '127.0.0.1', port }, { signal: ac.signal, connectTimeout: 0 })
    setTimeout(() => ac.abort(), 50)
    const err = await p.catch((e) => e)
    expect(err).toBeInstanceOf(AbortError)
  })

  it('connectTimeout', async (ctx) => {
    if (!port) return ctx.skip()
    const t0 = Date.now()
    const err = await ClientConn.connect({ host: '127.0.0.1', port }, { connectTimeout: 200 }).catch((e) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.code).toBe('ERR_CONNECT_TIMEOUT')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190)
    expect(Date.now() - t0).toBeLessThan(2000)
  })
})

describe('timeouts', () => {
  it('headersTimeout: no response head in time; requests behind it fail as not sent', async () => {
    const raw = await rawServer(() => {})
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port }, { headersTimeout: 100 })
    const t0 = Date.now()
    const first = conn.request()
    const second = conn.request({ path: '/2' })
    const err = await first.catch((e) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.code).toBe('ERR_HEADERS_TIMEOUT')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90)
    const e2 = await second.catch((e) => e)
    expect(e2).toBeInstanceOf(ConnectionClosedError)
    expect(e2.code).toBe('ERR_CONNECTION_CLOSED')
    expect(e2.requestSent).toBe(false)
    await raw.close()
  })

  it('bodyTimeout: the body stalls while the consumer waits', async () => {
    const raw = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial'))
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    const res = await conn.request({ bodyTimeout: 100 })
    const err = await res.body.text().catch((e) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.code).toBe('ERR_BODY_TIMEOUT')
    await raw.close()
  })

  it('bodyTimeout does not fire while the consumer itself is slow', async () => {
    const srv = await httpServer((_q, s) => { s.write('a'.repeat(100)); setTimeout(() => s.end('b'), 20) })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: srv.port })
    const res = await conn.request({ bodyTimeout: 100 })
    await sleep(300) // not reading: backpressure, not an idle network
    expect(await res.body.text()).toBe('a'.repeat(100) + 'b')
    await conn.close()
    await srv.close()
  })

  // One timer per connection, re-armed lazily (it may fire before the deadline it is for).
  it('a deadline shorter than the one the connection timer is running for still fires', async () => {
    let n = 0
    const raw = await rawServer((s) => { if (++n === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok') })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port }) // 300 s defaults
    expect(await (await conn.request()).body.text()).toBe('ok')
    const t0 = Date.now()
    const err = await conn.request({ headersTimeout: 100 }).catch((e) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.code).toBe('ERR_HEADERS_TIMEOUT')
    expect(Date.now() - t0).toBeLessThan(5000)
    await raw.close()
  })

  it('a timer that fires for an earlier exchange does not expire the next one', async () => {
    // Each answer comes 100 ms after its request, inside a 250 ms head deadline: the timer armed
    // for the first request's deadline fires while the second or third waits.
    const raw = await rawServer((s) => setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 100))
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port }, { headersTimeout: 250, bodyTimeout: 250 })
    for (let i = 0; i < 4; i++) expect(await (await conn.request()).body.text()).toBe('ok')
    await sleep(300) // idle past the last deadline: a stale timer fire finds nothing to expire
    expect(await (await conn.request()).body.text()).toBe('ok')
    await conn.close()
    await raw.close()
  })

  it('invalid timeout values are rejected', async () => {
    const srv = await httpServer((_q, s) => s.end())
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: srv.port })
    const err = await conn.request({ headersTimeout: -1 }).catch((e) => e)
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE')
    expect(err.field).toBe('headersTimeout')
    await conn.close()
    await srv.close()
  })
})
