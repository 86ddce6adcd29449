// The reverse proxy example (examples/proxy.ts) with real traffic: a node:http client -> the
// proxy (node:http server + node-hyper Pool) -> node:http / raw TCP upstreams on 127.0.0.1.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import http from 'node:http'
import net from 'node:net'
import crypto from 'node:crypto'
import { Readable } from 'node:stream'
import { WebSocket, WebSocketServer } from 'ws'
import { createProxy } from '../examples/proxy'
import { httpServer, rawServer, deadPort, pattern, readAll } from './helpers'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex')

interface Reply {
  status: number
  statusText: string
  headers: http.IncomingHttpHeaders
  rawHeaders: string[]
  body: Buffer
}

/** One request with node:http (no keep-alive), the whole response read. */
function send (port: number, opts: { method?: string, path?: string, headers?: http.OutgoingHttpHeaders | string[], body?: Buffer | Readable }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers, agent: false }, (res) => {
      readAll(res).then((body) => resolve({ status: res.statusCode!, statusText: res.statusMessage!, headers: res.headers, rawHeaders: res.rawHeaders, body }), reject)
    })
    req.on('error', reject)
    if (opts.body instanceof Readable) opts.body.pipe(req)
    else req.end(opts.body)
  })
}

async function listen (server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as net.AddressInfo).port
}

function closeServer (server: http.Server): Promise<void> {
  return new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
}

/** Upstream requests whose response had not finished when their connection closed. */
const upstreamClosed = new Set<string>()
const upstreamStarted = new Set<string>()

