// Unix domain sockets through every entry point (ClientConn, Pool, Agent, the top-level
// request(), HyperDispatcher with undici's fetch/request, undici's connect.socketPath), TLS over
// a Unix socket, and undici's connect options mapped (or refused) on HyperDispatcher.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as undici from 'undici'
import { ClientConn, Pool, Agent, HyperDispatcher, request, InvalidArgumentError, SocketError } from '../dist/esm/index.mjs'
import { makePki, type TestPki } from './tls-certs.js'

let dir = ''
let sockA = ''
let sockB = ''
let sockTls = ''
let pki: TestPki
const servers: net.Server[] = []
const seen: { sock: string, url: string, host: string | undefined }[] = []

function serve (server: http.Server | https.Server, sock: string, name: string): Promise<void> {
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    seen.push({ sock: name, url: req.url ?? '', host: req.headers.host })
    res.end(`${name} ${req.url} host=${req.headers.host}`)
  })
  servers.push(server)
  return new Promise((resolve) => server.listen(sock, resolve))
}

beforeAll(async () => {
  pki = makePki()
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-unix-'))
  sockA = path.join(dir, 'a.sock')
  sockB = path.join(dir, 'b.sock')
  sockTls = path.join(dir, 'tls.sock')
  await serve(http.createServer(), sockA, 'A')
  await serve(http.createServer(), sockB, 'B')
  await serve(https.createServer({ ...pki.good }), sockTls, 'TLS')
})

