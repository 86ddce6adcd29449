import { describe, it, expect } from 'vitest'
import http2 from 'node:http2'
import { Pool, Agent, request, HyperError } from '../dist/esm/index.mjs'
import { httpServer, rawServer } from './helpers'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('Pool', () => {
  it('reuses keep-alive connections and caps them', async () => {
    let active = 0
    let maxActive = 0
    const srv = await httpServer(async (q, s) => {
      active++
      maxActive = Math.max(maxActive, active)
      await sleep(5)
      active--
      s.end(q.url)
    })
    const pool = new Pool(`http://127.0.0.1:${srv.port}`, { connections: 4 })
    const out = await Promise.all(Array.from({ length: 100 }, async (_, i) => (await pool.request({ path: `/${i}` })).body.text()))
    expect(out).toEqual(Array.from({ length: 100 }, (_, i) => `/${i}`))
    expect(srv.connections()).toBe(4)
    expect(maxActive).toBe(4)
    expect(pool.stats).toMatchObject({ connected: 4, pending: 0, running: 0 })
    await pool.close()
    expect(pool.stats.connected).toBe(0)
    await srv.close()
  })

  it('bounded queue', async () => {
    const srv = await httpServer(async (_q, s) => { await sleep(20); s.end('x') })
    const pool = new Pool(`http://127.0.0.1:${srv.port}`, { connections: 1, maxQueue: 2 })
    const ps = Array.from({ length: 4 }, () => pool.request().then((r) => r.body.text(), (e) => e.code))
    // the first waits for the connection being opened, so the queue holds #1 and #2
    expect(await Promise.all(ps)).toEqual(['x', 'x', 'ERR_POOL_QUEUE_FULL', 'ERR_POOL_QUEUE_FULL'])
    await pool.close()
    await srv.close()
  })

  it('an aborted request waiting in the queue leaves it at once; the others go on', async () => {
    const srv = await httpServer(async (q, s) => { await sleep(q.url === '/slow' ? 300 : 1); s.end(q.url) })
    const pool = new Pool(`http://127.0.0.1:${srv.port}`, { connections: 1 })
    const slow = pool.request({ path: '/slow' })
    const ac = new AbortController()
    const queued = pool.request({ path: '/queued', signal: ac.signal }).catch((e) => e)
    const after = pool.request({ path: '/after' })
    await sleep(20)
    expect(pool.stats.pending).toBe(2)
    const t0 = Date.now()
    ac.abort(new Error('changed my mind'))
    const err = await queued
    expect(Date.now() - t0).toBeLessThan(100) // not when the connection frees up (~300 ms)
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' })
    expect(err.cause.message).toBe('changed my mind')
    expect(pool.stats.pending).toBe(1)
    expect(await (await slow).body.text()).toBe('/slow')
    expect(await (await after).body.text()).toBe('/after')
    await expect(pool.request({ signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORT_ERR' })
    await pool.close()
    await srv.close()
  })

  it('closes idle connections after keepAliveTimeout', async () => {
    const srv = await httpServer((_q, s) => s.end('x'))
    const pool = new Pool(`http://127.0.0.1:${srv.port}`, { keepAliveTimeout: 50 })
    await (await pool.request()).body.text()
    expect(pool.stats.connected).toBe(1)
    await sleep(150)
    expect(pool.stats.connected).toBe(0)
    await (await pool.request()).body.text() // a new connection
    expect(srv.connections()).toBe(2)
    await pool.close()
    await srv.close()
  })

  it('a keep-alive connection the server closed is not reused: each POST goes out once, on a live connection', async () => {
    // The server closes each connection after one response without saying so.
    const raw = await rawServer((s) => { s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok') })
    const pool = new Pool(`http://127.0.0.1:${raw.port}`, { connections: 1 })
    for (let i = 0; i < 5; i++) {
      expect(await (await pool.request({ method: 'POST', body: 'b' })).body.text()).toBe('ok')
      await sleep(5) // the connection sits idle; the server's FIN is in flight or already there
    }
    expect(raw.requests()).toBe(5) // POST never re-sent: each went out once, on a live connection
    await pool.close()
    await raw.close()
  })

  it('retries idempotent requests that failed after being sent, never POST', async () => {
    let n = 0
    const raw = await rawServer((s, head) => {
      n++
      if (n % 2 === 1) s.resetAndDestroy() // every first attempt dies after reading the request
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: ' + head.split(' ')[0]!.length + '\r\n\r\n' + head.split(' ')[0])
    })
    const pool = new Pool(`http://127.0.0.1:${raw.port}`, { retries: 1 })
    expect(await (await pool.request({ method: 'PUT', body: 'x' })).body.text()).toBe('PUT')
    expect(n).toBe(2)
    const err = await pool.request({ method: 'POST', body: 'x' }).catch((e) => e)
    expect(err).toBeInstanceOf(HyperError)
    expect(err.requestSent).toBe(true)
    expect(n).toBe(3)
    // Other spellings of an idempotent method count as it (methods are case-sensitive on the
    // wire, but RFC 9110's idempotent ones are matched in any case); an extension method does not.
    expect(await (await pool.request()).body.text()).toBe('GET') // n = 4: answered at once
    expect(await (await pool.request({ method: 'delete' })).body.text()).toBe('delete')
    expect(n).toBe(6)
    const ext = await pool.request({ method: 'PROPPATCH', body: 'x' }).catch((e) => e)
    expect(ext).toBeInstanceOf(HyperError)
    expect(ext.requestSent).toBe(true)
    expect(n).toBe(7)
    pool.destroy()
    await raw.close()
  })

  it('honours the server Keep-Alive timeout hint', async () => {
    const srv = await httpServer((_q, s) => { s.setHeader('Keep-Alive', 'timeout=1'); s.end('x') })
    const pool = new Pool(`http://127.0.0.1:${srv.port}`, { keepAliveTimeout: 60_000 })
    await (await pool.request()).body.text()
    await sleep(100) // the hint (1 s, less a 1 s safety margin) closes it at once
    expect(pool.stats.connected).toBe(0)
    await pool.close()
    await srv.close()
  })

  it('multiplexes over one HTTP/2 connection', async () => {
    const server = http2.createServer()
    let sessions = 0
    server.on('session', () => sessions++)
    server.on('stream', (stream, h) => { stream.respond({ ':status': 200 }); stream.end(h[':path']) })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const pool = new Pool(`http://127.0.0.1:${(server.address() as { port: number }).port}`, { http2: true })
    const out = await Promise.all(Array.from({ length: 200 }, async (_, i) => (await pool.request({ path: `/${i}` })).body.text()))
    expect(out[199]).toBe('/199')
    expect(sessions).toBe(1)
    await pool.close()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('destroy() fails queued requests', async () => {
    const srv = await httpServer(async (_q, s) => { await sleep(50); s.end('x') })
    const pool = new Pool(`http://127.0.0.1:${srv.port}`, { connections: 1 })
    const a = pool.request().catch((e) => e.code)
    const b = pool.request().catch((e) => e.code)
    await sleep(10)
    pool.destroy()
    expect(await a).toBe('ERR_DESTROYED')
    expect(await b).toBe('ERR_DESTROYED')
    await srv.close()
  })
})

describe('Agent and request()', () => {
  it('keeps one pool per origin and respects maxOrigins', async () => {
    const a = await httpServer((q, s) => s.end('a' + q.url))
    const b = await httpServer((q, s) => s.end('b' + q.url))
    const agent = new Agent({ maxOrigins: 1 })
    expect(await (await agent.request(`http://127.0.0.1:${a.port}/x?y`)).body.text()).toBe('a/x?y')
    const err = await agent.request(`http://127.0.0.1:${b.port}/`).catch((e) => e)
    expect(err.code).toBe('ERR_MAX_ORIGINS')
    await agent.close()
    expect(await (await request(`http://127.0.0.1:${b.port}/top`)).body.text()).toBe('b/top')
    await a.close()
    await b.close()
  })
})
