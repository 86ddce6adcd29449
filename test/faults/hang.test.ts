// Issue #15, "Hang" items (7, 8, 9) and the two pool/lifecycle hangs (21, 25): every request
// and every close() must settle, within a few seconds, against servers that misbehave on cue.
import { describe, it, expect, afterEach } from 'vitest'
import path from 'node:path'
import * as undici from 'undici'
import { ClientConn, Pool, HyperDispatcher, TimeoutError } from '../../dist/esm/index.mjs'
import { Cleanup, ROOT, outcome, runNode, show, sleep, tcpServer, within } from './util'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

/**
 * An HTTP/1.1 server whose response body never ends: chunked, 64 KiB chunks as fast as the
 * client takes them. `sent()` counts body bytes written; `closed()` tells whether the client
 * closed the connection.
 */
async function endlessServer () {
  let sent = 0
  let closedCount = 0
  const chunk = Buffer.concat([Buffer.from('10000\r\n'), Buffer.alloc(0x10000, 0x61), Buffer.from('\r\n')])
  const srv = await tcpServer((socket) => {
    socket.on('close', () => { closedCount++ })
    let started = false
    socket.on('data', () => {
      if (started) return
      started = true
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')
      const pump = (): void => {
        while (!socket.destroyed && socket.write(chunk)) sent += 0x10000
        if (!socket.destroyed) sent += 0x10000
      }
      socket.on('drain', pump)
      pump()
    })
  })
  return { ...srv, sent: () => sent, closedConnections: () => closedCount }
}

describe('item 7: abandoning an endless HTTP/1 body', () => {
  // Today the addon "dumps" the rest: it reads the endless body to its (never reached) end, the
  // connection is never freed and close() never resolves. Expected (undici): the connection
  // is closed, so the server sees it go away and the transfer stops.
  const ways: Record<string, (conn: ClientConn) => Promise<void>> = {
    'body.destroy()': async (conn) => {
      const res = await conn.request({ path: '/' })
      res.body.destroy()
    },
    'break out of for await': async (conn) => {
      const res = await conn.request({ path: '/' })
      // eslint-disable-next-line no-unreachable-loop
      for await (const _ of res.body) break
    },
    'GC of an unread body': async (conn) => {
      await (async () => { await conn.request({ path: '/' }) })()
      const gc = (globalThis as { gc?: () => void }).gc!
      for (let i = 0; i < 10; i++) {
        gc()
        await sleep(20)
      }
    },
  }
  for (const [how, abandon] of Object.entries(ways)) {
    it(`${how}: the connection closes within 2 s, the download stops, and close() resolves`, async () => {
      const srv = cleanup.add(() => srv.close(), await endlessServer())
      const conn = cleanup.add(() => conn.destroy(), await ClientConn.connect(`http://127.0.0.1:${srv.port}`))
      await within(abandon(conn), 3000, 'abandoning the body')
      const deadline = Date.now() + 2000
      while (srv.closedConnections() === 0 && Date.now() < deadline) await sleep(20)
      expect(srv.closedConnections(), 'the client closed the connection').toBe(1)
      const sentAtClose = srv.sent()
      await sleep(200)
      expect(srv.sent()).toBe(sentAtClose)
      expect((await outcome(conn.close(), 2000)).state).toBe('resolved')
    })
  }

  it('a request queued behind the abandoned body settles within 2 s', async () => {
    const srv = cleanup.add(() => srv.close(), await endlessServer())
    const conn = cleanup.add(() => conn.destroy(), await ClientConn.connect(`http://127.0.0.1:${srv.port}`))
    const res = await within(conn.request({ path: '/' }), 3000, 'first response')
    const second = conn.request({ path: '/' })
    second.catch(() => {})
    res.body.destroy()
    expect((await outcome(second, 2000)).state).not.toBe('pending')
  })
})

describe('item 8: connectTimeout covers the lookup', () => {
  // A custom lookup that never calls back: today ClientConn.connect() waits forever (the
  // connect timer starts only once an address is known). undici's connectTimeout covers it.
  it('ClientConn.connect() with a lookup that never answers fails with ERR_CONNECT_TIMEOUT', async () => {
    const o = await outcome(ClientConn.connect('http://never-resolves.test:80', { lookup: () => {}, connectTimeout: 300 }), 3000)
    expect(o.state).toBe('rejected')
    if (o.state !== 'rejected') return
    expect(o.error).toBeInstanceOf(TimeoutError)
    expect(o.error.code).toBe('ERR_CONNECT_TIMEOUT')
  })

  it('Pool: a request whose lookup never answers fails with ERR_CONNECT_TIMEOUT', async () => {
    const pool = cleanup.add(() => pool.destroy(), new Pool('http://never-resolves.test:80', { lookup: () => {}, connectTimeout: 300 }))
    const o = await outcome(pool.request({ path: '/' }), 3000)
    expect(o.state).toBe('rejected')
    if (o.state !== 'rejected') return
    expect(o.error).toBeInstanceOf(TimeoutError)
    expect(o.error.code).toBe('ERR_CONNECT_TIMEOUT')
  })
})

