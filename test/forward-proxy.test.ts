// Forward proxies: http: targets in absolute form, https: targets through a native CONNECT
// tunnel, through every entry point (ClientConn, Pool, Agent, HyperDispatcher with undici's
// fetch/request, undici's ProxyAgent and EnvHttpProxyAgent with a HyperDispatcher factory, and
// node-hyper's own proxy: 'env'). The proxies are real servers on 127.0.0.1: a small counting
// one written for the tests (test/forward-proxy-server.ts; with credentials, one that answers
// 407, TLS to the proxy), raw ones sending exact bytes, and Debian's tinyproxy when installed.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { EventEmitter } from 'node:events'
import { Worker } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'
import * as undici from 'undici'
import { WebSocketServer } from 'ws'
import { ClientConn, Pool, Agent, HyperDispatcher, ProxyError, SocketError, TlsError, InvalidArgumentError } from '../dist/esm/index.mjs'
import { forwardProxy, type ForwardProxy } from './forward-proxy-server.js'
import { makePki, type TestPki } from './tls-certs.js'
import { deadPort, pattern } from './helpers.js'

const require = createRequire(import.meta.url)
const { envProxyFor } = require('../dist/cjs/proxy.js')
const { binding } = require('../dist/cjs/native.js')

const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`

let pki: TestPki
const closers: (() => Promise<void> | void)[] = []
let plainPort = 0 // http: target
let securePort = 0 // https: target (HTTP/1.1 and h2 via ALPN)
let seen: { url: string, host: string | undefined, via: string, version: string }[] = []

async function listen (server: net.Server, host = '127.0.0.1'): Promise<number> {
  const sockets = new Set<net.Socket>()
  server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  closers.push(() => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()) }))
  return (server.address() as net.AddressInfo).port
}

async function proxy (options: Parameters<typeof forwardProxy>[0] = {}): Promise<ForwardProxy> {
  const p = await forwardProxy(options)
  closers.push(() => p.close())
  return p
}

const handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => {
  seen.push({ url: req.url ?? '', host: (req.headers.host ?? req.headers[':authority']) as string | undefined, via: req.socket.remoteAddress ?? '', version: req.httpVersion })
  if (req.method === 'POST') {
    const hash = crypto.createHash('sha256')
    let n = 0
    req.on('data', (c: Buffer) => { hash.update(c); n += c.length })
    req.on('end', () => res.end(`${n} ${hash.digest('hex')}`))
    return
  }
  if (req.url === '/big') {
    res.end(pattern(3 * 1024 * 1024))
    return
  }
  res.end(`hello ${req.url} over ${req.httpVersion}`)
}

beforeAll(async () => {
  pki = makePki()
  plainPort = await listen(http.createServer(handler))
  securePort = await listen(http2.createSecureServer({ ...pki.good, allowHTTP1: true }, handler))
})
afterAll(async () => { for (const c of closers.splice(0).reverse()) await c() })
afterEach(() => { seen = [] })

const plainUrl = (host = 'localhost'): string => `http://${host}:${plainPort}`
const secureUrl = (host = 'localhost'): string => `https://${host}:${securePort}`

