// Upgrades (101), WebSocket and CONNECT on their dedicated connection outside hyper, against
// real servers on 127.0.0.1: the `ws` package's WebSocket server (plain and over TLS), raw
// `net` servers writing exact bytes, and a small CONNECT proxy written here. undici's own Agent
// runs the same undici calls where the behaviour must match.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { WebSocketServer, type WebSocket as WsSocket } from 'ws'
import * as undici from 'undici'
import { Pool, Agent, HyperDispatcher, upgrade, UpgradeError, AbortError, TimeoutError, TlsError, SocketError, ConnectionClosedError, InvalidArgumentError } from '../dist/esm/index.mjs'
import { deadPort, pattern } from './helpers'
import { makePki, type TestPki } from './tls-certs'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
type AnyDispatcher = undici.Dispatcher

const closers: (() => void)[] = []
let pki: TestPki
beforeAll(() => { pki = makePki() })
afterAll(() => { for (const c of closers.splice(0)) c() })

async function listen<T extends net.Server> (server: T): Promise<number> {
  const sockets = new Set<net.Socket>()
  server.on('connection', (s: net.Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(() => { for (const s of sockets) s.destroy(); server.close() })
  return (server.address() as net.AddressInfo).port
}

/** A `ws` echo server on its own http(s) server; records what each handshake looked like. */
async function wsEcho (secure?: https.ServerOptions): Promise<{ port: number, handshakes: http.IncomingMessage[], closes: [number, string][], wss: WebSocketServer }> {
  const server = secure ? https.createServer(secure) : http.createServer()
  const wss = new WebSocketServer({ server })
  const handshakes: http.IncomingMessage[] = []
  const closes: [number, string][] = []
  wss.on('connection', (ws: WsSocket, req) => {
    handshakes.push(req)
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
    ws.on('close', (code, reason) => closes.push([code, reason.toString()]))
  })
  closers.push(() => { for (const c of wss.clients) c.terminate(); wss.close() })
  return { port: await listen(server), handshakes, closes, wss }
}

/** A raw server: `onHead(socket, head)` for the first request head on each connection (`rest`: bytes after it). */
async function rawServer (onHead: (socket: net.Socket, head: string, rest: Buffer) => void): Promise<{ port: number, heads: string[], closed: () => number, open: () => number }> {
  const heads: string[] = []
  let closed = 0
  const withHead = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    socket.on('close', () => { closed++; withHead.delete(socket) })
    let buf = Buffer.alloc(0)
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d])
      const i = buf.indexOf('\r\n\r\n')
      if (i === -1) return
      socket.removeListener('data', onData)
      const head = buf.subarray(0, i + 4).toString('latin1')
      heads.push(head)
      withHead.add(socket)
      onHead(socket, head, buf.subarray(i + 4))
    }
    socket.on('data', onData)
  })
  return { port: await listen(server), heads, closed: () => closed, open: () => withHead.size }
}

/** Reads from `socket` until `predicate(all bytes so far)` holds. */
function readUntil (socket: net.Socket, predicate: (b: Buffer) => boolean, initial: Buffer = Buffer.alloc(0)): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let all = initial
    if (predicate(all)) return resolve(all)
    const onData = (d: Buffer): void => {
      all = Buffer.concat([all, d])
      if (predicate(all)) {
        socket.removeListener('data', onData)
        socket.pause()
        resolve(all)
      }
    }
    socket.on('data', onData)
    socket.once('error', reject)
    socket.once('end', () => resolve(all))
  })
}

const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n'

/** After a 101 (sent with `early` bytes right behind it), echoes what the client sends. */
function switchingEcho (early = ''): (socket: net.Socket, head: string, rest: Buffer) => void {
  return (socket, _head, rest) => {
    socket.write(SWITCH + early)
    if (rest.length) socket.write(rest)
    socket.on('data', (d) => socket.write(d))
  }
}

