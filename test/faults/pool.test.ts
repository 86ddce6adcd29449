// Issue #15, pool scheduling and connection lifecycle: the Agent's pool map (10), fd exhaustion
// (20), unread bodies holding "free" connections (22), N² connections (23), connections opened
// for requests that fail validation (24).
import { describe, it, expect, afterEach } from 'vitest'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import { Agent, Pool, InvalidArgumentError } from '../../dist/esm/index.mjs'
import { httpServer } from '../helpers'
import { Cleanup, ROOT, h2cServer, heapUsed, outcome, runNode, show, sleep, within } from './util'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

const loopbackLookup = (_host: string, _opts: unknown, cb: (err: Error | null, address: string, family: number) => void): void => cb(null, '127.0.0.1', 4)

describe('item 10: the Agent drops idle, empty pools', () => {
  // 20,000 origins (distinct hostnames that a custom lookup sends to one loopback server; the
  // server closes each connection after its response, so every pool ends with no connection
  // and no queue). Today the Agent keeps every Pool (and an alias entry) forever: the heap grows
  // by ~0.6 KB per origin, and close() does not give it back. undici's Agent removes a pool
  // once it has no connections and no queue.
  it('heap growth over 20,000 origins stays bounded, and close() releases the rest', async () => {
    const srv = cleanup.add(() => srv.close(), await httpServer((_q, s) => { s.setHeader('connection', 'close'); s.end('ok') }))
    const agent = new Agent({ lookup: loopbackLookup, keepAliveTimeout: 1 })
    cleanup.add(() => agent.destroy())
    const origin = (i: number): string => `http://o${i}.test:${srv.port}/`
    // Warm up: code paths, the server, the allocator.
    for (let i = 0; i < 200; i++) await (await agent.request(origin(-1 - i))).body.text()
    await sleep(100)
    const before = await heapUsed()
    let next = 0
    await within(Promise.all(Array.from({ length: 16 }, async () => {
      while (next < 20_000) {
        const i = next++
        await (await agent.request(origin(i))).body.text()
      }
    })), 120_000, '20,000 requests')
    await sleep(200)
    const after = await heapUsed()
    await within(agent.close(), 5000, 'agent.close()')
    const closed = await heapUsed()
    const mb = (n: number): number => Math.round(n / 2 ** 20 * 10) / 10
    // Today: ~+12 MB after the requests, and about the same after close().
    expect({ afterRequests: mb(after - before), afterClose: mb(closed - before) }).toSatisfy(
      (g: { afterRequests: number, afterClose: number }) => g.afterRequests < 4 && g.afterClose < 2)
  }, 150_000)
})

describe('item 20: fd exhaustion (ulimit -n 256)', () => {
  // A child process under `ulimit -n 256` with a Pool allowed 1000 connections sends 2000
  // requests. Today every one of them fails with EMFILE. Expected: on EMFILE/ENFILE stop opening
  // connections, keep the requests queued, and serve them on the connections that exist.
  it('a Pool of 1000 connections serves all 2000 requests on the fds it has', async () => {
    const srv = cleanup.add(() => srv.close(), await httpServer((_q, s) => { setTimeout(() => s.end('ok'), 20) }, (s) => { s.maxConnections = 2000 }))
    const entry = path.join(ROOT, 'dist', 'esm', 'index.mjs')
    const script = path.join(__dirname, 'fixtures', 'emfile-pool.mjs')
    const r = await runNode([], { timeoutMs: 60_000, shell: `ulimit -n 256 && exec "${process.execPath}" "${script}" "${entry}" ${srv.port}` })
    expect(r.timedOut, 'the child finishes').toBe(false)
    expect(r.code, r.stderr.slice(0, 500)).toBe(0)
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!)
    // Today: { first: { ok: 0, failures: { EMFILE: 2000 } }, ... }, while ~237 connections open
    // after every request has already failed.
    expect(report.first).toEqual({ ok: 2000, failures: {} })
    expect(report.connected).toBeLessThan(256)
    expect(report.second).toEqual({ ok: 200, failures: {} })
    expect(report.close).toBe('resolved')
  }, 70_000)
})