describe('forward proxy: ClientConn and Pool', () => {
  it('http: targets go in absolute form (Host is the target), over one kept-alive proxy connection', async () => {
    const p = await proxy()
    const pool = new Pool(plainUrl(), { proxy: p.url })
    for (let i = 0; i < 3; i++) {
      const res = await pool.request({ path: `/a${i}?q=1` })
      expect(await res.body.text()).toBe(`hello /a${i}?q=1 over 1.1`)
    }
    await pool.close()
    expect(p.requests).toEqual([0, 1, 2].map((i) => `${plainUrl()}/a${i}?q=1`))
    expect(p.connects).toEqual([])
    expect(p.connections()).toBe(1)
    expect(seen.map((s) => s.host)).toEqual(Array(3).fill(`localhost:${plainPort}`))
  })

  it('https: targets through a CONNECT tunnel: TLS verified against the target\'s name, h2 by ALPN inside', async () => {
    const p = await proxy()
    const pool = new Pool(secureUrl(), { proxy: p.url, tls: { ca: pki.ca } })
    for (let i = 0; i < 3; i++) {
      const res = await pool.request({ path: `/s${i}` })
      expect(res.httpVersion).toBe('2.0')
      expect(await res.body.text()).toBe(`hello /s${i} over 2.0`)
    }
    await pool.close()
    expect(p.connects).toEqual([`localhost:${securePort}`])
    expect(p.requests).toEqual([])
    // The certificate is checked against the target, not the proxy: a wrong servername fails.
    const wrong = await ClientConn.connect(secureUrl(), { proxy: p.url, tls: { ca: pki.ca, servername: 'other.test' } }).catch((e) => e)
    expect(wrong).toBeInstanceOf(TlsError)
    expect(wrong.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
  })

  it('ClientConn: conn.tls describes the target; an http: target has none (even over an https: proxy)', async () => {
    const p = await proxy({ tls: pki.good })
    const s = await ClientConn.connect(secureUrl(), { proxy: { uri: p.url, tls: { ca: pki.ca } }, tls: { ca: pki.ca }, http2: false })
    expect(s.secure).toBe(true)
    expect(s.tls?.alpnProtocol).toBe('http/1.1')
    expect(s.protocol).toBe('1.1')
    await (await s.request({})).body.dump()
    await s.close()
    const h = await ClientConn.connect(plainUrl(), { proxy: { uri: p.url, tls: { ca: pki.ca } } })
    expect(h.secure).toBe(false)
    expect(h.tls).toBeUndefined()
    expect(await (await h.request({ path: '/x' })).body.text()).toBe('hello /x over 1.1')
    await h.close()
  })

  it('tunnel: true sends http: targets through CONNECT too', async () => {
    const p = await proxy()
    const conn = await ClientConn.connect(plainUrl(), { proxy: { uri: p.url, tunnel: true } })
    expect(await (await conn.request({ path: '/t' })).body.text()).toBe('hello /t over 1.1')
    await conn.close()
    expect(p.connects).toEqual([`localhost:${plainPort}`])
    expect(p.requests).toEqual([])
  })

  it('credentials: user:password in the URL (Basic), or a token; custom proxy headers on CONNECT and absolute-form requests', async () => {
    const p = await proxy({ auth: basic('alice', 'p@ss:w/rd') })
    const uri = `http://alice:${encodeURIComponent('p@ss:w/rd')}@127.0.0.1:${p.port}`
    const viaUrl = new Pool(secureUrl(), { proxy: { uri, headers: { 'x-proxy-tag': 'one' } }, tls: { ca: pki.ca } })
    expect(await (await viaUrl.request({})).body.text()).toBe('hello / over 2.0')
    const plain = new Pool(plainUrl(), { proxy: uri })
    expect(await (await plain.request({})).body.text()).toBe('hello / over 1.1')
    const t = await proxy({ auth: 'Bearer t0ken' })
    const viaToken = new Pool(secureUrl(), { proxy: { uri: t.url, token: 'Bearer t0ken' }, tls: { ca: pki.ca } })
    expect(await (await viaToken.request({})).body.text()).toBe('hello / over 2.0')
    await Promise.all([viaUrl.close(), plain.close(), viaToken.close()])
    expect(p.authorizations).toEqual([basic('alice', 'p@ss:w/rd'), basic('alice', 'p@ss:w/rd')])
    expect(p.connectHeaders[0]!['x-proxy-tag']).toBe('one')
    expect(p.connectHeaders[0]!.host).toBe(`localhost:${securePort}`)
    expect(t.authorizations).toEqual(['Bearer t0ken'])
    // The credentials never reach the target.
    expect(seen.every((s) => s.host === `localhost:${securePort}` || s.host === `localhost:${plainPort}`)).toBe(true)
  })

  it('407 on CONNECT: a ProxyError with the status and Proxy-Authenticate, not retried; absolute-form gets the 407 as its response', async () => {
    const p = await proxy({ auth: basic('u', 'right') })
    const pool = new Pool(secureUrl(), { proxy: `http://u:wrong@127.0.0.1:${p.port}`, tls: { ca: pki.ca } })
    const err = await pool.request({}).catch((e) => e)
    expect(err).toBeInstanceOf(ProxyError)
    expect(err.code).toBe('ERR_PROXY_REJECTED')
    expect(err.statusCode).toBe(407)
    expect(err.statusText).toBe('Proxy Authentication Required')
    expect(err.proxy).toBe(`http://127.0.0.1:${p.port}`)
    expect(err.message).not.toContain('wrong')
    const i = (err.rawHeaders as string[]).findIndex((h) => h.toLowerCase() === 'proxy-authenticate')
    expect(err.rawHeaders[i + 1]).toBe('Basic realm="test proxy"')
    expect(p.connects.length).toBe(1) // not retried
    await pool.close()
    const plain = new Pool(plainUrl(), { proxy: p.url })
    const res = await plain.request({})
    expect(res.status).toBe(407)
    await res.body.dump()
    await plain.close()
  })

  it('a proxy that refuses everything (403, 502): ProxyError with its status; nothing reaches the target', async () => {
    for (const status of [403, 502]) {
      const p = await proxy({ refuse: status })
      const err = await ClientConn.connect(secureUrl(), { proxy: p.url, tls: { ca: pki.ca } }).catch((e) => e)
      expect(err).toBeInstanceOf(ProxyError)
      expect(err.statusCode).toBe(status)
    }
    expect(seen).toEqual([])
  })

  it('answers that are not HTTP, a close before the answer, interim 1xx before the 200', async () => {
    const raw = async (answer: (socket: net.Socket) => void): Promise<number> => listen(net.createServer((socket) => {
      socket.on('error', () => {})
      socket.once('data', () => answer(socket))
    }))
    const garbage = await raw((s) => s.end('SSH-2.0-OpenSSH_9.2\r\n\r\n'))
    const e1 = await ClientConn.connect(secureUrl(), { proxy: `http://127.0.0.1:${garbage}`, tls: { ca: pki.ca } }).catch((e) => e)
    expect(e1).toBeInstanceOf(ProxyError)
    expect(e1.code).toBe('ERR_PROXY_BAD_RESPONSE')
    expect(e1.statusCode).toBe(0)
    const closes = await raw((s) => s.destroy())
    const e2 = await ClientConn.connect(secureUrl(), { proxy: `http://127.0.0.1:${closes}`, tls: { ca: pki.ca } }).catch((e) => e)
    expect(e2).toBeInstanceOf(ProxyError)
    expect(e2.code).toBe('ERR_PROXY_BAD_RESPONSE')
    // 100 Continue, then 200 with headers: a tunnel (the target's bytes follow).
    const interim = await raw((s) => {
      const up = net.connect(securePort, '127.0.0.1', () => {
        s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 Connection established\r\nVia: 1.1 test\r\n\r\n')
        s.pipe(up)
        up.pipe(s)
      })
      up.on('error', () => s.destroy())
      s.on('close', () => up.destroy())
    })
    const conn = await ClientConn.connect(secureUrl(), { proxy: `http://127.0.0.1:${interim}`, tls: { ca: pki.ca } })
    expect(await (await conn.request({ path: '/i' })).body.text()).toBe('hello /i over 2.0')
    await conn.close()
  })

  it('the proxy unreachable: the socket error names the proxy', async () => {
    const dead = await deadPort()
    const err = await ClientConn.connect(secureUrl(), { proxy: `http://127.0.0.1:${dead}`, tls: { ca: pki.ca } }).catch((e) => e)
    expect(err).toBeInstanceOf(SocketError)
    expect(err.code).toBe('ECONNREFUSED')
    expect(err.port).toBe(dead)
    expect(err.message).toContain(`proxy http://127.0.0.1:${dead}`)
  })

  it('https: proxy: TLS to the proxy (verified), TLS to the target inside it; 3 MiB down and 4 MiB up intact', async () => {
    const p = await proxy({ tls: pki.good })
    const pool = new Pool(secureUrl(), { proxy: { uri: p.url, tls: { ca: pki.ca } }, tls: { ca: pki.ca }, http2: false })
    const big = await pool.request({ path: '/big' })
    expect(Buffer.from(await big.body.bytes()).equals(pattern(3 * 1024 * 1024))).toBe(true)
    const up = pattern(4 * 1024 * 1024, 3)
    const res = await pool.request({ method: 'POST', path: '/up', body: up })
    expect(await res.body.text()).toBe(`${up.length} ${crypto.createHash('sha256').update(up).digest('hex')}`)
    // Streamed upload too (writes of many sizes through both TLS layers).
    async function * chunks (): AsyncGenerator<Uint8Array> {
      for (let off = 0; off < up.length;) {
        const n = Math.min(up.length - off, 1 + ((off * 7919) % 70_000))
        yield up.subarray(off, off + n)
        off += n
      }
    }
    const streamed = await pool.request({ method: 'POST', path: '/up', body: chunks() })
    expect(await streamed.body.text()).toBe(`${up.length} ${crypto.createHash('sha256').update(up).digest('hex')}`)
    await pool.close()
    expect(p.connects).toEqual([`localhost:${securePort}`])
    // The proxy's certificate must verify: an untrusted proxy is a TLS error.
    const untrusted = await ClientConn.connect(secureUrl(), { proxy: p.url, tls: { ca: pki.ca } }).catch((e) => e)
    expect(untrusted).toBeInstanceOf(TlsError)
  })

  it('options are validated', () => {
    expect(() => new Pool('http://x', { proxy: 'socks5://127.0.0.1:1080' })).toThrow(/SOCKS/)
    expect(() => new Pool('http://x', { proxy: 'not a url' })).toThrow(InvalidArgumentError)
    expect(() => new Pool('http://x', { proxy: 'http://127.0.0.1:3128/path' })).toThrow(/no path/)
    expect(() => new Pool('http://x', { proxy: { uri: 'http://127.0.0.1:3128', tls: {} } })).toThrow(/https: proxy/)
    expect(() => new Pool('http://x', { proxy: { uri: 'http://127.0.0.1:3128', headers: { host: 'x' } } })).toThrow(/host/)
    expect(() => new Pool('http://x', { proxy: { uri: 'http://127.0.0.1:3128', headers: { 'x-a': 'b\r\nc' } } })).toThrow(InvalidArgumentError)
    expect(() => new Pool('http://x', { proxy: { uri: 'http://127.0.0.1:3128', token: 7 as never } })).toThrow(/token/)
    expect(() => new Pool('http://x', { proxy: 'http://127.0.0.1:3128', socketPath: '/tmp/s.sock' })).toThrow(/socketPath/)
    expect(() => new Pool('http://x', { proxy: { env: { httpProxy: 'ftp://x' } } })).toThrow(InvalidArgumentError)
    expect(() => new Pool('http://x', { proxy: 42 as never })).toThrow(InvalidArgumentError)
  })

  it('upgrades through the proxy: a WebSocket handshake inside a CONNECT tunnel', async () => {
    const p = await proxy()
    const server = http.createServer()
    const wss = new WebSocketServer({ server })
    wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)))
    const port = await listen(server)
    closers.push(() => { for (const c of wss.clients) c.terminate(); wss.close() })
    const pool = new Pool(`http://localhost:${port}`, { proxy: p.url })
    const key = crypto.randomBytes(16).toString('base64')
    const up = await pool.upgrade({ path: '/ws', headers: { 'sec-websocket-key': key, 'sec-websocket-version': '13' } })
    expect(up.statusCode).toBe(101)
    up.socket.destroy()
    await pool.close()
    expect(p.connects).toEqual([`localhost:${port}`])
  })
})