/** A CONNECT proxy: opens a tunnel to a loopback destination, or refuses with 407. */
async function connectProxy (options: { refuse?: boolean, early?: string } = {}): Promise<{ port: number, heads: string[] }> {
  return rawServer((client, head, rest) => {
    const [method, target] = head.split(' ')
    const m = /^127\.0\.0\.1:(\d+)$/.exec(target ?? '')
    if (method !== 'CONNECT' || !m || options.refuse) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="t"\r\nContent-Length: 6\r\n\r\ndenied')
      return
    }
    const upstream = net.connect(Number(m[1]), '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n' + (options.early ?? ''))
      if (rest.length) upstream.write(rest)
      client.pipe(upstream).pipe(client)
    })
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
  })
}

/** An http server behind the proxy (the tunnel's destination). */
async function destination (): Promise<number> {
  const server = http.createServer((req, res) => res.end(`tunnelled ${req.method} ${req.url}`))
  return listen(server)
}

/** One HTTP/1.1 request over an established socket (a tunnel), the whole response as text. */
async function overSocket (socket: net.Socket, path: string, initial?: Buffer): Promise<string> {
  socket.write(`GET ${path} HTTP/1.1\r\nHost: dest\r\nConnection: close\r\n\r\n`)
  socket.resume()
  return (await readUntil(socket, () => false, initial)).toString('latin1')
}

/** undici's WebSocket through `dispatcher`: open, echo text and binary, close handshake. */
async function echoWithWebSocket (url: string, dispatcher: AnyDispatcher): Promise<{ text: string, binary: Uint8Array, close: [number, string, boolean] }> {
  const ws = new undici.WebSocket(url, { dispatcher } as never)
  ws.binaryType = 'arraybuffer'
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve()
    ws.onerror = (e) => reject((e as unknown as { error?: Error }).error ?? new Error('websocket error'))
  })
  const messages: (string | ArrayBuffer)[] = []
  ws.onmessage = (e) => messages.push(e.data as string | ArrayBuffer)
  const big = pattern(200_000)
  ws.send('hello, hyper')
  ws.send(big)
  for (let i = 0; i < 1000 && messages.length < 2; i++) await sleep(5)
  const closed = new Promise<[number, string, boolean]>((resolve) => { ws.onclose = (e) => resolve([e.code, e.reason, e.wasClean]) })
  ws.close(4000, 'done here')
  const close = await closed
  expect(Buffer.from(messages[1] as ArrayBuffer).equals(big)).toBe(true)
  return { text: messages[0] as string, binary: new Uint8Array(messages[1] as ArrayBuffer), close }
}

