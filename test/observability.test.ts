// Per-response timings and connection information (res.timings, res.connection, conn.info,
// conn.timings), node-hyper's own diagnostics channel (node-hyper:request:done), the diagnostics
// request object's addHeader rules, and the Pool/Agent events of node-hyper's own API. Real
// servers on loopback; time assertions only as generous lower bounds on deliberate delays, and
// as the order of events.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import dc from 'node:diagnostics_channel'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ClientConn, Pool, Agent, InvalidArgumentError } from '../dist/esm/index.mjs'
import { httpServer, rawServer, deadPort } from './helpers'
import { makePki, type TestPki } from './tls-certs'
import { forwardProxy } from './forward-proxy-server'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Local ports of the connections the server accepted, by request path. */
const clientPorts = new Map<string, number>()
function handler (req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, 'http://x')
  clientPorts.set(url.pathname, req.socket.remotePort!)
  const head = Number(url.searchParams.get('head') ?? 0)
  const gap = Number(url.searchParams.get('gap') ?? 0)
  setTimeout(() => {
    if (res.destroyed) return
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('part one;')
    setTimeout(() => { if (!res.destroyed) res.end('part two') }, gap)
  }, head)
}

let srv: Awaited<ReturnType<typeof httpServer>>
let origin: string
beforeAll(async () => {
  srv = await httpServer(handler)
  origin = `http://127.0.0.1:${srv.port}`
})
afterAll(async () => { await srv.close() })