describe('forward proxy: Agent, HyperDispatcher, undici', () => {
  it('Agent: http: and https: origins through one proxy option', async () => {
    const p = await proxy()
    const agent = new Agent({ proxy: p.url, tls: { ca: pki.ca } })
    expect(await (await agent.request(`${plainUrl()}/a`)).body.text()).toBe('hello /a over 1.1')
    expect(await (await agent.request(`${secureUrl()}/b`)).body.text()).toBe('hello /b over 2.0')
    await agent.close()
    expect(p.requests).toEqual([`${plainUrl()}/a`])
    expect(p.connects).toEqual([`localhost:${securePort}`])
  })

  it('HyperDispatcher({ proxy }) with undici fetch and request', async () => {
    const p = await proxy()
    const d = new HyperDispatcher({ proxy: p.url, tls: { ca: pki.ca } })
    const r1 = await undici.fetch(`${plainUrl()}/f`, { dispatcher: d as never })
    expect(await r1.text()).toBe('hello /f over 1.1')
    const r2 = await undici.fetch(`${secureUrl()}/g`, { dispatcher: d as never })
    expect(await r2.text()).toBe('hello /g over 2.0')
    const r3 = await undici.request(`${secureUrl()}/h`, { dispatcher: d as never })
    expect(await r3.body.text()).toBe('hello /h over 2.0')
    await d.close()
    expect(p.requests).toEqual([`${plainUrl()}/f`])
    expect(p.connects).toEqual([`localhost:${securePort}`])
  })

  it('HyperDispatcher: a refused tunnel is undici\'s error (the ProxyError with its status as cause)', async () => {
    const p = await proxy({ refuse: 407 })
    const d = new HyperDispatcher({ proxy: p.url, tls: { ca: pki.ca } })
    const err = await undici.request(`${secureUrl()}/`, { dispatcher: d as never }).catch((e) => e)
    expect(err).toBeInstanceOf(undici.errors.RequestAbortedError)
    expect(err.message).toBe('Proxy response (407) !== 200 when HTTP Tunneling')
    expect(err.cause).toBeInstanceOf(ProxyError)
    expect(err.cause.statusCode).toBe(407)
    await d.close()
  })

  it('undici ProxyAgent with a HyperDispatcher factory: the proxy is honoured natively (CONNECT for http: too, as undici tunnels)', async () => {
    const p = await proxy({ tls: pki.good, auth: 'Bearer abc' })
    const agent = new undici.ProxyAgent({
      uri: p.url,
      token: 'Bearer abc',
      proxyTls: { ca: pki.ca },
      requestTls: { ca: pki.ca },
      factory: (_origin: unknown, opts: object) => new HyperDispatcher(opts as never) as never,
    })
    const r1 = await undici.fetch(`${plainUrl()}/pa`, { dispatcher: agent })
    expect(await r1.text()).toBe('hello /pa over 1.1')
    const r2 = await undici.fetch(`${secureUrl()}/pb`, { dispatcher: agent })
    expect(await r2.text()).toBe('hello /pb over 2.0')
    await agent.close()
    expect(p.connects).toEqual([`localhost:${plainPort}`, `localhost:${securePort}`])
    expect(p.authorizations).toEqual(['Bearer abc', 'Bearer abc'])
    expect(seen.map((s) => s.url)).toEqual(['/pa', '/pb'])
  })

  it('undici ProxyAgent: what HyperDispatcher cannot honour fails loudly, never goes straight to the target', async () => {
    const p = await proxy()
    // proxyTunnel: false hands the factory a plain connector for the proxy's own origin: refused.
    const agent = new undici.ProxyAgent({ uri: p.url, proxyTunnel: false, factory: (_o: unknown, opts: object) => new HyperDispatcher(opts as never) as never })
    const err = await undici.fetch(`${plainUrl()}/nope`, { dispatcher: agent }).catch((e) => e)
    expect(err).toBeInstanceOf(TypeError) // fetch failed
    expect(err.cause).toBeInstanceOf(InvalidArgumentError)
    expect(err.cause.field).toBe('connect')
    await agent.close()
    // A custom connector function of one's own: refused at construction.
    expect(() => new HyperDispatcher({ connect: ((_o: unknown, cb: () => void) => cb()) as never })).toThrow(/connect function/)
    expect(seen).toEqual([])
    expect(p.requests).toEqual([])
  })

  it('undici EnvHttpProxyAgent with a HyperDispatcher factory: HTTP_PROXY used, NO_PROXY hosts go direct', async () => {
    const p = await proxy()
    const saved = { ...process.env }
    try {
      for (const k of ['http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY']) delete process.env[k]
      process.env.HTTP_PROXY = p.url
      process.env.NO_PROXY = '127.0.0.1'
      const agent = new undici.EnvHttpProxyAgent({ requestTls: { ca: pki.ca }, connect: { ca: pki.ca }, factory: (_o: unknown, opts: object) => new HyperDispatcher(opts as never) as never } as never)
      expect(await (await undici.fetch(`${plainUrl()}/via`, { dispatcher: agent })).text()).toBe('hello /via over 1.1')
      expect(await (await undici.fetch(`${secureUrl()}/via-s`, { dispatcher: agent })).text()).toBe('hello /via-s over 2.0')
      expect(await (await undici.fetch(`${plainUrl('127.0.0.1')}/direct`, { dispatcher: agent })).text()).toBe('hello /direct over 1.1')
      expect(await (await undici.fetch(`${secureUrl('127.0.0.1')}/direct-s`, { dispatcher: agent })).text()).toBe('hello /direct-s over 2.0')
      await agent.close()
      expect(p.connects).toEqual([`localhost:${plainPort}`, `localhost:${securePort}`])
      expect(seen.map((s) => s.url)).toEqual(['/via', '/via-s', '/direct', '/direct-s'])
    } finally {
      process.env = saved
    }
  })

  it('proxy: \'env\' (node-hyper\'s own): HTTP_PROXY/HTTPS_PROXY per scheme, NO_PROXY direct, lower case first', async () => {
    const httpP = await proxy()
    const httpsP = await proxy()
    const saved = { ...process.env }
    try {
      for (const k of ['http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY']) delete process.env[k]
      process.env.HTTP_PROXY = 'http://127.0.0.1:1' // shadowed by http_proxy
      process.env.http_proxy = httpP.url
      process.env.HTTPS_PROXY = httpsP.url
      process.env.no_proxy = 'example.test, 127.0.0.1:' + plainPort
      const agent = new Agent({ proxy: 'env', tls: { ca: pki.ca } })
      const d = new HyperDispatcher({ proxy: 'env', tls: { ca: pki.ca } })
      expect(await (await agent.request(`${plainUrl()}/e1`)).body.text()).toBe('hello /e1 over 1.1')
      expect(await (await agent.request(`${secureUrl()}/e2`)).body.text()).toBe('hello /e2 over 2.0')
      expect(await (await agent.request(`${plainUrl('127.0.0.1')}/e3`)).body.text()).toBe('hello /e3 over 1.1')
      expect(await (await undici.fetch(`${plainUrl()}/e4`, { dispatcher: d as never })).text()).toBe('hello /e4 over 1.1')
      expect(await (await undici.fetch(`${secureUrl('127.0.0.1')}/e5`, { dispatcher: d as never })).text()).toBe('hello /e5 over 2.0')
      const pool = new Pool(plainUrl(), { proxy: 'env' })
      expect(await (await pool.request({ path: '/e6' })).body.text()).toBe('hello /e6 over 1.1')
      await Promise.all([agent.close(), d.close(), pool.close()])
      expect(httpP.requests).toEqual([`${plainUrl()}/e1`, `${plainUrl()}/e4`, `${plainUrl()}/e6`])
      // 127.0.0.1:<securePort> is not in no_proxy (only the plain port is): through HTTPS_PROXY.
      expect(httpsP.connects).toEqual([`localhost:${securePort}`, `127.0.0.1:${securePort}`])
      expect(seen.map((s) => s.url)).toEqual(['/e1', '/e2', '/e3', '/e4', '/e5', '/e6'])
      // { env: { ... } }: the same rules with explicit values.
      const explicit = new Pool(plainUrl(), { proxy: { env: { httpProxy: httpsP.url, noProxy: '' } } })
      expect(await (await explicit.request({ path: '/e7' })).body.text()).toBe('hello /e7 over 1.1')
      await explicit.close()
      expect(httpsP.requests).toEqual([`${plainUrl()}/e7`])
    } finally {
      process.env = saved
    }
  })

  it('NO_PROXY matching is undici\'s: the same decision as EnvHttpProxyAgent for each case', async () => {
    // undici's choice observed without any network: a recording factory sees whether the pool
    // undici wants for an origin gets a tunnel connector (proxied) or not (direct).
    const cases: [string, string][] = []
    const noProxies = ['', '*', 'example.test', '.example.test', '*.example.test', 'EXAMPLE.test', 'example.test:8080',
      'a.test,b.test', 'a.test b.test', '127.0.0.1', '[::1]', '::1', 'localhost:80', 'test', '*,example.test', 'sub.example.test:443']
    const urls = ['http://example.test', 'http://example.test:8080', 'https://example.test', 'http://sub.example.test', 'http://notexample.test',
      'http://b.test:80', 'http://127.0.0.1:3000', 'http://[::1]:3000', 'http://localhost', 'https://sub.example.test', 'http://EXAMPLE.TEST']
    for (const np of noProxies) for (const u of urls) cases.push([np, u])
    class Recorder extends EventEmitter {
      constructor (readonly log: boolean[], readonly proxied: boolean) { super() }
      dispatch (_opts: unknown, handler: { onError?: (e: Error) => void, onResponseError?: (c: unknown, e: Error) => void }): boolean {
        this.log.push(this.proxied)
        const e = new Error('recorded')
        if (handler.onResponseError) handler.onResponseError({}, e)
        else handler.onError?.(e)
        return true
      }

      close (): Promise<void> { return Promise.resolve() }
      destroy (): Promise<void> { return Promise.resolve() }
    }
    let mismatches = 0
    for (const [noProxy, u] of cases) {
      const log: boolean[] = []
      const agent = new undici.EnvHttpProxyAgent({
        httpProxy: 'http://127.0.0.1:9', httpsProxy: 'http://127.0.0.1:9', noProxy,
        factory: (_o: unknown, opts: { connect?: unknown }) => new Recorder(log, typeof opts.connect === 'function') as never,
      } as never)
      await new Promise<void>((resolve) => {
        const url = new URL(u)
        agent.dispatch({ origin: url.origin, path: '/', method: 'GET' }, {
          onConnect () {}, onHeaders () { return true }, onData () { return true }, onComplete () { resolve() }, onError () { resolve() },
        } as never)
      })
      await agent.close()
      const undiciProxied = log[0]
      const ours = envProxyFor(new URL(u), { httpProxy: 'http://127.0.0.1:9', httpsProxy: 'http://127.0.0.1:9', noProxy }) !== undefined
      if (undiciProxied !== ours) {
        mismatches++
        console.log(`NO_PROXY=${JSON.stringify(noProxy)} ${u}: undici ${undiciProxied ? 'proxy' : 'direct'}, node-hyper ${ours ? 'proxy' : 'direct'}`)
      }
    }
    expect(cases.length).toBeGreaterThan(150)
    expect(mismatches).toBe(0)
  })
})