describe('WebSocket (undici) over HyperDispatcher', () => {
  it('echoes text and binary messages and completes the close handshake against a ws server', async () => {
    const srv = await wsEcho()
    const d = new HyperDispatcher()
    const r = await echoWithWebSocket(`ws://127.0.0.1:${srv.port}/chat?room=1`, d as unknown as AnyDispatcher)
    expect(r.text).toBe('hello, hyper')
    expect(r.binary.byteLength).toBe(200_000)
    expect(r.close).toEqual([4000, 'done here', true])
    for (let i = 0; i < 200 && srv.closes.length === 0; i++) await sleep(5)
    expect(srv.closes).toEqual([[4000, 'done here']])
    const hs = srv.handshakes[0]!
    expect(hs.url).toBe('/chat?room=1')
    expect(hs.headers.upgrade).toBe('websocket')
    expect(hs.headers.host).toBe(`127.0.0.1:${srv.port}`)
    // the dedicated connection is neither pooled nor counted
    expect(d.agent.pool(`http://127.0.0.1:${srv.port}`).stats).toMatchObject({ connected: 0, running: 0, pending: 0 })
    await d.close()
  })

  it('the same echo through undici\'s own Agent (reference)', async () => {
    const srv = await wsEcho()
    const a = new undici.Agent()
    const r = await echoWithWebSocket(`ws://127.0.0.1:${srv.port}/`, a)
    expect(r.close).toEqual([4000, 'done here', true])
    await a.close()
  })

  it('wss: TLS with the test CA, ALPN limited to http/1.1 (the server also offers h2)', async () => {
    const srv = await wsEcho({ ...pki.good, ALPNProtocols: ['h2', 'http/1.1'] })
    const d = new HyperDispatcher({ connect: { ca: pki.ca } })
    const r = await echoWithWebSocket(`wss://localhost:${srv.port}/secure`, d as unknown as AnyDispatcher)
    expect(r.text).toBe('hello, hyper')
    expect(r.close[0]).toBe(4000)
    const sock = srv.handshakes[0]!.socket as tls.TLSSocket
    expect(sock.alpnProtocol).toBe('http/1.1')
    expect((sock as unknown as { servername?: string }).servername).toBe('localhost')
    await d.close()
  })

  it('a server refusing the handshake fails the WebSocket (error + close 1006), as with undici', async () => {
    const raw = await rawServer((s) => s.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope'))
    for (const dispatcher of [new HyperDispatcher() as unknown as AnyDispatcher, new undici.Agent()]) {
      const ws = new undici.WebSocket(`ws://127.0.0.1:${raw.port}/`, { dispatcher } as never)
      const events: string[] = []
      await new Promise<void>((resolve) => {
        ws.onerror = () => events.push('error')
        ws.onclose = (e) => { events.push(`close ${e.code} ${e.wasClean}`); resolve() }
      })
      expect(events).toEqual(['error', 'close 1006 false'])
      await dispatcher.close()
    }
  })
})

describe('upgrade() on Pool, Agent and the top-level function', () => {
  it('Pool.upgrade: 101 with early bytes in `head`; the socket is then a plain byte stream', async () => {
    const raw = await rawServer(switchingEcho('EARLY'))
    const pool = new Pool(`http://127.0.0.1:${raw.port}`)
    const up = await pool.upgrade({ path: '/switch?x=1', protocol: 'echo', headers: { 'x-token': 'abc' } })
    expect(up.statusCode).toBe(101)
    expect(up.statusText).toBe('Switching Protocols')
    expect(up.headers.upgrade).toBe('echo')
    expect(up.rawHeaders).toEqual(['Upgrade', 'echo', 'Connection', 'Upgrade'])
    expect(up.head.toString()).toBe('EARLY')
    expect(up.socket).toBeInstanceOf(net.Socket)
    const head = raw.heads[0]!
    expect(head.startsWith('GET /switch?x=1 HTTP/1.1\r\n')).toBe(true)
    expect(head).toContain(`Host: 127.0.0.1:${raw.port}\r\n`)
    expect(head).toContain('Connection: Upgrade\r\nUpgrade: echo\r\n')
    expect(head).toContain('x-token: abc\r\n')
    expect(pool.stats).toEqual({ connected: 0, free: 0, pending: 0, queued: 0, running: 0, size: 0 })
    up.socket.write('ping-1')
    up.socket.resume()
    expect((await readUntil(up.socket, (b) => b.length >= 6)).toString()).toBe('ping-1')
    up.socket.destroy()
    await pool.close()
  })

  it('Agent.upgrade and upgrade() take ws:/wss: URLs; path and query come from the URL', async () => {
    const raw = await rawServer(switchingEcho())
    const agent = new Agent()
    const a = await agent.upgrade(`ws://127.0.0.1:${raw.port}/from-agent?q=2`, { protocol: 'echo' })
    expect(a.statusCode).toBe(101)
    a.socket.destroy()
    const b = await upgrade(`http://127.0.0.1:${raw.port}/top-level`, { agent })
    b.socket.destroy()
    expect(raw.heads.map((h) => h.split('\r\n')[0])).toEqual(['GET /from-agent?q=2 HTTP/1.1', 'GET /top-level HTTP/1.1'])
    expect(raw.heads[1]).toContain('Upgrade: websocket\r\n')
    await agent.close()
  })

  it('a WebSocket handshake by hand through Pool.upgrade against the ws server', async () => {
    const srv = await wsEcho()
    const pool = new Pool(`http://127.0.0.1:${srv.port}`)
    const key = crypto.randomBytes(16).toString('base64')
    const up = await pool.upgrade({ path: '/raw', headers: { 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13' } })
    const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
    expect(up.headers['sec-websocket-accept']).toBe(accept)
    // one masked text frame "hi"; the server echoes it unmasked
    const mask = Buffer.from([1, 2, 3, 4])
    const payload = Buffer.from('hi')
    up.socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload.map((b, i) => b ^ mask[i % 4]!)]))
    up.socket.resume()
    const frame = await readUntil(up.socket, (b) => b.length >= 4, up.head)
    expect([...frame.subarray(0, 4)]).toEqual([0x81, 2, 0x68, 0x69])
    up.socket.destroy()
    await pool.close()
  })

  it('answers that do not switch: ERR_UPGRADE_REJECTED (with the status), ERR_BAD_UPGRADE for a bare 101', async () => {
    const refuse = await rawServer((s) => s.end('HTTP/1.1 426 Upgrade Required\r\nX-Why: because\r\nContent-Length: 0\r\n\r\n'))
    const err = await new Pool(`http://127.0.0.1:${refuse.port}`).upgrade().catch((e) => e)
    expect(err).toBeInstanceOf(UpgradeError)
    expect(err.code).toBe('ERR_UPGRADE_REJECTED')
    expect(err.statusCode).toBe(426)
    expect(err.statusText).toBe('Upgrade Required')
    expect(err.rawHeaders).toEqual(['X-Why', 'because', 'Content-Length', '0'])
    const bare = await rawServer((s) => s.write('HTTP/1.1 101 Switching Protocols\r\n\r\n'))
    const err2 = await new Pool(`http://127.0.0.1:${bare.port}`).upgrade().catch((e) => e)
    expect(err2).toBeInstanceOf(UpgradeError)
    expect(err2.code).toBe('ERR_BAD_UPGRADE')
    for (let i = 0; i < 200 && bare.closed() === 0; i++) await sleep(5)
    expect(bare.closed()).toBe(1) // the dedicated connection was closed
  })

  it('1xx before the 101 go to onInformational', async () => {
    const raw = await rawServer((s) => s.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' + SWITCH))
    const seen: number[] = []
    const up = await new Pool(`http://127.0.0.1:${raw.port}`).upgrade({ protocol: 'echo', onInformational: (r) => seen.push(r.status) })
    expect(seen).toEqual([103])
    expect(up.statusCode).toBe(101)
    up.socket.destroy()
  })

  it('invalid input is an InvalidArgumentError before anything is sent', async () => {
    const pool = new Pool('http://127.0.0.1:1')
    for (const options of [
      { headers: { upgrade: 'h2c' } },
      { headers: { Connection: 'close' } },
      { method: 'CONNECT' },
      { path: 'no-slash' },
      { protocol: 'bad\r\nvalue' },
      { headersTimeout: -1 },
    ]) {
      const err = await pool.upgrade(options as never).catch((e) => e)
      expect(err, JSON.stringify(options)).toBeInstanceOf(InvalidArgumentError)
    }
    for (const path of ['/x', 'host', 'host:99999', 'a b:80', undefined]) {
      const err = await pool.connect({ path } as never).catch((e) => e)
      expect(err, String(path)).toBeInstanceOf(InvalidArgumentError)
    }
    await pool.close()
    expect((await pool.upgrade().catch((e) => e)).code).toBe('ERR_CLOSED')
  })

  it('the pool\'s lookup is used; a socketPath connects over a Unix domain socket', async () => {
    const raw = await rawServer(switchingEcho())
    const asked: string[] = []
    const pool = new Pool(`http://upstream.test:${raw.port}`, {
      lookup: (hostname, _o, cb) => { asked.push(hostname); cb(null, '127.0.0.1', 4) },
    })
    const up = await pool.upgrade({ protocol: 'echo' })
    up.socket.destroy()
    expect(asked).toEqual(['upstream.test'])
    expect(raw.heads[0]).toContain(`Host: upstream.test:${raw.port}\r\n`)

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-upgrade-'))
    const sock = path.join(dir, 's.sock')
    const unix = net.createServer((s) => { s.on('error', () => {}); s.once('data', () => s.write(SWITCH + 'over-unix')) })
    await new Promise<void>((resolve) => unix.listen(sock, resolve))
    closers.push(() => { unix.close(); fs.rmSync(dir, { recursive: true, force: true }) })
    const viaUnix = await new Pool('http://localhost', { socketPath: sock }).upgrade({ protocol: 'echo' })
    expect(viaUnix.head.toString()).toBe('over-unix')
    viaUnix.socket.destroy()
  })

  it('connection refused: SocketError ECONNREFUSED with address and port', async () => {
    const port = await deadPort()
    const err = await new Pool(`http://127.0.0.1:${port}`).upgrade().catch((e) => e)
    expect(err).toBeInstanceOf(SocketError)
    expect(err.code).toBe('ECONNREFUSED')
    expect(err.syscall).toBe('connect')
    expect(err.port).toBe(port)
  })

  it('abort before the 101 destroys the dedicated connection', async () => {
    const raw = await rawServer(() => {}) // never answers
    const ac = new AbortController()
    const p = new Pool(`http://127.0.0.1:${raw.port}`).upgrade({ signal: ac.signal })
    for (let i = 0; i < 400 && raw.heads.length === 0; i++) await sleep(5)
    expect(raw.heads.length).toBe(1)
    ac.abort(new Error('changed my mind'))
    const err = await p.catch((e) => e)
    expect(err).toBeInstanceOf(AbortError)
    expect(err.code).toBe('ABORT_ERR')
    for (let i = 0; i < 200 && raw.closed() === 0; i++) await sleep(5)
    expect(raw.closed()).toBe(1)
    // already aborted: nothing is opened
    const err2 = await new Pool(`http://127.0.0.1:${raw.port}`).upgrade({ signal: ac.signal }).catch((e) => e)
    expect(err2).toBeInstanceOf(AbortError)
    expect(raw.heads.length).toBe(1)
  })

  it('headersTimeout and connectTimeout', async () => {
    const silent = await rawServer(() => {})
    const t0 = Date.now()
    const err = await new Pool(`http://127.0.0.1:${silent.port}`, { headersTimeout: 150 }).upgrade().catch((e) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.code).toBe('ERR_HEADERS_TIMEOUT')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140)
    // per request
    const err2 = await new Pool(`http://127.0.0.1:${silent.port}`).upgrade({ headersTimeout: 100 }).catch((e) => e)
    expect(err2.code).toBe('ERR_HEADERS_TIMEOUT')
    // a TLS server that never answers the handshake
    const mute = net.createServer((s) => { s.on('error', () => {}) })
    const port = await listen(mute)
    const err3 = await new Pool(`https://localhost:${port}`, { connectTimeout: 150, tls: { ca: pki.ca } }).upgrade().catch((e) => e)
    expect(err3).toBeInstanceOf(TimeoutError)
    expect(err3.code).toBe('ERR_CONNECT_TIMEOUT')
  })

  it('the server closes before answering: ERR_CONNECTION_CLOSED; a malformed answer: HYPER_INVALID_PEER_MESSAGE', async () => {
    const closes = await rawServer((s) => s.destroy())
    const err = await new Pool(`http://127.0.0.1:${closes.port}`).upgrade().catch((e) => e)
    expect(err).toBeInstanceOf(ConnectionClosedError)
    expect(err.code).toBe('ERR_CONNECTION_CLOSED')
    const garbage = await rawServer((s) => s.end('SPDY/9 999 What\r\n\r\n'))
    const err2 = await new Pool(`http://127.0.0.1:${garbage.port}`).upgrade().catch((e) => e)
    expect(err2.code).toBe('HYPER_INVALID_PEER_MESSAGE')
  })

  it('TLS: verification with Node\'s codes, client certificates, servername', async () => {
    const server = https.createServer({ ...pki.selfSigned })
    server.on('upgrade', (_req, socket: net.Socket) => socket.end(SWITCH))
    const port = await listen(server)
    const err = await new Pool(`https://127.0.0.1:${port}`).upgrade().catch((e) => e)
    expect(err).toBeInstanceOf(TlsError)
    expect(err.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT')
    const ok = await new Pool(`https://127.0.0.1:${port}`, { tls: { rejectUnauthorized: false } }).upgrade({ protocol: 'echo' })
    expect(ok.socket).toBeInstanceOf(tls.TLSSocket)
    ok.socket.destroy()

    const mtls = https.createServer({ ...pki.good, ca: pki.ca, requestCert: true, rejectUnauthorized: true })
    mtls.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
      const cn = (req.socket as tls.TLSSocket).getPeerCertificate().subject?.CN
      socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\nX-Client: ${cn}\r\n\r\n`)
    })
    const mport = await listen(mtls)
    const up = await new Pool(`https://127.0.0.1:${mport}`, {
      tls: { ca: pki.ca, defaultRoots: false, cert: pki.client.cert, key: pki.client.key, passphrase: pki.clientPassphrase, servername: 'localhost' },
    }).upgrade({ protocol: 'echo' })
    expect(up.headers['x-client']).toBe('client')
    up.socket.destroy()
    const bad = await new Pool(`https://127.0.0.1:${mport}`, { tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, passphrase: 'wrong' } }).upgrade().catch((e) => e)
    expect(bad).toBeInstanceOf(TlsError)
    expect(bad.code).toBe('ERR_TLS_INVALID_KEY')
    const badCa = await new Pool(`https://127.0.0.1:${mport}`, { tls: { ca: 'not a certificate' } }).upgrade().catch((e) => e)
    expect(badCa.code).toBe('ERR_TLS_INVALID_CA')
  })

  it('Pool.close() waits for an upgrade in flight; destroy() fails it; a handed-over socket outlives both', async () => {
    let answer: (() => void) | null = null
    const raw = await rawServer((s, _h, rest) => { answer = () => switchingEcho()(s, '', rest) })
    const pool = new Pool(`http://127.0.0.1:${raw.port}`)
    const p = pool.upgrade({ protocol: 'echo' })
    for (let i = 0; i < 400 && !answer; i++) await sleep(5)
    let closed = false
    const closing = pool.close().then(() => { closed = true })
    await sleep(50)
    expect(closed).toBe(false)
    answer!()
    const up = await p
    await closing
    up.socket.write('still here')
    up.socket.resume()
    expect((await readUntil(up.socket, (b) => b.length >= 10)).toString()).toBe('still here')
    up.socket.destroy()

    const pool2 = new Pool(`http://127.0.0.1:${raw.port}`)
    const p2 = pool2.upgrade()
    for (let i = 0; i < 400 && raw.heads.length < 2; i++) await sleep(5)
    pool2.destroy(new Error('going away'))
    const err = await p2.catch((e) => e)
    expect(err).toBeInstanceOf(ConnectionClosedError)
    expect(err.code).toBe('ERR_DESTROYED')
    expect(err.cause?.message).toBe('going away')
  })
})