describe('reverse proxy example', () => {
  let upstream: Awaited<ReturnType<typeof httpServer>>
  let proxy: http.Server
  let port: number
  const errors: string[] = []

  beforeAll(async () => {
    upstream = await httpServer((req, res) => {
      const url = new URL(req.url!, 'http://x')
      const id = url.searchParams.get('id') ?? ''
      if (id) {
        upstreamStarted.add(id)
        res.on('close', () => { if (!res.writableFinished) upstreamClosed.add(id) })
      }
      switch (url.pathname) {
        case '/info':
          void readAll(req).then((body) => {
            res.setHeader('content-type', 'application/json')
            res.end(JSON.stringify({ method: req.method, url: req.url, rawHeaders: req.rawHeaders, headers: req.headers, length: body.length }))
          })
          return
        case '/echo': {
          // Streams the upload back while it arrives and reports its own checksum in a header
          // can't be done before the end: the checksum goes to the test through a side channel.
          const hash = crypto.createHash('sha256')
          let length = 0
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-upload-framing': req.headers['transfer-encoding'] ?? `length ${req.headers['content-length']}` })
          req.on('data', (c: Buffer) => { hash.update(c); length += c.length; uploaded.set(id, length) })
          req.on('end', () => { echoes.set(id, { sha: hash.digest('hex'), length }) })
          req.pipe(res)
          return
        }
        case '/download': {
          const size = Number(url.searchParams.get('size'))
          const data = pattern(Math.min(size, 1024 * 1024))
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) })
          let sent = 0
          const write = (): void => {
            while (sent < size && !res.destroyed) {
              const chunk = data.subarray(0, Math.min(data.length, size - sent))
              sent += chunk.length
              if (!res.write(chunk)) { res.once('drain', write); return }
            }
            if (!res.destroyed) res.end()
          }
          write()
          return
        }
        case '/slow':
          // never answers
          return
        default:
          res.writeHead(404).end()
      }
    })
    proxy = createProxy({ upstream: `http://127.0.0.1:${upstream.port}`, headersTimeout: 400, onError: (err) => { errors.push((err as { code?: string }).code ?? err.message) } })
    port = await listen(proxy)
  })

  afterAll(async () => {
    await closeServer(proxy)
    await upstream.close()
  })

  const echoes = new Map<string, { sha: string, length: number }>()
  /** Bytes of each upload the upstream has received so far. */
  const uploaded = new Map<string, number>()

  it('GET: status, body and end-to-end headers pass through; Via and X-Forwarded-For are added', async () => {
    const r = await send(port, { path: '/info?a=1', headers: { 'x-trace': 'abc', 'x-forwarded-for': '10.0.0.1', via: '1.0 edge' } })
    expect(r.status).toBe(200)
    expect(r.headers['content-type']).toBe('application/json')
    expect(r.headers.via).toBe('1.1 node-hyper')
    const seen = JSON.parse(r.body.toString()) as { method: string, url: string, headers: Record<string, string>, rawHeaders: string[] }
    expect(seen.method).toBe('GET')
    expect(seen.url).toBe('/info?a=1')
    expect(seen.headers['x-trace']).toBe('abc')
    expect(seen.headers['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1')
    expect(seen.headers.via).toBe('1.0 edge, 1.1 node-hyper')
    expect(seen.headers.host).toBe(`127.0.0.1:${upstream.port}`)
    expect(seen.headers['x-forwarded-host']).toBe(`127.0.0.1:${port}`)
    // header names keep their case on the way through
    expect(seen.rawHeaders).toContain('x-trace')
  })

  it('request hop-by-hop fields (and those named in Connection) are not forwarded', async () => {
    const r = await send(port, {
      path: '/info',
      headers: [
        'Host', `127.0.0.1:${port}`, // a raw header list gets no Host from node:http
        'Connection', 'keep-alive, X-Client-Secret',
        'X-Client-Secret', 'do not forward',
        'Keep-Alive', 'timeout=5',
        'Proxy-Connection', 'keep-alive',
        'TE', 'trailers',
        'X-End-To-End', 'yes',
      ],
    })
    const seen = JSON.parse(r.body.toString()) as { headers: Record<string, string> }
    expect(seen.headers['x-end-to-end']).toBe('yes')
    for (const name of ['x-client-secret', 'keep-alive', 'proxy-connection', 'te']) expect(seen.headers[name], name).toBeUndefined()
    // node-hyper's own connection management, not the client's
    expect(seen.headers.connection).toBeUndefined()
  })

  it('response hop-by-hop fields (and those named in Connection) are not forwarded', async () => {
    const raw = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\n' +
        'Connection: keep-alive, X-Upstream-Secret\r\n' +
        'Keep-Alive: timeout=5\r\n' +
        'X-Upstream-Secret: s3cr3t\r\n' +
        'Proxy-Connection: keep-alive\r\n' +
        'Trailer: X-Checksum\r\n' +
        'Upgrade: h2c\r\n' +
        'Via: 1.0 origin\r\n' +
        'X-Keep: yes\r\n' +
        'Set-Cookie: a=1\r\n' +
        'Set-Cookie: b=2\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n' +
        '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n')
    })
    const p = createProxy({ upstream: `http://127.0.0.1:${raw.port}` })
    const pport = await listen(p)
    try {
      const r = await send(pport, { path: '/' })
      expect(r.status).toBe(200)
      expect(r.body.toString()).toBe('hello world')
      expect(r.headers['x-keep']).toBe('yes')
      expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2'])
      expect(r.headers.via).toBe('1.0 origin, 1.1 node-hyper')
      for (const name of ['x-upstream-secret', 'keep-alive', 'proxy-connection', 'trailer', 'upgrade']) expect(r.headers[name], name).toBeUndefined()
      // the client's framing is the proxy's own (node:http chunks an unknown length)
      expect(r.headers['transfer-encoding']).toBe('chunked')
      expect(r.headers.connection).toBe('close')
    } finally {
      await closeServer(p)
      await raw.close()
    }
  })

  it('POST: 10 MiB streamed up and back down, checksums match; the upload reaches the upstream while it is being sent', async () => {
    const size = 10 * 1024 * 1024
    const payload = pattern(size, 5)
    for (const framing of ['chunked', 'length'] as const) {
      const id = `echo-${framing}`
      const part = size / 40
      // Part i is only sent once the upstream holds part i - 4: a proxy that collected the
      // upload before forwarding it would stall here (and the test time out).
      const body = Readable.from((async function * () {
        for (let i = 0; i < 40; i++) {
          while ((uploaded.get(id) ?? 0) < (i - 4) * part) await sleep(1)
          yield payload.subarray(i * part, (i + 1) * part)
        }
      })(), { objectMode: false })
      const r = await send(port, {
        method: 'POST', path: `/echo?id=${id}`,
        headers: framing === 'length' ? { 'content-length': String(size) } : { 'transfer-encoding': 'chunked' },
        body,
      })
      expect(r.status).toBe(200)
      expect(r.headers['x-upload-framing']).toBe(framing === 'length' ? `length ${size}` : 'chunked')
      expect(r.body.length).toBe(size)
      expect(sha(r.body)).toBe(sha(payload))
      expect(echoes.get(id)).toEqual({ sha: sha(payload), length: size })
    }
  })

  it('GET 10 MiB download streams through', async () => {
    const size = 10 * 1024 * 1024
    const r = await send(port, { path: `/download?size=${size}` })
    expect(r.headers['content-length']).toBe(String(size))
    expect(r.body.length).toBe(size)
  })

  it('upstream connection refused: 502 Bad Gateway', async () => {
    const p = createProxy({ upstream: `http://127.0.0.1:${await deadPort()}` })
    const pport = await listen(p)
    try {
      const r = await send(pport, { path: '/anything' })
      expect(r.status).toBe(502)
      expect(r.body.toString()).toContain('ECONNREFUSED')
      // a POST whose body the upstream never read still gets its 502
      const r2 = await send(pport, { method: 'POST', path: '/upload', body: Buffer.alloc(256 * 1024, 1) })
      expect(r2.status).toBe(502)
    } finally {
      await closeServer(p)
    }
  })

  it('upstream headers timeout: 504 Gateway Timeout', async () => {
    const started = Date.now()
    const r = await send(port, { path: '/slow?id=timeout' })
    expect(r.status).toBe(504)
    expect(r.body.toString()).toContain('ERR_HEADERS_TIMEOUT')
    expect(Date.now() - started).toBeGreaterThanOrEqual(350)
    expect(errors).toContain('ERR_HEADERS_TIMEOUT')
  })

  it('client abort mid-download aborts the upstream request (the upstream sees the close)', async () => {
    const id = 'abort-download'
    const size = 1024 * 1024 * 1024
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: `/download?size=${size}&id=${id}`, agent: false }, (res) => {
        let got = 0
        res.on('data', (c: Buffer) => {
          got += c.length
          if (got > 2 * 1024 * 1024) {
            req.destroy()
            resolve()
          }
        })
      })
      req.on('error', () => {})
      req.on('close', () => resolve())
      req.end()
      setTimeout(() => reject(new Error('no data')), 10_000).unref()
    })
    for (let i = 0; i < 200 && !upstreamClosed.has(id); i++) await sleep(10)
    expect(upstreamClosed.has(id)).toBe(true)
  })

  it('client abort while waiting for the head aborts the upstream request', async () => {
    // A proxy without the short headers timeout, so only the client's abort can end it.
    const p = createProxy({ upstream: `http://127.0.0.1:${upstream.port}`, headersTimeout: 60_000 })
    const pport = await listen(p)
    try {
      const id = 'abort-head'
      const req = http.request({ host: '127.0.0.1', port: pport, path: `/slow?id=${id}`, agent: false })
      req.on('error', () => {})
      req.end()
      for (let i = 0; i < 200 && !upstreamStarted.has(id); i++) await sleep(5)
      expect(upstreamStarted.has(id)).toBe(true)
      await sleep(100)
      expect(upstreamClosed.has(id)).toBe(false)
      req.destroy()
      for (let i = 0; i < 200 && !upstreamClosed.has(id); i++) await sleep(5)
      expect(upstreamClosed.has(id)).toBe(true)
    } finally {
      await closeServer(p)
    }
  })
})