describe('item 22: a connection with an unread, unfinished body is not free', () => {
  // The first response's body is neither read nor finished; the Pool (up to 128 connections)
  // must send the next request on another connection. Today it reuses the busy one, where the
  // request waits forever behind the unread body.
  it('the next request goes to another connection and completes', async () => {
    const srv = cleanup.add(() => srv.close(), await httpServer((q, s) => {
      if (q.url === '/slow') {
        s.writeHead(200, { 'content-type': 'text/plain' })
        s.write('first part of a body that does not end')
        return
      }
      s.end('fast')
    }))
    const pool = cleanup.add(() => pool.destroy(), new Pool(`http://127.0.0.1:${srv.port}`))
    const slow = await within(pool.request({ path: '/slow' }), 3000, 'slow head')
    const fast = await outcome(pool.request({ path: '/fast' }).then((r) => r.body.text()), 2000)
    expect(show(fast)).toBe('resolved')
    expect(fast).toEqual({ state: 'resolved', value: 'fast' })
    expect(srv.connections()).toBe(2)
    slow.body.destroy()
  })

  // fetch's "fire and forget": each response head is awaited, its body left alone.
  it('20 fire-and-forget requests in a row (bodies never read, never finished) all get their heads', async () => {
    const srv = cleanup.add(() => srv.close(), await httpServer((_q, s) => {
      s.writeHead(200)
      s.write('x')
    }))
    const pool = cleanup.add(() => pool.destroy(), new Pool(`http://127.0.0.1:${srv.port}`, { connections: 128 }))
    const kept: unknown[] = []
    const heads = await outcome((async () => {
      for (let i = 0; i < 20; i++) kept.push(await pool.request({ path: '/' }))
      return kept.length
    })(), 5000)
    expect(show(heads)).toBe('resolved')
    expect(srv.connections()).toBe(20)
  })
})

describe('item 23: N concurrent requests to a fresh origin open N connections', () => {
  // undici opens N. Today the Pool opens about N² (each request's dispatch opens as many as
  // there are queued requests, ignoring the connects already under way), capped at `connections`.
  for (const n of [2, 5, 10]) {
    it(`${n} concurrent requests open at most ${n} connections`, async () => {
      let accepted = 0
      const srv = cleanup.add(() => srv.close(), await httpServer((_q, s) => { setTimeout(() => s.end('ok'), 50) }))
      srv.server.on('connection', () => { accepted++ })
      const pool = cleanup.add(() => pool.destroy(), new Pool(`http://127.0.0.1:${srv.port}`, { connections: 128 }))
      const bodies = await within(Promise.all(Array.from({ length: n }, async () => (await pool.request({ path: '/' })).body.text())), 5000, 'requests')
      expect(bodies).toEqual(Array(n).fill('ok'))
      await sleep(100) // connects still under way show up too
      expect(accepted).toBeLessThanOrEqual(n)
    })
  }
})

describe('item 24: validation before scheduling; idle timers on every idle connection', () => {
  // Today a request that fails validation still makes the Pool open a connection, and since the
  // request "ran" on it, no idle timer is armed: it stays open for good.
  it('a request rejected by validation opens no connection', async () => {
    let accepted = 0
    const open = new Set<net.Socket>()
    const srv = cleanup.add(() => srv.close(), await httpServer((_q, s) => s.end('ok')))
    srv.server.on('connection', (sock) => { accepted++; open.add(sock); sock.on('close', () => open.delete(sock)) })
    const pool = cleanup.add(() => pool.destroy(), new Pool(`http://127.0.0.1:${srv.port}`, { keepAliveTimeout: 200 }))
    const o = await outcome(pool.request({ method: 'BAD METHOD', path: '/' }), 2000)
    expect(o.state).toBe('rejected')
    if (o.state === 'rejected') {
      expect(o.error).toBeInstanceOf(InvalidArgumentError)
      expect(o.error.code).toBe('ERR_INVALID_HTTP_TOKEN')
    }
    await sleep(1000) // > keepAliveTimeout
    expect({ accepted, open: open.size }).toEqual({ accepted: 0, open: 0 })
  })

  // An HTTP/2 request aborted mid-flight leaves its (still healthy) connection idle; the idle
  // check runs before the pool's bookkeeping of the aborted request, so no timer is armed
  // and the connection stays open past keepAliveTimeout.
  it('HTTP/2: a connection left idle by an aborted request closes after keepAliveTimeout', async () => {
    const srv = cleanup.add(() => srv.close(), await h2cServer((stream) => {
      setTimeout(() => { if (!stream.destroyed) { stream.respond({ ':status': 200 }); stream.end('late') } }, 5000).unref()
    }))
    const pool = cleanup.add(() => pool.destroy(), new Pool(`http://127.0.0.1:${srv.port}`, { http2: true, keepAliveTimeout: 200 }))
    const ac = new AbortController()
    const p = pool.request({ path: '/', signal: ac.signal })
    await sleep(200)
    ac.abort()
    expect((await outcome(p, 2000)).state).toBe('rejected')
    await sleep(1200)
    expect(pool.stats.connected, 'pool connections after keepAliveTimeout').toBe(0)
    expect(srv.sessions.size, 'server sessions after keepAliveTimeout').toBe(0)
  })
})

void http