afterAll(async () => {
  for (const s of servers) {
    (s as http.Server).closeAllConnections?.()
    await new Promise((r) => s.close(r))
  }
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('socketPath everywhere', () => {
  it('ClientConn: a URL plus socketPath (Host from the URL), and { socketPath } as before', async () => {
    const c1 = await ClientConn.connect('http://docker.test/v1', { socketPath: sockA })
    expect(await (await c1.request({ path: '/info' })).body.text()).toBe('A /info host=docker.test')
    await c1.close()
    const c2 = await ClientConn.connect({ socketPath: sockB })
    expect(await (await c2.request({ path: '/x' })).body.text()).toBe('B /x host=localhost')
    await c2.close()
    await expect(ClientConn.connect({ socketPath: sockA }, { socketPath: sockB })).rejects.toThrow(InvalidArgumentError)
  })

  it('Pool: every connection over the socket, kept alive', async () => {
    const pool = new Pool('http://pool.test:8080', { socketPath: sockA })
    const texts = await Promise.all([1, 2, 3].map(async (i) => (await pool.request({ path: `/p${i}` })).body.text()))
    expect(texts).toEqual([1, 2, 3].map((i) => `A /p${i} host=pool.test:8080`))
    expect(pool.stats.connected).toBeGreaterThanOrEqual(1)
    await pool.close()
  })

  it('Agent: one socketPath for every origin, or per request (pools keyed by socket path and origin)', async () => {
    const all = new Agent({ socketPath: sockA })
    expect(await (await all.request('http://one.test/a')).body.text()).toBe('A /a host=one.test')
    expect(await (await all.request('http://two.test/b')).body.text()).toBe('A /b host=two.test')
    await all.close()
    const agent = new Agent()
    expect(await (await agent.request('http://same.test/1', { socketPath: sockA })).body.text()).toBe('A /1 host=same.test')
    expect(await (await agent.request('http://same.test/2', { socketPath: sockB })).body.text()).toBe('B /2 host=same.test')
    expect(agent.pool('http://same.test', sockA)).not.toBe(agent.pool('http://same.test', sockB))
    expect(agent.pool('http://same.test', sockA)).toBe(agent.pool('http://same.test', sockA))
    expect(agent.pool('http://same.test', sockA).stats.connected).toBe(1)
    await agent.close()
    expect(() => new Agent().pool('http://x.test', '')).toThrow(InvalidArgumentError)
  })

  it('request(): the global agent with a per-request socketPath', async () => {
    expect(await (await request('http://global.test/r', { socketPath: sockB })).body.text()).toBe('B /r host=global.test')
  })

  it('HyperDispatcher: socketPath, or undici\'s connect.socketPath, with fetch and request', async () => {
    const d1 = new HyperDispatcher({ socketPath: sockA })
    expect(await (await undici.fetch('http://fetch.test/f', { dispatcher: d1 as never })).text()).toBe('A /f host=fetch.test')
    await d1.close()
    const d2 = new HyperDispatcher({ connect: { socketPath: sockB } })
    const r = await undici.request('http://req.test/q', { dispatcher: d2 as never })
    expect(await r.body.text()).toBe('B /q host=req.test')
    await d2.close()
  })

  it('https: over a Unix socket: TLS verified against the URL\'s name', async () => {
    const pool = new Pool('https://localhost', { socketPath: sockTls, tls: { ca: pki.ca } })
    expect(await (await pool.request({ path: '/t' })).body.text()).toBe('TLS /t host=localhost')
    await pool.close()
    const wrong = await ClientConn.connect('https://wrong.test', { socketPath: sockTls, tls: { ca: pki.ca } }).catch((e) => e)
    expect(wrong.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
    const d = new HyperDispatcher({ connect: { socketPath: sockTls, ca: pki.ca } })
    expect(await (await undici.fetch('https://localhost/u', { dispatcher: d as never })).text()).toBe('TLS /u host=localhost')
    await d.close()
  })

  it('a missing socket is ENOENT; proxy: \'env\' does not apply to a Unix socket', async () => {
    const err = await new Pool('http://x.test', { socketPath: path.join(dir, 'missing.sock') }).request({}).catch((e) => e)
    expect(err).toBeInstanceOf(SocketError)
    expect(err.code).toBe('ENOENT')
    const saved = process.env.HTTP_PROXY
    process.env.HTTP_PROXY = 'http://127.0.0.1:9'
    try {
      const pool = new Pool('http://env.test', { socketPath: sockA, proxy: 'env' })
      expect(await (await pool.request({})).body.text()).toBe('A / host=env.test')
      await pool.close()
    } finally {
      if (saved === undefined) delete process.env.HTTP_PROXY
      else process.env.HTTP_PROXY = saved
    }
  })
})

describe('HyperDispatcher: undici\'s connect options', () => {
  it('maps each one it can honour', async () => {
    const srv = http.createServer((req, res) => res.end(req.socket.remoteAddress))
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    const port = (srv.address() as net.AddressInfo).port
    const looked: string[] = []
    const d = new HyperDispatcher({
      connect: {
        localAddress: '127.0.0.2',
        lookup: ((host: string, opts: { all?: boolean }, cb: (e: null, a: unknown, f?: number) => void) => {
          looked.push(host)
          if (opts.all) cb(null, [{ address: '127.0.0.1', family: 4 }])
          else cb(null, '127.0.0.1', 4)
        }) as never,
        timeout: 5000,
        keepAlive: true,
        keepAliveInitialDelay: 30_000,
        noDelay: true,
        family: 4,
        autoSelectFamily: true,
        autoSelectFamilyAttemptTimeout: 100,
        maxCachedSessions: 0,
        servername: 'ignored-for-http.test',
      },
    })
    const res = await undici.request(`http://mapped.test:${port}/`, { dispatcher: d as never })
    expect(await res.body.text()).toBe('127.0.0.2')
    expect(looked).toEqual(['mapped.test'])
    await d.close()
    srv.close()
  })

  it('connect.timeout is the connect timeout (undici\'s ConnectTimeoutError)', async () => {
    const d = new HyperDispatcher({ connect: { timeout: 300, lookup: ((_h: string, _o: unknown, cb: () => void) => { void cb }) as never } })
    const err = await undici.request('http://never-resolves.test/', { dispatcher: d as never }).catch((e) => e)
    expect(err).toBeInstanceOf(undici.errors.ConnectTimeoutError)
    await d.close()
  })

  it('refuses any other key, and a connect function, by name', () => {
    for (const key of ['hints', 'localPort', 'checkServerIdentity', 'session', 'allowH2', 'httpSocket']) {
      let err: InvalidArgumentError | undefined
      try {
        new HyperDispatcher({ connect: { [key]: 1 } as never })
      } catch (e) {
        err = e as InvalidArgumentError
      }
      expect(err, key).toBeInstanceOf(InvalidArgumentError)
      expect(err!.field).toBe(`connect.${key}`)
    }
    expect(() => new HyperDispatcher({ connect: 'x' as never })).toThrow(InvalidArgumentError)
    expect(() => new HyperDispatcher({ connect: (() => {}) as never })).toThrow(/connect function/)
    expect(() => new HyperDispatcher({ requestTls: {} } as never)).toThrow(/ProxyAgent/)
    expect(() => new HyperDispatcher({ connect: { maxCachedSessions: -1 } })).toThrow(InvalidArgumentError)
  })
})