describe('reverse proxy example: WebSocket upgrades', () => {
  it('relays a WebSocket end to end (ws client -> proxy -> ws server): text, binary, close handshake', async () => {
    const upstreamHttp = http.createServer()
    const wss = new WebSocketServer({ server: upstreamHttp })
    const seen: http.IncomingMessage[] = []
    const serverCloses: [number, string][] = []
    wss.on('connection', (ws, req) => {
      seen.push(req)
      ws.send('welcome') // right behind the 101: the proxy must relay the bytes that follow it
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
      ws.on('close', (code, reason) => serverCloses.push([code, reason.toString()]))
    })
    const upstreamPort = await listen(upstreamHttp)
    const p = createProxy({ upstream: `http://127.0.0.1:${upstreamPort}` })
    const pport = await listen(p)
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${pport}/live?x=1`, ['chat.v1'], { headers: { 'x-client': 'test' } })
      const messages: { data: Buffer, binary: boolean }[] = []
      ws.on('message', (data: Buffer, binary) => messages.push({ data, binary }))
      const upgradeHeaders = await new Promise<http.IncomingHttpHeaders>((resolve, reject) => {
        ws.once('upgrade', (res) => resolve(res.headers))
        ws.once('error', reject)
      })
      await new Promise<void>((resolve) => ws.readyState === WebSocket.OPEN ? resolve() : ws.once('open', () => resolve()))
      expect(upgradeHeaders.via).toBe('1.1 node-hyper')
      expect(upgradeHeaders['sec-websocket-protocol']).toBe('chat.v1')
      const big = pattern(300_000, 3)
      ws.send('ping over the proxy')
      ws.send(big)
      for (let i = 0; i < 1000 && messages.length < 3; i++) await sleep(5)
      expect(messages[0]).toEqual({ data: Buffer.from('welcome'), binary: false })
      expect(messages[1]!.data.toString()).toBe('ping over the proxy')
      expect(messages[2]!.binary).toBe(true)
      expect(sha(messages[2]!.data)).toBe(sha(big))
      const closed = new Promise<[number, string]>((resolve) => ws.once('close', (code, reason) => resolve([code, reason.toString()])))
      ws.close(1000, 'bye')
      expect(await closed).toEqual([1000, 'bye'])
      for (let i = 0; i < 200 && serverCloses.length === 0; i++) await sleep(5)
      expect(serverCloses).toEqual([[1000, 'bye']])
      // what the upstream saw: the upgrade and end-to-end fields, plus the proxy's own
      const req = seen[0]!
      expect(req.url).toBe('/live?x=1')
      expect(req.headers.upgrade).toBe('websocket')
      expect(req.headers['x-client']).toBe('test')
      expect(req.headers.via).toBe('1.1 node-hyper')
      expect(req.headers['x-forwarded-for']).toBe('127.0.0.1')
      expect(req.headers.host).toBe(`127.0.0.1:${upstreamPort}`)
    } finally {
      for (const c of wss.clients) c.terminate()
      wss.close()
      await closeServer(p)
      await closeServer(upstreamHttp)
    }
  })

  it('an upstream refusing the upgrade has its status relayed; an unreachable one is 502', async () => {
    const upstreamHttp = http.createServer()
    const wss = new WebSocketServer({ server: upstreamHttp, verifyClient: (_info, cb) => cb(false, 401, 'Unauthorized', { 'X-Reason': 'no token' }) })
    const upstreamPort = await listen(upstreamHttp)
    const p = createProxy({ upstream: `http://127.0.0.1:${upstreamPort}` })
    const pport = await listen(p)
    const dead = createProxy({ upstream: `http://127.0.0.1:${await deadPort()}` })
    const dport = await listen(dead)
    const refused = (port: number) => new Promise<{ status: number, headers: http.IncomingHttpHeaders }>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`)
      ws.on('unexpected-response', (_req, res) => { resolve({ status: res.statusCode!, headers: res.headers }); res.resume(); ws.terminate() })
      ws.on('open', () => reject(new Error('opened')))
      ws.on('error', () => {})
    })
    try {
      const r = await refused(pport)
      expect(r.status).toBe(401)
      expect(r.headers['x-reason']).toBe('no token')
      expect(r.headers.via).toBe('1.1 node-hyper')
      expect((await refused(dport)).status).toBe(502)
    } finally {
      wss.close()
      await closeServer(p)
      await closeServer(dead)
      await closeServer(upstreamHttp)
    }
  })
})