describe('item 9: a throwing data listener', () => {
  // Run in a child process: the uncaughtException handler that keeps the process alive would
  // otherwise be the test runner's. undici errors the body with what the listener threw (and
  // reports it as uncaught once); the next request on the connection works. Today the body
  // stalls (no 'error', no 'close') and so does the connection.
  it('errors the body with the thrown error and leaves the pool usable', async () => {
    const r = await runNode([path.join(__dirname, 'fixtures', 'throwing-data-listener.cjs'), path.join(ROOT, 'dist', 'cjs', 'index.js')], { timeoutMs: 15_000 })
    expect(r.timedOut).toBe(false)
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!)
    expect(report.events).toContain('error:boom')
    expect(report.events).toContain('close')
    expect(report.events).not.toContain('end')
    // Reported once as uncaught (as undici does), not swallowed and not repeated per chunk.
    expect(report.uncaught).toBe(1)
    expect(report.next).toBe('helloworldworldworldworldworld')
  }, 20_000)
})

describe('item 21: a complete response (and FIN) before the request is written', () => {
  // The server answers as soon as the connection opens, without reading the request. undici
  // reads the early response and resolves with it. Today node-hyper's Pool opens connection
  // after connection (each one closes before it is used; ~10,000 per second) and the request
  // never settles, headersTimeout or not.
  for (const size of [100, 10 << 20]) {
    it(`Pool: POST with a ${size === 100 ? '100 B' : '10 MiB'} body gets the early 200 (as undici does), on at most 2 connections`, async () => {
      const srv = cleanup.add(() => srv.close(), await tcpServer((socket) => {
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nearly')
      }))
      const pool = cleanup.add(() => pool.destroy(), new Pool(`http://127.0.0.1:${srv.port}`))
      const o = await outcome(pool.request({ method: 'POST', path: '/', body: Buffer.alloc(size, 0x61), headersTimeout: 1000 })
        .then(async (r) => [r.status, await r.body.text()]), 3000)
      pool.destroy()
      expect(srv.connections()).toBeLessThanOrEqual(2)
      expect(o).toEqual({ state: 'resolved', value: [200, 'early'] })
    })
  }

  it('HyperDispatcher: undici.request() POST gets the early 200, like undici\'s own Agent', async () => {
    const srv = cleanup.add(() => srv.close(), await tcpServer((socket) => {
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nearly')
    }))
    const run = async (dispatcher: undici.Dispatcher) => outcome(undici.request(`http://127.0.0.1:${srv.port}/`, { dispatcher, method: 'POST', body: 'x'.repeat(1000) })
      .then(async (r) => [r.statusCode, await r.body.text()]), 3000)
    const reference = new undici.Agent()
    cleanup.add(() => reference.destroy())
    expect(await run(reference)).toEqual({ state: 'resolved', value: [200, 'early'] })
    const hyper = new HyperDispatcher()
    cleanup.add(() => hyper.destroy())
    expect(await run(hyper as unknown as undici.Dispatcher)).toEqual({ state: 'resolved', value: [200, 'early'] })
  })
})

describe('item 25: connect timeout after a blocked event loop', () => {
  // The connection completes (loopback) while the event loop is blocked for 300 ms right after
  // the request started; connectTimeout is 100 ms. The timers phase runs before the poll phase,
  // so today the connect timer fires first. undici checks for completed I/O before failing
  // (undici#3410).
  const block = (ms: number): void => {
    const end = Date.now() + ms
    while (Date.now() < end) { /* the event loop is blocked */ }
  }

  it('Pool: a request started just before a 300 ms block with connectTimeout 100 succeeds', async () => {
    const srv = cleanup.add(() => srv.close(), await tcpServer((socket) => {
      socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'))
    }))
    const pool = cleanup.add(() => pool.destroy(), new Pool(`http://127.0.0.1:${srv.port}`, { connectTimeout: 100 }))
    const p = pool.request({ path: '/' }).then((r) => r.body.text())
    // Let the connect start (the lookup of an IP literal and the pool's dispatch are microtasks).
    for (let i = 0; i < 20; i++) await Promise.resolve()
    block(300)
    expect(await outcome(p, 3000)).toEqual({ state: 'resolved', value: 'ok' })
  })

  it('ClientConn.connect() just before a 300 ms block with connectTimeout 100 succeeds', async () => {
    const srv = cleanup.add(() => srv.close(), await tcpServer(() => {}))
    const p = ClientConn.connect(`http://127.0.0.1:${srv.port}`, { connectTimeout: 100 })
    for (let i = 0; i < 20; i++) await Promise.resolve()
    block(300)
    const o = await outcome(p, 3000)
    if (o.state === 'resolved') o.value.destroy()
    expect(show(o)).toBe('resolved')
  })
})

