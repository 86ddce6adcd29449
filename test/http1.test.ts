import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'
import net from 'node:net'
import crypto from 'node:crypto'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ClientConn, ProtocolError } from '../dist/esm/index.mjs'
import { httpServer, rawServer, pattern, readAll } from './helpers'

const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex')
const BIG = 10 * 1024 * 1024

let echo: Awaited<ReturnType<typeof httpServer>>
const order: string[] = []

beforeAll(async () => {
  echo = await httpServer(async (req, res) => {
    const body = await readAll(req)
    const url = new URL(req.url!, 'http://x')
    if (url.pathname === '/download') {
      const size = Number(url.searchParams.get('size'))
      const data = pattern(size)
      if (url.searchParams.get('chunked')) {
        // no Content-Length: Node frames it with Transfer-Encoding: chunked
        res.flushHeaders()
        for (let off = 0; off < size; off += 65_536) res.write(data.subarray(off, off + 65_536))
        res.end()
      } else {
        res.setHeader('content-length', size)
        res.end(data)
      }
      return
    }
    if (url.pathname === '/order') {
      order.push(url.searchParams.get('i')!)
      res.end(url.searchParams.get('i'))
      return
    }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({
      method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders,
      length: body.length, sha: sha(body),
    }))
  })
})
afterAll(() => echo.close())

describe('methods and request framing', () => {
  it('GET sends Host by default and no body framing', async () => {
    const conn = await ClientConn.connect(`http://127.0.0.1:${echo.port}`)
    const res = await conn.request({ path: '/a?b=c' })
    expect(res.status).toBe(200)
    expect(res.httpVersion).toBe('1.1')
    const j = await res.body.json<any>()
    expect(j.method).toBe('GET')
    expect(j.url).toBe('/a?b=c')
    expect(j.headers.host).toBe(`127.0.0.1:${echo.port}`)
    expect(j.headers['content-length']).toBeUndefined()
    expect(j.headers['transfer-encoding']).toBeUndefined()
    await conn.close()
  })

  it.each(['POST', 'PUT', 'DELETE', 'PATCH'])('%s with a body sends it with Content-Length', async (method) => {
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: echo.port })
    const res = await conn.request({ method, path: '/m', body: 'hello body' })
    const j = await res.body.json<any>()
    expect(j.method).toBe(method)
    expect(j.headers['content-length']).toBe('10')
    expect(j.length).toBe(10)
    expect(j.sha).toBe(sha(Buffer.from('hello body')))
    await conn.close()
  })

  it('bodyless POST sends content-length: 0; user Host overrides the default; header case is kept', async () => {
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: echo.port })
    const res = await conn.request({ method: 'POST', headers: { Host: 'example.test', 'X-MiXeD': 'v' } })
    const j = await res.body.json<any>()
    expect(j.headers['content-length']).toBe('0')
    expect(j.headers.host).toBe('example.test')
    expect(j.rawHeaders).toContain('X-MiXeD')
    await conn.close()
  })

  it('HEAD returns headers and an empty body', async () => {
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: echo.port })
    const res = await conn.request({ method: 'HEAD', path: '/download?size=1000' })
    expect(res.status).toBe(200)
    expect(res.headers['content-length']).toBe('1000')
    expect((await res.body.bytes()).length).toBe(0)
    // the connection is still usable
    const res2 = await conn.request({ path: '/download?size=3' })
    expect((await res2.body.bytes()).length).toBe(3)
    await conn.close()
  })

  it('header inputs: pairs, flat arrays, repeated values, numbers', async () => {
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: echo.port })
    let j = await (await conn.request({ headers: [['X-A', '1'], ['x-a', 2]] })).body.json<any>()
    expect(j.headers['x-a']).toBe('1, 2')
    j = await (await conn.request({ headers: ['X-B', 'b1', 'X-C', 'c'] })).body.json<any>()
    expect(j.headers['x-b']).toBe('b1')
    expect(j.headers['x-c']).toBe('c')
    j = await (await conn.request({ headers: { 'x-d': ['d1', 'd2'] } })).body.json<any>()
    expect(j.headers['x-d']).toBe('d1, d2')
    await conn.close()
  })
})