/** The timeline of a response is ordered and its phases add up to its total. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function expectCoherent (t: any): void {
  expect(t.start).toBeLessThanOrEqual(t.sent)
  expect(t.sent).toBeLessThanOrEqual(t.firstByte)
  expect(t.firstByte).toBeLessThanOrEqual(t.end)
  expect(t.end).toBeLessThanOrEqual(performance.now())
  const p = t.phases
  for (const k of ['queued', 'dns', 'tcp', 'tls', 'firstByte', 'download', 'total']) expect(p[k]).toBeGreaterThanOrEqual(0)
  expect(p.queued + p.dns + p.tcp + p.tls + p.firstByte + p.download).toBeCloseTo(p.total, 6)
  expect(p.total).toBeCloseTo(t.end - t.start, 6)
}

describe('conn.info and conn.timings', () => {
  it('TCP: peer and local address (the server sees the same local port), setup steps in order', async () => {
    const before = performance.now()
    const conn = await ClientConn.connect(origin)
    try {
      const res = await conn.request({ path: '/info' })
      await res.body.text()
      expect(conn.info).toEqual({
        protocol: '1.1', remoteAddress: '127.0.0.1', remotePort: srv.port, remoteFamily: 'IPv4',
        localAddress: '127.0.0.1', localPort: clientPorts.get('/info'), socketPath: undefined, proxy: undefined, tls: undefined,
      })
      const t = conn.timings
      expect(before).toBeLessThanOrEqual(t.lookupStart!)
      expect(t.lookupStart!).toBeLessThanOrEqual(t.lookupEnd!)
      expect(t.lookupEnd!).toBeLessThanOrEqual(t.connectStart!)
      expect(t.connectStart!).toBeLessThanOrEqual(t.connectEnd!)
      expect(t.secureEnd).toBeUndefined()
      expect(t.connectEnd!).toBeLessThanOrEqual(t.ready!)
      expect(t.ready!).toBeLessThanOrEqual(performance.now())
      // Same object once connected (computed once).
      expect(conn.info).toBe(conn.info)
      expect(conn.timings).toBe(conn.timings)
    } finally {
      await conn.close()
    }
    // Still readable after close.
    expect(conn.info.remotePort).toBe(srv.port)
  })

  it('IPv6 (::1): remoteFamily IPv6', async (ctx) => {
    const server = http.createServer(handler)
    try {
      await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '::1', resolve) })
    } catch {
      ctx.skip()
      return
    }
    const port = (server.address() as net.AddressInfo).port
    const conn = await ClientConn.connect(`http://[::1]:${port}`)
    try {
      expect(conn.info).toMatchObject({ remoteAddress: '::1', remotePort: port, remoteFamily: 'IPv6', localAddress: '::1' })
    } finally {
      await conn.close()
      server.close()
    }
  })

  it('a Unix socket: its path, no addresses, no lookup', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-obs-'))
    const sock = path.join(dir, 's.sock')
    const server = http.createServer(handler)
    await new Promise<void>((resolve) => server.listen(sock, resolve))
    const conn = await ClientConn.connect('http://unix.test/', { socketPath: sock })
    try {
      await (await conn.request({ path: '/unix' })).body.text()
      expect(conn.info).toMatchObject({ socketPath: sock, remoteAddress: undefined, remotePort: undefined, remoteFamily: undefined, localPort: undefined })
      expect(conn.timings.lookupStart).toBeUndefined()
      expect(conn.timings.connectEnd).toBeGreaterThan(0)
    } finally {
      await conn.close()
      server.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('through a forward proxy: the peer is the proxy, and `proxy` names it', async () => {
    const proxy = await forwardProxy()
    const conn = await ClientConn.connect(origin, { proxy: proxy.url })
    try {
      await (await conn.request({ path: '/proxied' })).body.text()
      expect(conn.info).toMatchObject({ proxy: proxy.url, remoteAddress: '127.0.0.1', remotePort: proxy.port })
    } finally {
      await conn.close()
      await proxy.close()
    }
  })
})

describe('res.timings and res.connection', () => {
  it('native stamps land on the performance.now() timeline in a freshly started process', () => {
    // fromHr's offset is measured when lib/timings loads. The first window a process measures is
    // tens of µs wide, enough to put a native stamp before the request's own start (a flake this
    // file saw). Each fresh process here stamps uv_hrtime between two performance.now() reads and
    // reports how far outside them fromHr put it (µs).
    const script = `
      const { fromHr } = require(${JSON.stringify(fileURLToPath(new URL('../dist/cjs/timings.js', import.meta.url)))})
      const { performance } = require('node:perf_hooks')
      let worst = -Infinity
      for (let i = 0; i < 200; i++) {
        const a = performance.now()
        const x = fromHr(Number(process.hrtime.bigint()) / 1e6)
        const b = performance.now()
        worst = Math.max(worst, a - x, x - b)
      }
      console.log(worst * 1000)
    `
    for (let i = 0; i < 3; i++) {
      const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })
      expect(Number(out)).toBeLessThanOrEqual(1)
    }
  })

  it('a response complete in one read ends when its head was parsed; a later end is stamped then', async () => {
    const raw = await rawServer((s, head) => {
      if (head.includes('/split')) {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab')
        setTimeout(() => s.write('cd'), 30)
      } else {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd')
      }
    })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    try {
      const whole = await conn.request({ path: '/whole' })
      expect(await whole.body.text()).toBe('abcd')
      expectCoherent(whole.timings)
      expect(whole.timings.end).toBe(whole.timings.firstByte)
      expect(whole.timings.phases.download).toBe(0)
      const split = await conn.request({ path: '/split' })
      expect(await split.body.text()).toBe('abcd')
      expectCoherent(split.timings)
      expect(split.timings.phases.download).toBeGreaterThanOrEqual(20)
    } finally {
      await conn.close()
      await raw.close()
    }
  })

  it('a new connection, then a reused one: phases add up; setup counts only for the first', async () => {
    const pool = new Pool(origin)
    try {
      const res = await pool.request({ path: '/first', headers: { 'x-q': '1' } })
      await res.body.text()
      expect(res.connection).toMatchObject({ reused: false, protocol: '1.1', remoteAddress: '127.0.0.1', remotePort: srv.port, localPort: clientPorts.get('/first') })
      const t1 = res.timings
      expectCoherent(t1)
      expect(t1.lookup).toBeDefined()
      expect(t1.connect).toBeDefined()
      expect(t1.secureConnect).toBeUndefined()
      expect(t1.phases.tcp).toBeGreaterThan(0)

      const again = await pool.request({ path: '/second' })
      await again.body.text()
      expect(again.connection).toMatchObject({ reused: true, localPort: res.connection.localPort })
      const t2 = again.timings
      expectCoherent(t2)
      expect(t2).toMatchObject({ lookup: undefined, connect: undefined, secureConnect: undefined })
      expect(t2.phases).toMatchObject({ dns: 0, tcp: 0, tls: 0 })
      expect(t2.start).toBeGreaterThan(t1.end!)
    } finally {
      await pool.close()
    }
  })

  it('deliberate delays show up in the right phase; end is undefined while the body streams', async () => {
    const conn = await ClientConn.connect(origin)
    try {
      const slow = await conn.request({ path: '/slow?head=250&gap=250' })
      const during = slow.timings
      expect(during.end).toBeUndefined()
      expect(during.phases.download).toBeUndefined()
      expect(during.phases.total).toBeUndefined()
      expect(during.phases.firstByte).toBeGreaterThanOrEqual(200)
      expect(await slow.body.text()).toBe('part one;part two')
      const after = slow.timings
      expectCoherent(after)
      expect(after.phases.download).toBeGreaterThanOrEqual(200)
      expect(after.phases.firstByte).toBe(during.phases.firstByte)
    } finally {
      await conn.close()
    }
  })

  it('a response kept after its connection closed does not keep the connection alive', async () => {
    const keep = async (): Promise<[import('../dist/esm/index.mjs').ClientResponse, WeakRef<object>]> => {
      const conn = await ClientConn.connect(origin)
      const res = await conn.request({ path: '/kept' })
      await res.body.text()
      await conn.close()
      return [res, new WeakRef(conn)]
    }
    const [res, ref] = await keep()
    for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
      await sleep(10)
      globalThis.gc!()
    }
    expect(ref.deref()).toBeUndefined()
    // ...and the response still describes it.
    expect(res.connection).toMatchObject({ reused: false, remotePort: srv.port })
    expect(res.timings.end).toBeGreaterThan(res.timings.start)
  })

  it('waiting for a busy connection is `queued`', async () => {
    const pool = new Pool(origin, { connections: 1 })
    try {
      const a = pool.request({ path: '/busy-a?head=250' })
      const b = pool.request({ path: '/busy-b' })
      await (await a).body.text()
      const rb = await b
      await rb.body.text()
      expect(rb.connection.reused).toBe(true)
      expect(rb.timings.phases.queued).toBeGreaterThanOrEqual(200)
      expectCoherent(rb.timings)
    } finally {
      await pool.close()
    }
  })

  it('HTTP/2: requests multiplexed on one new connection; one of them opened it', async () => {
    const server = http2.createServer((req, res) => { res.end('h2') })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    const pool = new Pool(`http://127.0.0.1:${port}`, { http2: true })
    try {
      const all = await Promise.all(Array.from({ length: 5 }, () => pool.request({ path: '/' })))
      for (const r of all) await r.body.text()
      expect(all.map((r) => r.connection.protocol)).toEqual(['2', '2', '2', '2', '2'])
      expect(all.filter((r) => !r.connection.reused)).toHaveLength(1)
      expect(new Set(all.map((r) => r.connection.localPort)).size).toBe(1)
      for (const r of all) expectCoherent(r.timings)
    } finally {
      await pool.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  describe('TLS', () => {
    let pki: TestPki
    beforeAll(() => { pki = makePki() })

    it('the handshake is the `tls` phase; res.connection.tls says what was negotiated', async () => {
      const server = https.createServer({ ...pki.good }, handler)
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const port = (server.address() as net.AddressInfo).port
      const pool = new Pool(`https://localhost:${port}`, { tls: { ca: pki.ca }, http2: false, lookup: (_h, o, cb) => { o.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4) } })
      try {
        const res = await pool.request({ path: '/tls' })
        await res.body.text()
        expect(res.connection).toMatchObject({ reused: false, protocol: '1.1', remoteAddress: '127.0.0.1', tls: { authorized: true, alpnProtocol: 'http/1.1' } })
        const t = res.timings
        expectCoherent(t)
        expect(t.secureConnect!).toBeGreaterThanOrEqual(t.connect!)
        expect(t.phases.tls).toBeGreaterThan(0)
      } finally {
        await pool.close()
        await new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
      }
    })
  })
})

describe('node-hyper:request:done', () => {
  it('every request, with its status or error, timings and connection', async () => {
    const done: any[] = [] // eslint-disable-line @typescript-eslint/no-explicit-any
    const fn = (m: unknown): void => { done.push(m) }
    dc.subscribe('node-hyper:request:done', fn)
    const agent = new Agent()
    const dead = await deadPort()
    try {
      await (await agent.request(`${origin}/done-ok`)).body.text()
      const err = await agent.request(`http://127.0.0.1:${dead}/done-refused`).then(() => null, (e: NodeJS.ErrnoException) => e)
      expect(err?.code).toBe('ECONNREFUSED')
      const ac = new AbortController()
      const res = await agent.request(`${origin}/done-abort?gap=5000`, { signal: ac.signal })
      ac.abort()
      await res.body.text().catch(() => {})
      const late = await agent.request(`${origin}/done-timeout?head=5000`, { headersTimeout: 150 }).then(() => null, (e: NodeJS.ErrnoException) => e)
      expect(late?.code).toBe('ERR_HEADERS_TIMEOUT')
    } finally {
      dc.unsubscribe('node-hyper:request:done', fn)
      await agent.close()
    }
    expect(done.map((m) => [m.request.path, m.statusCode, m.error?.code])).toEqual([
      ['/done-ok', 200, undefined],
      ['/done-refused', undefined, 'ECONNREFUSED'],
      ['/done-abort?gap=5000', 200, 'ABORT_ERR'],
      ['/done-timeout?head=5000', undefined, 'ERR_HEADERS_TIMEOUT'],
    ])
    expectCoherent(done[0].timings)
    expect(done[0].connection).toMatchObject({ reused: false, remotePort: srv.port })
    expect(done[2].request.aborted).toBe(true)
    // Failures: the phases still add up; each runs until the failure.
    const sum = (p: any): number => p.queued + p.dns + p.tcp + p.tls + p.firstByte + p.download // eslint-disable-line @typescript-eslint/no-explicit-any
    const refused = done[1].timings
    expect(done[1].connection).toBeUndefined()
    expect(refused).toMatchObject({ sent: undefined, firstByte: undefined })
    expect(refused.phases.queued).toBeCloseTo(refused.phases.total, 6)
    const timedOut = done[3].timings
    expect(timedOut.sent).toBeGreaterThan(timedOut.start)
    expect(timedOut.firstByte).toBeUndefined()
    expect(timedOut.phases.firstByte).toBeGreaterThanOrEqual(100)
    expect(timedOut.phases.download).toBe(0)
    for (const t of [refused, timedOut]) expect(sum(t.phases)).toBeCloseTo(t.phases.total, 6)
  })

  it('a subscriber that arrives mid-request sees only later requests, and nothing breaks', async () => {
    const pool = new Pool(origin)
    const seen: string[] = []
    const fn = (m: any): void => { seen.push(m.request.path) } // eslint-disable-line @typescript-eslint/no-explicit-any
    try {
      const p = pool.request({ path: '/late?head=100' })
      await sleep(20)
      dc.subscribe('node-hyper:request:done', fn)
      dc.subscribe('undici:request:headers', fn)
      await (await p).body.text()
      await (await pool.request({ path: '/later' })).body.text()
    } finally {
      dc.unsubscribe('node-hyper:request:done', fn)
      dc.unsubscribe('undici:request:headers', fn)
      await pool.close()
    }
    expect(seen).toEqual(['/later', '/later'])
  })
})

describe('the diagnostics request object', () => {
  it('addHeader: validated; framing headers refused; what it adds is sent', async () => {
    const outcomes: string[] = []
    const fn = (m: any): void => { // eslint-disable-line @typescript-eslint/no-explicit-any
      if (m.request.path !== '/add') return
      for (const [n, v] of [['content-length', '5'], ['host', 'x'], ['bad name', 'v'], ['x-ok', 'bad\r\nvalue']]) {
        try {
          m.request.addHeader(n, v)
          outcomes.push(`${n}: added`)
        } catch (err) {
          outcomes.push(`${n}: ${(err as Error).constructor.name} ${(err as NodeJS.ErrnoException).code}`)
        }
      }
      expect(m.request.addHeader('x-added', ['a', 'b'])).toBe(m.request)
    }
    let sawHeaders: http.IncomingHttpHeaders = {}
    const server = await httpServer((req, res) => { sawHeaders = req.headers; res.end() })
    dc.subscribe('undici:request:create', fn)
    try {
      const conn = await ClientConn.connect(`http://127.0.0.1:${server.port}`)
      await (await conn.request({ path: '/add' })).body.text()
      await conn.close()
    } finally {
      dc.unsubscribe('undici:request:create', fn)
      await server.close()
    }
    expect(outcomes).toEqual([
      'content-length: InvalidArgumentError ERR_INVALID_ARG_VALUE',
      'host: InvalidArgumentError ERR_INVALID_ARG_VALUE',
      'bad name: InvalidArgumentError ERR_INVALID_HTTP_TOKEN',
      'x-ok: InvalidArgumentError ERR_INVALID_CHAR',
    ])
    expect(sawHeaders['x-added']).toBe('a, b')
    expect(sawHeaders.host).toBe(`127.0.0.1:${server.port}`)
    void InvalidArgumentError
  })
})

describe('Pool and Agent events (node-hyper\'s own API)', () => {
  it('connect, disconnect, connectionError with (origin URL, targets, err)', async () => {
    const agent = new Agent()
    const events: Array<[string, URL, unknown[], unknown]> = []
    for (const e of ['connect', 'disconnect', 'connectionError'] as const) agent.on(e, ((o: URL, t: unknown[], err?: unknown) => events.push([e, o, t, err])) as never)
    const dead = await deadPort()
    try {
      await (await agent.request(`${origin}/ev`)).body.text()
      await agent.request(`http://127.0.0.1:${dead}/`).catch(() => {})
    } finally {
      await agent.close()
    }
    for (let i = 0; i < 100 && !events.some(([e]) => e === 'disconnect'); i++) await sleep(5)
    const by = Object.fromEntries(events.map((e) => [e[0], e]))
    const pool = by.connect![2][1]
    expect(pool).toBeInstanceOf(Pool)
    expect(by.connect![1]).toEqual(new URL(origin))
    expect(by.connect![2]).toEqual([agent, pool, expect.any(ClientConn)])
    expect(by.disconnect![2]).toEqual([agent, pool, by.connect![2][2]])
    expect((by.disconnect![3] as NodeJS.ErrnoException).code).toBe('ERR_CONNECTION_CLOSED')
    expect(by.connectionError![1].origin).toBe(`http://127.0.0.1:${dead}`)
    expect(by.connectionError![2]).toEqual([agent, expect.any(Pool)])
    expect((by.connectionError![3] as NodeJS.ErrnoException).code).toBe('ECONNREFUSED')
  })

  it('Agent.stats: per origin', async () => {
    const agent = new Agent()
    try {
      await (await agent.request(`${origin}/stats`)).body.text()
      expect(agent.stats).toEqual({ [origin]: { connected: 1, free: 1, pending: 0, queued: 0, running: 0, size: 0 } })
    } finally {
      await agent.close()
    }
  })
})
