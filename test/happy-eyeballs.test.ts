// Happy eyeballs (autoSelectFamily): a host whose first address never answers connects through
// the next one after the attempt delay, through every entry point; when all fail the error lists
// each attempt. The unreachable address is a loopback black hole (test/black-hole.ts), never an
// outside one.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import http from 'node:http'
import net from 'node:net'
import { execFileSync } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import * as undici from 'undici'
import { ClientConn, Pool, Agent, HyperDispatcher, SocketError, TimeoutError, InvalidArgumentError } from '../dist/esm/index.mjs'
import { blackHole, canListen, type BlackHole } from './black-hole.js'
import { deadPort } from './helpers.js'

const require = createRequire(import.meta.url)
const { binding } = require('../dist/cjs/native.js')
const { interleave } = require('../dist/cjs/connect.js')

type Lookup = (host: string, opts: { all?: boolean }, cb: (err: Error | null, address: unknown, family?: number) => void) => void

/** A lookup answering `addresses` for every name (dns.lookup's shapes, all: true or not). */
function fixedLookup (addresses: { address: string, family: 4 | 6 }[]): Lookup {
  return (_host, opts, cb) => {
    if (opts.all) cb(null, addresses)
    else cb(null, addresses[0]!.address, addresses[0]!.family)
  }
}

// The default Executor's own handles (its driver's idle and check handles): what stays open
// when no connection is.
let baseHandles = -1

/** Open native handles once those of closed connections and attempts are gone, beyond the Executor's. */
async function settleHandles (): Promise<number> {
  for (let i = 0; i < 50 && binding.liveObjects().handles > baseHandles; i++) await new Promise((r) => setTimeout(r, 10))
  return binding.liveObjects().handles - baseHandles
}

beforeAll(async () => {
  // Start the default Executor (one connection opened and closed), then count what it holds.
  const srv = http.createServer((_req, res) => res.end())
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const conn = await ClientConn.connect(`http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`)
  await conn.close()
  srv.close()
  await new Promise((r) => setTimeout(r, 50))
  baseHandles = binding.liveObjects().handles
})