describe('keep-alive and concurrency', () => {
  it('1,000 sequential requests reuse one connection', async () => {
    const before = echo.connections()
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: echo.port })
    for (let i = 0; i < 1000; i++) {
      const res = await conn.request({ path: '/download?size=16' })
      expect(res.status).toBe(200)
      expect((await res.body.bytes()).length).toBe(16)
    }
    expect(echo.connections() - before).toBe(1)
    await conn.close()
  })

  it('concurrent request() calls on one connection queue in order, none lost', async () => {
    order.length = 0
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: echo.port })
    const ps = Array.from({ length: 20 }, (_, i) => conn.request({ path: `/order?i=${i}` }))
    expect(conn.pending).toBe(20)
    const texts = await Promise.all(ps.map(async (p) => (await p).body.text()))
    expect(texts).toEqual(Array.from({ length: 20 }, (_, i) => String(i)))
    expect(order).toEqual(texts)
    await conn.close()
  })

  it('100 connections at once', async () => {
    const before = echo.connections()
    const conns = await Promise.all(Array.from({ length: 100 }, () => ClientConn.connect({ host: '127.0.0.1', port: echo.port })))
    const bodies = await Promise.all(conns.map(async (c, i) => (await (await c.request({ path: `/download?size=${i}` })).body.bytes()).length))
    expect(bodies).toEqual(Array.from({ length: 100 }, (_, i) => i))
    expect(echo.connections() - before).toBe(100)
    await Promise.all(conns.map((c) => c.close()))
  })
})

describe('bodies, byte for byte', () => {
  for (const size of [0, 1024, BIG]) {
    for (const chunked of [false, true]) {
      it(`download ${size} B (${chunked ? 'chunked' : 'content-length'})`, async () => {
        const conn = await ClientConn.connect({ host: '127.0.0.1', port: echo.port })
        const res = await conn.request({ path: `/download?size=${size}${chunked ? '&chunked=1' : ''}` })
        if (chunked) expect(res.headers['transfer-encoding']).toBe('chunked')
        else expect(res.headers['content-length']).toBe(String(size))
        const got = Buffer.from(await res.body.arrayBuffer())
        expect(got.length).toBe(size)
        expect(got.equals(pattern(size))).toBe(true)
        await conn.close()
      })
    }
    it(`upload ${size} B`, async () => {
      const data = pattern(size, 3)
      const conn = await ClientConn.connect({ host: '127.0.0.1', port: echo.port })
      const j = await (await conn.request({ method: 'PUT', path: '/up', body: data })).body.json<any>()
      expect(j.length).toBe(size)
      expect(j.sha).toBe(sha(data))
      await conn.close()
    })
  }

  it('body consumers: async iteration, pipeline(), text(), dump() then reuse', async () => {
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: echo.port })
    let res = await conn.request({ path: '/download?size=200000&chunked=1' })
    let n = 0
    for await (const chunk of res.body) n += (chunk as Buffer).length
    expect(n).toBe(200000)

    res = await conn.request({ path: '/download?size=300000' })
    const parts: Buffer[] = []
    await pipeline(res.body, new Writable({ write (c, _e, cb) { parts.push(c); cb() } }))
    expect(Buffer.concat(parts).equals(pattern(300000))).toBe(true)

    res = await conn.request({ path: '/download?size=5000000' })
    await res.body.dump()
    res = await conn.request({ path: '/download?size=10' })
    expect(Buffer.from(await res.body.bytes()).equals(pattern(10))).toBe(true)
    expect(echo.connections()).toBeGreaterThan(0)
    await conn.close()
  })
})