describe('CONNECT tunnels', () => {
  it('Pool.connect through a local CONNECT proxy, then HTTP through the tunnel', async () => {
    const dest = await destination()
    const proxy = await connectProxy()
    const pool = new Pool(`http://127.0.0.1:${proxy.port}`)
    const t = await pool.connect({ path: `127.0.0.1:${dest}`, headers: { 'Proxy-Authorization': 'Basic dTpw' } })
    expect(t.statusCode).toBe(200)
    expect(t.statusText).toBe('Connection Established')
    expect(proxy.heads[0]).toMatch(new RegExp(`^CONNECT 127\\.0\\.0\\.1:${dest} HTTP/1\\.1\\r\\n`))
    expect(proxy.heads[0]).toContain(`Host: 127.0.0.1:${dest}\r\n`)
    expect(proxy.heads[0]).toContain('Proxy-Authorization: Basic dTpw\r\n')
    const res = await overSocket(t.socket, '/through', t.head)
    expect(res).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(res.endsWith('tunnelled GET /through')).toBe(true)
    expect(pool.stats.connected).toBe(0)
    t.socket.destroy()
    await pool.close()
  })

  it('bytes behind the 200 arrive in `head`', async () => {
    const dest = await destination()
    const proxy = await connectProxy({ early: 'FIRST' })
    const t = await new Agent().connect(`http://127.0.0.1:${proxy.port}`, { path: `127.0.0.1:${dest}` })
    expect(t.head.toString()).toBe('FIRST')
    t.socket.destroy()
  })

  it('a refusing proxy: ERR_CONNECT_REJECTED with the status', async () => {
    const proxy = await connectProxy({ refuse: true })
    const err = await new Pool(`http://127.0.0.1:${proxy.port}`).connect({ path: '127.0.0.1:9' }).catch((e) => e)
    expect(err).toBeInstanceOf(UpgradeError)
    expect(err.code).toBe('ERR_CONNECT_REJECTED')
    expect(err.statusCode).toBe(407)
  })

  it('undici\'s connect() through HyperDispatcher behaves as through undici\'s Agent', async () => {
    const dest = await destination()
    const proxy = await connectProxy()
    const refusing = await connectProxy({ refuse: true })
    for (const [name, dispatcher] of [['node-hyper', new HyperDispatcher() as unknown as AnyDispatcher], ['undici', new undici.Agent()]] as const) {
      // (undici's top-level connect() takes the path from the URL: the dispatcher's method it is)
      const t = await dispatcher.connect({ origin: `http://127.0.0.1:${proxy.port}`, path: `127.0.0.1:${dest}` })
      expect(t.statusCode, name).toBe(200)
      expect(await overSocket(t.socket as net.Socket, `/${name}`), name).toMatch(new RegExp(`tunnelled GET /${name}$`))
      t.socket.destroy()
      // undici hands the socket over whatever the status: the caller checks it
      const r = await dispatcher.connect({ origin: `http://127.0.0.1:${refusing.port}`, path: '127.0.0.1:9' })
      expect(r.statusCode, name).toBe(407)
      expect(r.headers['proxy-authenticate'], name).toBe('Basic realm="t"')
      expect(r.socket.readable || r.socket.destroyed, name).toBe(true)
      r.socket.destroy()
      await dispatcher.close()
    }
  })
})