describe('happy eyeballs', () => {
  let hole: BlackHole | undefined
  let server: http.Server
  let port = 0
  let seen: string[] = []
  // The unreachable address comes first, as an AAAA record whose route is dead would.
  let unreachable = { address: '::1', family: 6 as 4 | 6 }
  const live = { address: '127.0.0.1', family: 4 as const }
  let skip = ''

  beforeAll(async () => {
    if (!(await canListen('::1'))) unreachable = { address: '127.0.0.2', family: 4 }
    for (let i = 0; i < 5 && !hole; i++) {
      let h: BlackHole
      try {
        h = await blackHole(unreachable.address)
      } catch (err) {
        skip = (err as Error).message
        return
      }
      server = http.createServer((req, res) => {
        seen.push(req.socket.remoteAddress ?? '')
        res.end(`hello ${req.socket.localAddress}`)
      })
      const ok = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false))
        server.listen(h.port, live.address, () => resolve(true))
      })
      if (ok) {
        hole = h
        port = h.port
      } else {
        await h.close()
      }
    }
    if (!hole && !skip) skip = 'no port free on both addresses'
  })

  afterAll(async () => {
    await hole?.close()
    server?.closeAllConnections()
    await new Promise((r) => server?.close(r))
  })

  const lookup = (): Lookup => fixedLookup([unreachable, live])

  it('the black hole really hangs a plain connect (the premise)', async (ctx) => {
    if (skip) return ctx.skip(skip)
    const conn = ClientConn.connect(`http://dual.test:${port}`, { lookup: lookup(), autoSelectFamily: false, connectTimeout: 700 })
    await expect(conn).rejects.toMatchObject({ code: 'ERR_CONNECT_TIMEOUT' })
    await expect(conn).rejects.toBeInstanceOf(TimeoutError)
  })

  it('ClientConn: the unreachable first address loses to the live second one within ~0.5 s', async (ctx) => {
    if (skip) return ctx.skip(skip)
    const t0 = performance.now()
    const conn = await ClientConn.connect(`http://dual.test:${port}`, { lookup: lookup(), connectTimeout: 10_000 })
    const elapsed = performance.now() - t0
    const res = await conn.request({ path: '/' })
    expect(await res.body.text()).toBe('hello 127.0.0.1')
    await conn.close()
    // The attempt delay is 250 ms; the bound is generous for a loaded machine, and far below the
    // 10 s connect timeout a single-address connect would wait.
    expect(elapsed).toBeGreaterThanOrEqual(200)
    expect(elapsed).toBeLessThan(3000)
    console.log(`happy eyeballs: connected through the second address in ${elapsed.toFixed(0)} ms`)
  })

  it('the attempt delay is autoSelectFamilyAttemptTimeout', async (ctx) => {
    if (skip) return ctx.skip(skip)
    const t0 = performance.now()
    const conn = await ClientConn.connect(`http://dual.test:${port}`, { lookup: lookup(), autoSelectFamilyAttemptTimeout: 800 })
    const elapsed = performance.now() - t0
    await conn.close()
    expect(elapsed).toBeGreaterThanOrEqual(750)
  })

  it('Pool, Agent, HyperDispatcher (undici fetch and request) all race', async (ctx) => {
    if (skip) return ctx.skip(skip)
    const pool = new Pool(`http://dual.test:${port}`, { lookup: lookup() })
    expect(await (await pool.request({})).body.text()).toBe('hello 127.0.0.1')
    await pool.close()
    const agent = new Agent({ lookup: lookup() })
    expect(await (await agent.request(`http://dual.test:${port}/`)).body.text()).toBe('hello 127.0.0.1')
    await agent.close()
    const d = new HyperDispatcher({ connect: { lookup: lookup() as never } })
    const t0 = performance.now()
    const res = await undici.fetch(`http://dual.test:${port}/`, { dispatcher: d as never })
    expect(await res.text()).toBe('hello 127.0.0.1')
    expect(performance.now() - t0).toBeLessThan(3000)
    const r2 = await undici.request(`http://dual.test:${port}/`, { dispatcher: d as never })
    expect(await r2.body.text()).toBe('hello 127.0.0.1')
    await d.close()
  })

  it('losers are closed: no handle outlives the connection', async (ctx) => {
    if (skip) return ctx.skip(skip)
    expect(await settleHandles()).toBe(0)
    const conn = await ClientConn.connect(`http://dual.test:${port}`, { lookup: lookup() })
    await (await conn.request({})).body.dump()
    await conn.close()
    expect(await settleHandles()).toBe(0)
  })

  it('a failed attempt starts the next at once (no attempt delay to wait)', async () => {
    const refused = await deadPort()
    const srv = http.createServer((_req, res) => res.end('ok'))
    // The live server on the port that is dead on 127.0.0.2.
    const ok = await new Promise<boolean>((resolve) => {
      srv.once('error', () => resolve(false))
      srv.listen(refused, '127.0.0.1', () => resolve(true))
    })
    if (!ok) return
    try {
      const conn = await ClientConn.connect(`http://refused-first.test:${refused}`, {
        lookup: fixedLookup([{ address: '127.0.0.2', family: 4 }, { address: '127.0.0.1', family: 4 }]),
        autoSelectFamilyAttemptTimeout: 20_000,
        connectTimeout: 10_000,
      })
      expect(await (await conn.request({})).body.text()).toBe('ok')
      await conn.close()
    } finally {
      srv.closeAllConnections()
      await new Promise((r) => srv.close(r))
    }
  })

  it('every attempt fails: the first failure\'s code, each attempt listed in errors (interleaved order)', async () => {
    const dead = await deadPort()
    const v6 = await canListen('::1')
    const addresses: { address: string, family: 4 | 6 }[] = v6
      ? [{ address: '127.0.0.1', family: 4 }, { address: '127.0.0.2', family: 4 }, { address: '::1', family: 6 }]
      : [{ address: '127.0.0.1', family: 4 }, { address: '127.0.0.2', family: 4 }]
    const err = await ClientConn.connect(`http://nowhere.test:${dead}`, { lookup: fixedLookup(addresses) }).catch((e) => e)
    expect(err).toBeInstanceOf(SocketError)
    expect(err.code).toBe('ECONNREFUSED')
    expect(err.requestSent).toBe(false)
    const attempts = (err.errors as SocketError[]).map((e) => [e.code, e.address, e.port])
    // Node's order: the first address's family, then alternating.
    expect(attempts).toEqual(v6
      ? [['ECONNREFUSED', '127.0.0.1', dead], ['ECONNREFUSED', '::1', dead], ['ECONNREFUSED', '127.0.0.2', dead]]
      : [['ECONNREFUSED', '127.0.0.1', dead], ['ECONNREFUSED', '127.0.0.2', dead]])
    expect(err.message).toContain('every address of nowhere.test')
    expect(await settleHandles()).toBe(0)
  })

  it('the connect timeout during the race: TimeoutError listing the unanswered attempt and the failed one', async (ctx) => {
    if (skip) return ctx.skip(skip)
    const dead = { address: '127.0.0.3', family: 4 as const }
    const err = await ClientConn.connect(`http://half.test:${port}`, { lookup: fixedLookup([unreachable, dead]), connectTimeout: 800 }).catch((e) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.code).toBe('ERR_CONNECT_TIMEOUT')
    expect((err.errors as SocketError[]).map((e) => [e.code, e.address])).toEqual([['ETIMEDOUT', unreachable.address], ['ECONNREFUSED', '127.0.0.3']])
    expect(await settleHandles()).toBe(0)
  })

  it('abort during the race closes every attempt', async (ctx) => {
    if (skip) return ctx.skip(skip)
    const ac = new AbortController()
    const p = ClientConn.connect(`http://dual.test:${port}`, { lookup: fixedLookup([unreachable, unreachable.family === 6 ? { address: '::1', family: 6 } : { address: '127.0.0.2', family: 4 }]), signal: ac.signal, autoSelectFamilyAttemptTimeout: 10 })
    setTimeout(() => ac.abort(), 100)
    await expect(p).rejects.toMatchObject({ code: 'ABORT_ERR' })
    expect(await settleHandles()).toBe(0)
  })

  it('a worker terminated mid-race exits cleanly (its attempts are closed by the environment teardown)', async (ctx) => {
    if (skip) return ctx.skip(skip)
    const cjs = fileURLToPath(new URL('../dist/cjs/index.js', import.meta.url))
    for (let round = 0; round < 3; round++) {
      const w = new Worker(`
        const { parentPort, workerData } = require('node:worker_threads')
        const { ClientConn } = require(workerData.cjs)
        const list = [workerData.unreachable, { address: '127.0.0.3', family: 4 }]
        const lookup = (h, o, cb) => o.all ? cb(null, list) : cb(null, list[0].address, list[0].family)
        ClientConn.connect('http://race.test:' + workerData.port, { lookup, autoSelectFamilyAttemptTimeout: 10 }).catch(() => {})
        setTimeout(() => parentPort.postMessage('racing'), 50)
      `, { eval: true, workerData: { cjs, port, unreachable } })
      await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
      expect(await w.terminate()).toBe(1)
    }
    // The main thread still connects.
    const conn = await ClientConn.connect(`http://dual.test:${port}`, { lookup: lookup() })
    await conn.close()
  })

  it('interleaves like Node: the first address\'s family first, then alternating, duplicates dropped', () => {
    const a = (address: string): { address: string, family: 4 | 6 } => ({ address, family: net.isIP(address) as 4 | 6 })
    expect(interleave([a('::1'), a('::2'), a('::3'), a('10.0.0.1'), a('::1')]).map((x: { address: string }) => x.address))
      .toEqual(['::1', '10.0.0.1', '::2', '::3'])
    expect(interleave([a('10.0.0.1'), a('10.0.0.2'), a('::1'), a('::2')]).map((x: { address: string }) => x.address))
      .toEqual(['10.0.0.1', '::1', '10.0.0.2', '::2'])
  })

  it('a custom lookup is called with all: true (and without it when autoSelectFamily is off)', async () => {
    const srv = http.createServer((_req, res) => res.end('ok'))
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    const p = (srv.address() as net.AddressInfo).port
    const calls: unknown[] = []
    const spy: Lookup = (host, opts, cb) => { calls.push({ ...opts }); fixedLookup([live])(host, opts, cb) }
    for (const autoSelectFamily of [true, false]) {
      const conn = await ClientConn.connect(`http://spy.test:${p}`, { lookup: spy, autoSelectFamily, family: 4 })
      await conn.close()
    }
    expect(calls).toEqual([{ family: 4, all: true }, { family: 4 }])
    srv.close()
  })

  it('options are validated', () => {
    expect(() => new Pool('http://x', { autoSelectFamily: 'yes' as never })).toThrow(InvalidArgumentError)
    expect(() => new Pool('http://x', { autoSelectFamilyAttemptTimeout: 0 })).toThrow(/autoSelectFamilyAttemptTimeout/)
    expect(() => new Pool('http://x', { autoSelectFamilyAttemptTimeout: 1.5 })).toThrow(InvalidArgumentError)
    expect(() => new Pool('http://x', { localAddress: 'not-an-ip' })).toThrow(/localAddress/)
    expect(() => new Pool('http://x', { localAddress: '127.0.0.1', family: 6 })).toThrow(/family/)
    expect(() => new Pool('http://x', { keepAliveInitialDelay: -1 })).toThrow(/keepAliveInitialDelay/)
    expect(() => new Pool('http://x', { keepAlive: 1 as never })).toThrow(InvalidArgumentError)
    expect(() => new Pool('http://x', { noDelay: 'no' as never })).toThrow(InvalidArgumentError)
  })
})