describe('response heads', () => {
  // HTTP/1 names and values come from the head as recorded on the wire (native/src/raw_head.h),
  // checked against hyper's parse; these pin that path byte for byte.
  const exact = async (bytes: string, opts: { bytewise?: boolean, onInformational?: (r: any) => void } = {}) => {
    const raw = await rawServer(async (s) => {
      s.setNoDelay(true)
      if (!opts.bytewise) return s.write(Buffer.from(bytes, 'latin1'))
      for (const b of Buffer.from(bytes, 'latin1')) {
        s.write(Buffer.from([b]))
        await new Promise((resolve) => setTimeout(resolve, 1))
      }
    })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    const res = await conn.request({ onInformational: opts.onInformational })
    const body = await res.body.text()
    conn.destroy()
    await raw.close()
    return { res, body }
  }
  const interleaved = 'HTTP/1.1 200 OK\r\nX-CamelCase: a\r\nset-cookie: x=1\r\nX-Other: b\r\nSet-Cookie: y=2\r\nx-other: c\r\nContent-Length: 2\r\n\r\nok'
  const interleavedRaw = ['X-CamelCase', 'a', 'set-cookie', 'x=1', 'X-Other', 'b', 'Set-Cookie', 'y=2', 'x-other', 'c', 'Content-Length', '2']

  it('a head that arrives one byte per read keeps wire case and order', async () => {
    const { res, body } = await exact(interleaved, { bytewise: true })
    expect(res.rawHeaders).toEqual(interleavedRaw)
    expect(body).toBe('ok')
  })

  it('LF line endings, whitespace around values, empty values, leading empty lines', async () => {
    const { res } = await exact('\r\n\r\nHTTP/1.1 200 Fine\nX-Pad: \t spaced  value \t\nX-Empty:\nx-empty2:  \r\nContent-Length: 0\n\n')
    expect(res.statusText).toBe('Fine')
    expect(res.rawHeaders).toEqual(['X-Pad', 'spaced  value', 'X-Empty', '', 'x-empty2', '', 'Content-Length', '0'])
  })

  it('a latin1 reason phrase and latin1 values are kept', async () => {
    const { res } = await exact('HTTP/1.1 200 Caf\xe9 ok\r\nX-Caf\u00e9: cr\xe8me\r\nContent-Length: 0\r\n\r\n'.replace('X-Caf\u00e9', 'X-Cafe'))
    expect(res.statusText).toBe('Caf\u00e9 ok')
    expect(res.rawHeaders).toEqual(['X-Cafe', 'cr\u00e8me', 'Content-Length', '0'])
  })

  it('1xx heads before the final one: each keeps its own names, with or without onInformational', async () => {
    const bytes = 'HTTP/1.1 103 Early Hints\r\nLINK: </a.css>; rel=preload\r\nLink: </b.js>; rel=preload\r\n\r\n' +
      'HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 0\r\n\r\n'
    const infos: { status: number, raw: string[] }[] = []
    const { res } = await exact(bytes, { onInformational: (r) => infos.push({ status: r.status, raw: r.rawHeaders }) })
    expect(infos).toEqual([
      { status: 103, raw: ['LINK', '</a.css>; rel=preload', 'Link', '</b.js>; rel=preload'] },
      { status: 102, raw: [] },
    ])
    expect(res.rawHeaders).toEqual(['X-Final', 'yes', 'Content-Length', '0'])
    const plain = await exact(bytes)
    expect(plain.res.rawHeaders).toEqual(['X-Final', 'yes', 'Content-Length', '0'])
  })

  it('the same names as node:http for the same bytes', async () => {
    const bytes = 'HTTP/1.1 201 Created Here\r\nServer: x\r\nSET-COOKIE: a=1\r\nVary: A\r\nset-Cookie: b=2\r\nvary: B\r\nX-Tab:\tv\t\r\nContent-Length: 3\r\n\r\nabc'
    const raw = await rawServer((s) => s.write(bytes))
    const viaNode = await new Promise<{ raw: string[], message: string }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: raw.port, agent: false }, (r) => { r.resume(); resolve({ raw: r.rawHeaders, message: r.statusMessage! }) }).on('error', reject)
    })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    const res = await conn.request()
    expect(res.rawHeaders).toEqual(viaNode.raw)
    expect(res.statusText).toBe(viaNode.message)
    await res.body.dump()
    conn.destroy()
    await raw.close()
  })

  it('responses on one keep-alive connection each get their own head', async () => {
    let n = 0
    const raw = await rawServer((s) => { n++; s.write(`HTTP/1.1 200 OK\r\nX-Seq-${n}: ${n}\r\nContent-Length: 1\r\n\r\n${n}`) })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    for (let i = 1; i <= 3; i++) {
      const res = await conn.request()
      expect(res.rawHeaders).toEqual([`X-Seq-${i}`, String(i), 'Content-Length', '1'])
      expect(await res.body.text()).toBe(String(i))
    }
    await conn.close()
    await raw.close()
  })

  it('a head too long to record still gives every value (names from hyper, lowercase)', async () => {
    const big = 'v'.repeat(300 * 1024)
    const { res } = await exact(`HTTP/1.1 200 OK\r\nX-Big: ${big}\r\nX-Small: s\r\nContent-Length: 0\r\n\r\n`)
    expect(res.headers['x-big']).toBe(big)
    expect(res.headers['x-small']).toBe('s')
    expect(res.rawHeaders.filter((_: string, i: number) => i % 2 === 0)).toEqual(['x-big', 'x-small', 'content-length'])
  })

  it('rawHeaders keep wire case and order; headers follow Node rules', async () => {
    const raw = await rawServer((s) => s.write(
      'HTTP/1.1 200 OK\r\nX-CamelCase: a\r\nset-cookie: x=1\r\nX-Other: b\r\nSet-Cookie: y=2\r\nx-other: c\r\nContent-Type: text/plain\r\ncontent-type: text/html\r\nContent-Length: 2\r\n\r\nok'))
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    const res = await conn.request()
    expect(res.rawHeaders).toEqual(['X-CamelCase', 'a', 'set-cookie', 'x=1', 'X-Other', 'b', 'Set-Cookie', 'y=2', 'x-other', 'c',
      'Content-Type', 'text/plain', 'content-type', 'text/html', 'Content-Length', '2'])
    expect({ ...res.headers }).toEqual({
      'x-camelcase': 'a', 'set-cookie': ['x=1', 'y=2'], 'x-other': 'b, c', 'content-type': 'text/plain', 'content-length': '2',
    })
    expect(await res.body.text()).toBe('ok')
    await conn.close()
    const conn2 = await ClientConn.connect({ host: '127.0.0.1', port: raw.port }, { preserveHeaderCase: false })
    const res2 = await conn2.request()
    expect(res2.rawHeaders[0]).toBe('x-camelcase')
    await res2.body.dump()
    await conn2.close()
    await raw.close()
  })

  it('obs-fold headers are rejected by default and accepted with allowMultilineHeaders', async () => {
    const raw = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nX-Folded: a\r\n  b\r\nContent-Length: 0\r\n\r\n'))
    const strict = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    const err = await strict.request().catch((e) => e)
    expect(err).toBeInstanceOf(ProtocolError)
    expect(err.code).toBe('HYPER_INVALID_PEER_MESSAGE')
    strict.destroy()
    const lenient = await ClientConn.connect({ host: '127.0.0.1', port: raw.port }, { allowMultilineHeaders: true })
    const res = await lenient.request()
    expect(res.headers['x-folded']).toMatch(/^a\s+b$/)
    await lenient.close()
    await raw.close()
  })

  it('custom reason phrase and HTTP/1.0 responses', async () => {
    const raw = await rawServer((s, head) => {
      if (head.startsWith('GET /old')) s.end('HTTP/1.0 200 OK\r\nContent-Length: 3\r\nX-Old: 1\r\n\r\nold')
      else s.write('HTTP/1.1 299 Custom Reason\r\nContent-Length: 0\r\n\r\n')
    })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    const res = await conn.request()
    expect(res.status).toBe(299)
    expect(res.statusText).toBe('Custom Reason')
    await res.body.dump()
    const old = await conn.request({ path: '/old' })
    expect(old.httpVersion).toBe('1.0')
    // wire case from the recorded head (its status line's version checked against hyper's)
    expect(old.rawHeaders).toEqual(['Content-Length', '3', 'X-Old', '1'])
    expect(await old.body.text()).toBe('old')
    await conn.close()
    await raw.close()
  })
})

