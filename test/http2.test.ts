import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import http2 from 'node:http2'
import crypto from 'node:crypto'
import { ClientConn, AbortError, TimeoutError, ProtocolError, HyperError } from '../dist/esm/index.mjs'
import { pattern } from './helpers'

const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let server: http2.Http2Server
let port: number
let active = 0
let maxActive = 0
let sessions = 0

beforeAll(async () => {
  server = http2.createServer()
  server.on('session', () => { sessions++ })
  server.on('stream', (stream, headers) => {
    active++
    maxActive = Math.max(maxActive, active)
    stream.on('close', () => { active-- })
    stream.on('error', () => {})
    const url = new URL(headers[':path']!, 'http://x')
    const hash = crypto.createHash('sha256')
    let n = 0
    stream.on('data', (c: Buffer) => { hash.update(c); n += c.length })
    stream.on('end', async () => {
      if (url.pathname === '/slow') await sleep(Number(url.searchParams.get('ms') ?? 50))
      if (url.pathname === '/hang') return
      if (url.pathname === '/reset') return stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
      if (stream.destroyed) return
      if (url.pathname === '/download') {
        const size = Number(url.searchParams.get('size'))
        stream.respond({ ':status': 200, 'content-length': size })
        stream.end(pattern(size))
        return
      }
      stream.respond({ ':status': 200, 'content-type': 'application/json' })
      stream.end(JSON.stringify({
        method: headers[':method'], path: headers[':path'], authority: headers[':authority'],
        scheme: headers[':scheme'], host: headers.host ?? null, n, sha: hash.digest('hex'),
      }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as { port: number }).port
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

describe('HTTP/2 (h2c, prior knowledge)', () => {
  it('sends scheme and authority, no Host header; responses are 2.0', async () => {
    const conn = await ClientConn.connect(`http://127.0.0.1:${port}`, { http2: true })
    expect(conn.protocol).toBe('2')
    const res = await conn.request({ path: '/x?y=1', headers: { 'x-a': 'b' } })
    expect(res.httpVersion).toBe('2.0')
    const j = await res.body.json<any>()
    expect(j).toMatchObject({ method: 'GET', path: '/x?y=1', authority: `127.0.0.1:${port}`, scheme: 'http', host: null })
    await conn.close()
  })

  it('1,000 requests over one connection with at most 100 streams in flight', async () => {
    const before = sessions
    maxActive = 0
    const conn = await ClientConn.connect(`http://127.0.0.1:${port}`, { http2: true })
    const results = await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
      const res = await conn.request({ method: 'POST', path: `/slow?ms=5&i=${i}`, body: `body ${i}` })
      return (await res.body.json<any>()).n
    }))
    expect(results).toEqual(Array.from({ length: 1000 }, (_, i) => `body ${i}`.length))
    expect(sessions - before).toBe(1)
    expect(maxActive).toBe(100)
    await conn.close()
  })

  it('maxConcurrentStreams caps the streams in flight', async () => {
    maxActive = 0
    const conn = await ClientConn.connect(`http://127.0.0.1:${port}`, { http2: true, maxConcurrentStreams: 7 })
    await Promise.all(Array.from({ length: 50 }, async () => (await conn.request({ path: '/slow?ms=5' })).body.dump()))
    expect(maxActive).toBe(7)
    await conn.close()
  })

  it('10 MiB bodies both ways under flow control', async () => {
    const conn = await ClientConn.connect(`http://127.0.0.1:${port}`, { http2: true })
    const up = pattern(10 * 1024 * 1024, 5)
    const [j, down] = await Promise.all([
      conn.request({ method: 'PUT', path: '/up', body: up }).then((r) => r.body.json<any>()),
      conn.request({ path: `/download?size=${10 * 1024 * 1024}` }).then((r) => r.body.bytes()),
    ])
    expect(j.n).toBe(up.length)
    expect(j.sha).toBe(sha(up))
    expect(Buffer.from(down).equals(pattern(10 * 1024 * 1024))).toBe(true)
    // streamed upload too
    async function * gen () { for (let i = 0; i < 20; i++) yield up.subarray(i * 65536, (i + 1) * 65536) }
    const j2 = await (await conn.request({ method: 'POST', path: '/s', body: gen() })).body.json<any>()
    expect(j2.n).toBe(20 * 65536)
    await conn.close()
  })

  it('aborting one stream leaves the others running', async () => {
    const conn = await ClientConn.connect(`http://127.0.0.1:${port}`, { http2: true })
    const ac = new AbortController()
    const hung = conn.request({ path: '/hang', signal: ac.signal })
    const others = Array.from({ length: 5 }, (_, i) => conn.request({ path: `/slow?ms=30&i=${i}` }))
    await sleep(10)
    ac.abort()
    expect(await hung.catch((e) => e)).toBeInstanceOf(AbortError)
    const bodies = await Promise.all(others.map(async (p) => (await p).body.json<any>()))
    expect(bodies.map((b) => b.path)).toEqual(Array.from({ length: 5 }, (_, i) => `/slow?ms=30&i=${i}`))
    expect(conn.closed).toBe(false)
    // and the connection keeps serving
    expect((await (await conn.request({ path: '/after' })).body.json<any>()).path).toBe('/after')
    await conn.close()
  })

  it('a server RST_STREAM fails only that request', async () => {
    const conn = await ClientConn.connect(`http://127.0.0.1:${port}`, { http2: true })
    const reset = conn.request({ path: '/reset' })
    const ok = conn.request({ path: '/fine' })
    const err = await reset.catch((e) => e)
    expect(err).toBeInstanceOf(ProtocolError)
    expect(err.code).toBe('HYPER_ERROR')
    expect((await (await ok).body.json<any>()).path).toBe('/fine')
    await conn.close()
  })

  it('headersTimeout fails only the slow stream', async () => {
    const conn = await ClientConn.connect(`http://127.0.0.1:${port}`, { http2: true })
    const slow = conn.request({ path: '/hang', headersTimeout: 80 })
    const fast = conn.request({ path: '/quick' })
    const err = await slow.catch((e) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.code).toBe('ERR_HEADERS_TIMEOUT')
    expect((await (await fast).body.json<any>()).path).toBe('/quick')
    expect(conn.closed).toBe(false)
    await conn.close()
  })

  it('connection loss fails every request in flight', async () => {
    const s = http2.createServer()
    const sessionsOpen: http2.ServerHttp2Session[] = []
    s.on('session', (sess) => sessionsOpen.push(sess))
    s.on('stream', () => { /* never answers */ })
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
    const p = (s.address() as { port: number }).port
    const conn = await ClientConn.connect(`http://127.0.0.1:${p}`, { http2: true })
    const reqs = Array.from({ length: 3 }, (_, i) => conn.request({ path: `/x${i}` }).catch((e) => e))
    await sleep(30)
    for (const sess of sessionsOpen) sess.destroy() // the socket goes away under the streams
    const errs = await Promise.all(reqs)
    for (const e of errs) {
      expect(e).toBeInstanceOf(HyperError)
      expect(e.code).toMatch(/^(HYPER_ERROR|HYPER_UNEXPECTED_EOF|ECONNRESET|ERR_CONNECTION_CLOSED)$/)
    }
    await new Promise<void>((resolve) => s.close(() => resolve()))
  })
})