describe('socket options', () => {
  it('localAddress: the connection comes from that address; the other family is refused', async () => {
    const srv = http.createServer((req, res) => res.end(req.socket.remoteAddress))
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    const p = (srv.address() as net.AddressInfo).port
    for (const from of ['127.0.0.1', '127.0.0.2']) {
      const conn = await ClientConn.connect(`http://127.0.0.1:${p}`, { localAddress: from })
      expect(await (await conn.request({})).body.text()).toBe(from)
      await conn.close()
    }
    // An IPv6 local address for an IPv4 target: the bind cannot happen (a typed socket error).
    if (await canListen('::1')) {
      const err = await ClientConn.connect(`http://127.0.0.1:${p}`, { localAddress: '::1' }).catch((e) => e)
      expect(err).toBeInstanceOf(SocketError)
      expect(err.code).toBe('EAFNOSUPPORT')
      // A name: only addresses of the local address's family are tried.
      const err2 = await ClientConn.connect(`http://v4only.test:${p}`, { localAddress: '::1', lookup: fixedLookup([{ address: '127.0.0.1', family: 4 }]) }).catch((e) => e)
      expect(err2.code).toBe('ENOTFOUND')
      expect(err2.message).toContain('IPv6')
    }
    srv.close()
  })

  it('TCP keep-alive: the first probe after keepAliveInitialDelay (60 s by default), none with keepAlive: false', async (ctx) => {
    let ssOk = true
    try {
      execFileSync('ss', ['-V'], { stdio: 'ignore' })
    } catch {
      ssOk = false
    }
    if (!ssOk) return ctx.skip('ss (iproute2) is not installed: cannot read the socket\'s keep-alive timer')
    const srv = http.createServer((_req, res) => res.end('ok'))
    srv.keepAliveTimeout = 60_000
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    const p = (srv.address() as net.AddressInfo).port
    const timerOf = async (opts: object): Promise<string> => {
      const conn = await ClientConn.connect(`http://127.0.0.1:${p}`, opts)
      await (await conn.request({})).body.dump()
      // Our side of the connection is the one whose peer port is the server's.
      const out = execFileSync('ss', ['-tno', 'state', 'established', 'dport', '=', `:${p}`]).toString()
      await conn.close()
      return out
    }
    const dflt = await timerOf({})
    const custom = await timerOf({ keepAliveInitialDelay: 20_000 })
    const off = await timerOf({ keepAlive: false })
    const secs = (out: string): number => Number(/timer:\(keepalive,(\d+)(?:min|sec)/.exec(out)?.[1] ?? NaN) * (/timer:\(keepalive,\d+min/.test(out) ? 60 : 1)
    if (!/timer:\(keepalive/.test(dflt)) return ctx.skip('ss shows no keep-alive timers on this system')
    expect(secs(dflt)).toBeGreaterThan(50)
    expect(secs(dflt)).toBeLessThanOrEqual(60)
    expect(secs(custom)).toBeGreaterThan(10)
    expect(secs(custom)).toBeLessThanOrEqual(20)
    expect(off).not.toMatch(/keepalive/)
    srv.close()
  })

  it('noDelay: false still connects and exchanges (Nagle on)', async () => {
    const srv = http.createServer((_req, res) => res.end('ok'))
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    const p = (srv.address() as net.AddressInfo).port
    const conn = await ClientConn.connect(`http://127.0.0.1:${p}`, { noDelay: false })
    expect(await (await conn.request({ method: 'POST', body: 'x'.repeat(100) })).body.text()).toBe('ok')
    await conn.close()
    srv.close()
  })
})