// Debian's tinyproxy as a second, real proxy implementation (apt: tinyproxy-bin).
const TINYPROXY = ['/usr/bin/tinyproxy', '/usr/sbin/tinyproxy'].find((p) => fs.existsSync(p))

describe.skipIf(!TINYPROXY)('tinyproxy (a real forward proxy process)', () => {
  let child: ChildProcess | undefined
  let port = 0
  let dir = ''

  beforeAll(async () => {
    port = await deadPort() // a free port for tinyproxy to bind
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-tinyproxy-'))
    const conf = path.join(dir, 'tinyproxy.conf')
    // No ConnectPort line: CONNECT to any port (the targets use random ones). Loopback only.
    fs.writeFileSync(conf, [
      `Port ${port}`, 'Listen 127.0.0.1', 'Timeout 60', 'MaxClients 50', 'Allow 127.0.0.1',
      'BasicAuth tiny secret', 'LogLevel Critical', `PidFile "${path.join(dir, 'pid')}"`, 'DisableViaHeader Yes', '',
    ].join('\n'))
    child = spawn(TINYPROXY!, ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    // Ready once it accepts connections.
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) })
        s.on('error', () => resolve(false))
      })
      if (ok) return
      if (child.exitCode !== null) throw new Error(`tinyproxy exited: ${stderr}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`tinyproxy did not start: ${stderr}`)
  })

  afterAll(() => {
    child?.kill('SIGKILL')
    if (dir) fs.rmSync(dir, { recursive: true, force: true })
  })

  it('http: (absolute form) and https: (CONNECT) through tinyproxy with Basic credentials; 407 without', async () => {
    const uri = `http://tiny:secret@127.0.0.1:${port}`
    const agent = new Agent({ proxy: uri, tls: { ca: pki.ca } })
    expect(await (await agent.request(`${plainUrl()}/tp1`)).body.text()).toBe('hello /tp1 over 1.1')
    expect(await (await agent.request(`${secureUrl()}/tp2`)).body.text()).toBe('hello /tp2 over 2.0')
    const d = new HyperDispatcher({ proxy: uri, tls: { ca: pki.ca } })
    expect(await (await undici.fetch(`${secureUrl()}/tp3`, { dispatcher: d as never })).text()).toBe('hello /tp3 over 2.0')
    await Promise.all([agent.close(), d.close()])
    expect(seen.map((s) => s.url)).toEqual(['/tp1', '/tp2', '/tp3'])
    const err = await ClientConn.connect(secureUrl(), { proxy: `http://127.0.0.1:${port}`, tls: { ca: pki.ca } }).catch((e) => e)
    expect(err).toBeInstanceOf(ProxyError)
    expect(err.statusCode).toBe(407)
  })
})