describe('where a body ends', () => {
  // The addon ends an HTTP/1 body once hyper has yielded all of its Content-Length, without
  // asking hyper for the end (native/src/connection.cc, BodyComplete). These pin that it counts
  // across reads, leaves the connection reusable, and lets Transfer-Encoding override the length.
  const pause = () => new Promise((resolve) => setTimeout(resolve, 30))
  async function server (send: (s: net.Socket, head: string) => Promise<void>) {
    let connections = 0
    const raw = await rawServer((s, head) => { void send(s, head) })
    raw.server.on('connection', () => { connections++ })
    return { ...raw, connections: () => connections }
  }

  it('a Content-Length body in several reads, read every way, on one connection', async () => {
    const raw = await server(async (s) => {
      s.write('HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 10\r\n\r\nabc')
      await pause()
      s.write('defg')
      await pause()
      s.write('hij')
    })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    expect(await (await conn.request()).body.text()).toBe('abcdefghij')
    const parts: string[] = []
    for await (const c of (await conn.request()).body) parts.push((c as Buffer).toString('latin1'))
    expect(parts.join('')).toBe('abcdefghij')
    expect(parts.length).toBeGreaterThan(1)
    await (await conn.request()).body.dump()
    expect(Buffer.from(await (await conn.request()).body.bytes()).toString()).toBe('abcdefghij')
    expect(raw.requests()).toBe(4)
    expect(raw.connections()).toBe(1)
    await conn.close()
    await raw.close()
  })

  it('Transfer-Encoding: chunked overrides a Content-Length shorter than the body', async () => {
    // hyper decodes the chunks and ignores the length: the body is all six bytes, though the
    // first read alone holds as many as Content-Length says.
    const raw = await server(async (s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n')
      await pause()
      s.write('3\r\ndef\r\n0\r\n\r\n')
    })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    const res = await conn.request()
    expect(await res.body.text()).toBe('abcdef')
    conn.destroy()
    await raw.close()
  })

  it('a Content-Length with no body after it (HEAD, 304) ends and the connection goes on', async () => {
    const raw = await server(async (s, head) => {
      if (head.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n')
      else if (head.includes('/304')) s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n')
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    expect((await (await conn.request({ method: 'HEAD' })).body.bytes()).length).toBe(0)
    expect((await (await conn.request({ path: '/304' })).body.bytes()).length).toBe(0)
    expect(await (await conn.request()).body.text()).toBe('ok')
    expect(raw.connections()).toBe(1)
    await conn.close()
    await raw.close()
  })
})

describe('transports', () => {
  it('IPv6 loopback', async (ctx) => {
    const server = http.createServer((req, res) => res.end('v6'))
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false))
      server.listen(0, '::1', () => resolve(true))
    })
    if (!ok) return ctx.skip()
    const port = (server.address() as net.AddressInfo).port
    const conn = await ClientConn.connect(`http://[::1]:${port}/`)
    const res = await conn.request()
    expect(await res.body.text()).toBe('v6')
    await conn.close()
    await new Promise((r) => server.close(r))
  })

  it('Unix domain socket', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-'))
    const socketPath = path.join(dir, 's.sock')
    const server = http.createServer((req, res) => res.end(`unix ${req.headers.host}`))
    await new Promise<void>((resolve) => server.listen(socketPath, resolve))
    const conn = await ClientConn.connect({ socketPath })
    const res = await conn.request()
    expect(await res.body.text()).toBe('unix localhost')
    await conn.close()
    await new Promise((r) => server.close(r))
    fs.rmSync(dir, { recursive: true, force: true })
  })
})