describe('undici\'s upgrade() through HyperDispatcher (undici\'s Agent as the reference)', () => {
  const make = (): [string, AnyDispatcher][] => [['node-hyper', new HyperDispatcher() as unknown as AnyDispatcher], ['undici', new undici.Agent()]]

  it('101: headers and socket; bytes behind the head are the socket\'s first data', async () => {
    const raw = await rawServer(switchingEcho('EARLY'))
    for (const [name, dispatcher] of make()) {
      const r = await undici.upgrade(`http://127.0.0.1:${raw.port}/u`, { dispatcher, protocol: 'echo' })
      expect(r.headers.upgrade, name).toBe('echo')
      const socket = r.socket as net.Socket
      expect((await readUntil(socket, (b) => b.length >= 5)).toString(), name).toBe('EARLY')
      socket.write('more')
      socket.resume()
      expect((await readUntil(socket, (b) => b.length >= 4)).toString(), name).toBe('more')
      socket.destroy()
      await dispatcher.close()
    }
    // undici writes `connection: upgrade` + `upgrade: echo`; node-hyper the same fields
    expect(raw.heads[0]!.toLowerCase()).toContain('connection: upgrade\r\nupgrade: echo\r\n')
  })

  it('non-101: SocketError "bad upgrade"', async () => {
    const raw = await rawServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'))
    for (const [name, dispatcher] of make()) {
      const err = await undici.upgrade(`http://127.0.0.1:${raw.port}/`, { dispatcher }).catch((e) => e)
      expect(err, name).toBeInstanceOf(undici.errors.SocketError)
      expect(err.message, name).toBe('bad upgrade')
      await dispatcher.close()
    }
  })

  it('headersTimeout and abort before the 101', async () => {
    const raw = await rawServer(() => {})
    for (const [name, dispatcher] of make()) {
      const err = await undici.upgrade(`http://127.0.0.1:${raw.port}/`, { dispatcher, headersTimeout: 100 } as never).catch((e) => e)
      expect(err, name).toBeInstanceOf(undici.errors.HeadersTimeoutError)
      for (let i = 0; i < 200 && raw.open() > 0; i++) await sleep(5)
      expect(raw.open(), name).toBe(0)
      const ac = new AbortController()
      const before = raw.heads.length
      const p = undici.upgrade(`http://127.0.0.1:${raw.port}/`, { dispatcher, signal: ac.signal }).catch((e) => e)
      for (let i = 0; i < 400 && raw.heads.length === before; i++) await sleep(5)
      expect(raw.open(), name).toBe(1)
      ac.abort()
      const aborted = await p
      expect(aborted.name, name).toBe('AbortError')
      for (let i = 0; i < 200 && raw.open() > 0; i++) await sleep(5)
      expect(raw.open(), name).toBe(0)
      await dispatcher.destroy()
    }
  })

  it('HyperDispatcher.destroy() fails an upgrade in flight; close() waits for it', async () => {
    let answer: (() => void) | null = null
    const raw = await rawServer((s, _h, rest) => { answer = () => switchingEcho()(s, '', rest) })
    const d = new HyperDispatcher()
    const p = undici.upgrade(`http://127.0.0.1:${raw.port}/`, { dispatcher: d as unknown as AnyDispatcher }).catch((e) => e)
    for (let i = 0; i < 400 && !answer; i++) await sleep(5)
    let closed = false
    const closing = d.close().then(() => { closed = true })
    await sleep(50)
    expect(closed).toBe(false)
    answer!()
    const r = await p
    await closing
    ;(r.socket as net.Socket).destroy()

    answer = null
    const d2 = new HyperDispatcher()
    const p2 = undici.upgrade(`http://127.0.0.1:${raw.port}/`, { dispatcher: d2 as unknown as AnyDispatcher }).catch((e) => e)
    for (let i = 0; i < 400 && !answer; i++) await sleep(5)
    await d2.destroy()
    expect(await p2).toBeInstanceOf(undici.errors.ClientDestroyedError)
  })

  it('an upgrade answered without switching is an ordinary response to the handler (body, complete; body timeout)', async () => {
    const raw = await rawServer((s, head) => {
      if (head.includes('/stall')) { s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf'); return }
      s.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 11\r\nX-A: 1\r\n\r\nhello')
      setTimeout(() => s.end(' world'), 20)
    })
    const run = (dispatcher: AnyDispatcher, path: string, bodyTimeout?: number) => new Promise<string[]>((resolve) => {
      const events: string[] = []
      dispatcher.dispatch({ origin: `http://127.0.0.1:${raw.port}`, path, method: 'GET', upgrade: 'echo', ...(bodyTimeout ? { bodyTimeout } : {}) }, {
        onConnect () { events.push('connect') },
        onHeaders (status: number, rawHeaders: Buffer[]) { events.push(`headers ${status} ${rawHeaders.map(String).join(',')}`); return true },
        onData (chunk: Buffer) { events.push(`data ${chunk}`); return true },
        onComplete () { events.push('complete'); resolve(events) },
        onError (err: Error) { events.push(`error ${(err as NodeJS.ErrnoException).code}`); resolve(events) },
        onUpgrade () { events.push('upgrade'); resolve(events) },
      } as never)
    })
    for (const [name, dispatcher] of make()) {
      const events = await run(dispatcher, '/refused')
      expect(events.filter((e) => !e.startsWith('data')), name).toEqual(['connect', 'headers 403 Content-Length,11,X-A,1', 'complete'])
      expect(events.filter((e) => e.startsWith('data')).map((e) => e.slice(5)).join(''), name).toBe('hello world')
      expect(await run(dispatcher, '/stall', 100), name).toEqual(['connect', 'headers 200 Content-Length,10', 'data half', 'error UND_ERR_BODY_TIMEOUT'])
      await dispatcher.close()
    }
  })

  it('new-style handlers get onRequestUpgrade(controller, status, headers, socket)', async () => {
    const raw = await rawServer(switchingEcho())
    const d = new HyperDispatcher()
    const got = await new Promise<{ status: number, headers: Record<string, unknown>, raw: Buffer[] | null, socket: net.Socket }>((resolve, reject) => {
      d.dispatch({ origin: `http://127.0.0.1:${raw.port}`, path: '/', method: 'GET', upgrade: 'echo' }, {
        onRequestStart () {},
        onRequestUpgrade (controller, status, headers, socket) { resolve({ status, headers, raw: controller.rawHeaders, socket: socket as net.Socket }) },
        onResponseError (_c, err) { reject(err) },
      })
    })
    expect(got.status).toBe(101)
    expect(got.headers).toEqual({ upgrade: 'echo', connection: 'Upgrade' })
    expect(got.raw?.map(String)).toEqual(['Upgrade', 'echo', 'Connection', 'Upgrade'])
    got.socket.destroy()
    await d.close()
  })
})