describe('forward proxy: native resources', () => {
  it('a worker terminated while its proxy has not answered CONNECT exits cleanly', async () => {
    const silent = await listen(net.createServer((s) => { s.on('error', () => {}) })) // accepts, never answers
    const cjs = fileURLToPath(new URL('../dist/cjs/index.js', import.meta.url))
    for (let round = 0; round < 3; round++) {
      const w = new Worker(`
        const { parentPort, workerData } = require('node:worker_threads')
        const { ClientConn } = require(workerData.cjs)
        ClientConn.connect('https://localhost:' + workerData.port, { proxy: 'http://127.0.0.1:' + workerData.silent }).catch(() => {})
        setTimeout(() => parentPort.postMessage('waiting'), 50)
      `, { eval: true, workerData: { cjs, port: securePort, silent } })
      await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
      expect(await w.terminate()).toBe(1)
    }
  })

  it('no handle outlives the proxied connections', async () => {
    const p = await proxy({ tls: pki.good })
    const before = binding.liveObjects().handles
    for (let i = 0; i < 5; i++) {
      const conn = await ClientConn.connect(secureUrl(), { proxy: { uri: p.url, tls: { ca: pki.ca } }, tls: { ca: pki.ca } })
      await (await conn.request({})).body.dump()
      await conn.close()
      await ClientConn.connect(secureUrl(), { proxy: p.url, tls: { ca: pki.ca } }).catch(() => {})
    }
    for (let i = 0; i < 50 && binding.liveObjects().handles > before; i++) await new Promise((r) => setTimeout(r, 10))
    expect(binding.liveObjects().handles).toBeLessThanOrEqual(before)
  })
})
