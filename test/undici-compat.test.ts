// undici's public API (request, stream, pipeline, fetch, interceptors, setGlobalDispatcher) run
// against real node:http servers twice: through node-hyper's HyperDispatcher and through
// undici's own Agent. Every assertion holds for both, so any observable difference fails.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createRequire } from 'node:module'
import http from 'node:http'
import https from 'node:https'
import http2 from 'node:http2'
import net from 'node:net'
import crypto from 'node:crypto'
import dc from 'node:diagnostics_channel'
import { Readable, Writable } from 'node:stream'
import { pipeline as pipe } from 'node:stream/promises'
import * as undici from 'undici'
import { HyperDispatcher } from '../dist/esm/index.mjs'
import { httpServer, rawServer, deadPort, pattern, readAll } from './helpers'
import { makePki, type TestPki, type Pair } from './tls-certs'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const sha = (b: Uint8Array | string) => crypto.createHash('sha256').update(b).digest('hex')

type AnyDispatcher = undici.Dispatcher

// The suite runs against undici 7 (npm test) and 8 (npm run test:undici8). Where undici's own
// Agent changed between the majors, its expectations follow the installed major.
const undiciMajor = Number((createRequire(import.meta.url)('undici/package.json') as { version: string }).version.split('.')[0])

/** The server's view of each big response: bytes handed to the socket so far. */
const progress = new Map<string, { written: number, done: boolean }>()
/** Requests seen per key (retry tests). */
const hits = new Map<string, number>()
/** Requests the server saw close before their response ended. */
const closedEarly = new Set<string>()

function handler (req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, 'http://x')
  const q = url.searchParams
  switch (url.pathname) {
    case '/echo':
      readAll(req).then((body) => {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({
          method: req.method,
          url: req.url,
          length: body.length,
          sha: sha(body),
          contentLength: req.headers['content-length'] ?? null,
          transferEncoding: req.headers['transfer-encoding'] ?? null,
          contentType: req.headers['content-type'] ?? null,
          xOne: req.headers['x-one'] ?? null,
          xTwo: req.headers['x-two'] ?? null,
          host: req.headers.host,
        }))
      }, () => {}) // the client gave up mid-upload
      return
    case '/form':
      readAll(req).then(async (body) => {
        const form = await new Response(body, { headers: { 'content-type': req.headers['content-type']! } }).formData()
        const file = form.get('file') as Blob
        res.end(JSON.stringify({ field: form.get('field'), file: await file.text(), fileType: file.type }))
      }).catch((err: Error) => { res.statusCode = 400; res.end(err.message) })
      return
    case '/headers':
      res.writeHead(201, 'Made It', [
        ['Content-Type', 'text/plain; charset=utf-8'],
        ['Set-Cookie', 'a=1'],
        ['Set-Cookie', 'b=2'],
        ['X-Multi', 'one'],
        ['X-Multi', 'two'],
        ['X-Latin1', 'caf\u00e9'],
        ['Content-Length', '7'],
      ].flat() as unknown as http.OutgoingHttpHeaders)
      res.end('headers')
      return
    case '/empty':
      res.statusCode = 204
      res.end()
      return
    case '/redirect': {
      const n = Number(q.get('n'))
      if (n > 0) {
        res.writeHead(302, { location: `/redirect?n=${n - 1}` })
        res.end('moving')
      } else {
        res.end(`arrived ${req.method}`)
      }
      return
    }
    case '/reset':
      // Reads the request, then drops the connection without an answer (a sent request fails).
      hits.set(q.get('id')!, (hits.get(q.get('id')!) ?? 0) + 1)
      req.socket.destroy()
      return
    case '/close':
      res.setHeader('connection', 'close')
      res.end('closing')
      return
    case '/see-other':
      void readAll(req).then(() => { res.writeHead(303, { location: '/echo' }); res.end() })
      return
    case '/flaky': {
      const id = q.get('id')!
      const n = (hits.get(id) ?? 0) + 1
      hits.set(id, n)
      if (n <= Number(q.get('fail'))) {
        res.statusCode = 503
        res.end('try again')
      } else {
        res.end(`ok after ${n}`)
      }
      return
    }
    case '/slow-head':
      setTimeout(() => { if (!res.destroyed) res.end('late') }, Number(q.get('ms'))).unref()
      return
    case '/stall-body':
      res.writeHead(200, { 'content-length': '100' })
      res.write('partial')
      return
    case '/cut':
      res.writeHead(200, { 'content-length': '100000' })
      res.write(Buffer.alloc(1000, 1), () => setTimeout(() => res.socket?.destroy(), 20))
      return
    case '/hang':
      res.on('close', () => { if (!res.writableFinished) closedEarly.add(q.get('id') ?? '') })
      return
    case '/pipe':
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      req.pipe(res)
      return
    case '/big': {
      const id = q.get('id')!
      const size = Number(q.get('size'))
      const data = pattern(size)
      const p = { written: 0, done: false }
      progress.set(id, p)
      res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' })
      const step = 64 * 1024
      const write = (): void => {
        while (p.written < size) {
          const chunk = data.subarray(p.written, p.written + step)
          p.written += chunk.length
          if (!res.write(chunk)) {
            res.once('drain', write)
            return
          }
        }
        p.done = true
        res.end()
      }
      write()
      return
    }
    default:
      res.statusCode = 404
      res.end('not found')
  }
}

let srv: Awaited<ReturnType<typeof httpServer>>
let base: string
beforeAll(async () => {
  srv = await httpServer(handler)
  base = `http://127.0.0.1:${srv.port}`
})
afterAll(async () => {
  await srv.close()
})

const implementations: Array<[string, () => AnyDispatcher, (ca: string) => AnyDispatcher]> = [
  ['node-hyper HyperDispatcher', () => new HyperDispatcher() as unknown as AnyDispatcher,
    // undici's own `connect` TLS options, unchanged (the drop-in promise).
    (ca) => new HyperDispatcher({ connect: { ca } }) as unknown as AnyDispatcher],
  ['undici Agent', () => new undici.Agent(), (ca) => new undici.Agent({ connect: { ca } })],
]

let pki: TestPki
async function httpsServer (pair: Pair): Promise<{ origin: string, close: () => Promise<void> }> {
  const server = https.createServer({ ...pair }, handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    origin: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}

/** Open connections the dispatcher holds to `origin`, read from its own counters. */
function connectedTo (d: AnyDispatcher, origin: string): number {
  if (d instanceof HyperDispatcher) return (d as HyperDispatcher).agent.pool(origin).stats.connected
  const stats = (d as undici.Agent).stats as Record<string, { connected: number }>
  return stats[origin]?.connected ?? 0
}

describe.each(implementations)('undici API through %s', (label, make, makeTls) => {
  const name = label.replace(/\W+/g, '-')
  let d: AnyDispatcher
  beforeAll(() => { d = make() })
  afterAll(async () => { if (!d.destroyed) await d.close() })

  it('request(): status, status text, headers, body', async () => {
    const res = await undici.request(`${base}/headers`, { dispatcher: d })
    expect(res.statusCode).toBe(201)
    expect(res.statusText).toBe('Made It')
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2'])
    expect(res.headers['x-multi']).toEqual(['one', 'two'])
    expect(res.headers['x-latin1']).toBe(Buffer.from('caf\u00e9').toString('latin1')) // both decode header bytes as latin1
    expect(res.headers['content-length']).toBe('7')
    expect(await res.body.text()).toBe('headers')
  })

  it('request(): query, header forms (object, flat array, Map) and Host', async () => {
    const forms: unknown[] = [
      { 'x-one': '1', 'X-Two': ['a', 'b'] },
      ['x-one', '1', 'X-Two', 'a', 'x-two', 'b'],
      new Map([['x-one', '1'], ['x-two', 'a, b']]),
    ]
    for (const headers of forms) {
      const res = await undici.request(`${base}/echo`, {
        dispatcher: d, query: { q: 'a b', n: [1, 2] }, headers: headers as Record<string, string>,
      })
      const seen = await res.body.json() as Record<string, unknown>
      expect(seen).toMatchObject({ method: 'GET', url: '/echo?q=a%20b&n=1&n=2', xOne: '1', xTwo: 'a, b', host: `127.0.0.1:${srv.port}` })
    }
  })

  it('request(): HEAD and 204 have empty bodies', async () => {
    const head = await undici.request(`${base}/headers`, { dispatcher: d, method: 'HEAD' })
    expect(head.statusCode).toBe(201)
    expect(head.headers['content-length']).toBe('7')
    expect(await head.body.text()).toBe('')
    const empty = await undici.request(`${base}/empty`, { dispatcher: d })
    expect(empty.statusCode).toBe(204)
    expect(await empty.body.text()).toBe('')
  })

  it('request(): POST bodies (string, Buffer, Uint8Array, null, Readable, async iterable, Blob)', async () => {
    const big = pattern(1024 * 1024 + 17)
    const cases: Array<[string, () => unknown, Buffer, string | null, string | null]> = [
      ['string', () => 'h\u00e9llo', Buffer.from('h\u00e9llo'), '6', null],
      ['Buffer', () => big, big, String(big.length), null],
      ['Uint8Array', () => new Uint8Array([1, 2, 3]), Buffer.from([1, 2, 3]), '3', null],
      ['null', () => null, Buffer.alloc(0), '0', null],
      ['Readable', () => Readable.from([big.subarray(0, 1000), big.subarray(1000)], { objectMode: false }), big, null, 'chunked'],
      ['async iterable', () => (async function * () { yield big.subarray(0, 5); await sleep(5); yield big.subarray(5) })(), big, null, 'chunked'],
      ['Blob', () => new Blob([big.subarray(0, 5000)], { type: 'application/x-blob' }), big.subarray(0, 5000), '5000', null],
    ]
    for (const [label, body, expected, contentLength, te] of cases) {
      const res = await undici.request(`${base}/echo`, { dispatcher: d, method: 'POST', body: body() as string })
      const seen = await res.body.json() as Record<string, unknown>
      expect({ label, ...seen }).toMatchObject({ label, method: 'POST', length: expected.length, sha: sha(expected), contentLength, transferEncoding: te })
    }
  })

  it('request(): FormData bodies are sent as multipart/form-data', async () => {
    const fd = new undici.FormData()
    fd.append('field', 'value-1')
    fd.append('file', new Blob(['file contents'], { type: 'text/plain' }), 'a.txt')
    const res = await undici.request(`${base}/form`, { dispatcher: d, method: 'POST', body: fd })
    // (the framing differs: undici computes a Content-Length, node-hyper sends it chunked)
    expect(res.statusCode).toBe(200)
    expect(await res.body.json()).toEqual({ field: 'value-1', file: 'file contents', fileType: 'text/plain' })
  })

  it('request(): a failing request body stream fails the request with its error', async () => {
    const body = new Readable({ read () {} })
    body.push('start')
    setTimeout(() => body.destroy(new Error('source broke')), 20)
    const err = await undici.request(`${base}/echo`, { dispatcher: d, method: 'POST', body }).then(() => null, (e: Error) => e)
    expect(err?.message).toBe('source broke')
  })

  it('stream(): a Writable per response', async () => {
    const chunks: Buffer[] = []
    const data = await undici.stream(`${base}/big?id=stream-${name}&size=${3 * 1024 * 1024}`, { dispatcher: d, opaque: { tag: 'x' } },
      ({ statusCode, headers, opaque }) => {
        expect(statusCode).toBe(200)
        expect(headers['content-type']).toBe('application/octet-stream')
        expect(opaque).toEqual({ tag: 'x' })
        return new Writable({ write (c, _e, cb) { chunks.push(c); cb() } })
      })
    expect(data.opaque).toEqual({ tag: 'x' })
    expect(sha(Buffer.concat(chunks))).toBe(sha(pattern(3 * 1024 * 1024)))
  })

  it('pipeline(): request body in, response body out (full duplex)', async () => {
    const payload = pattern(2 * 1024 * 1024, 3)
    const out: Buffer[] = []
    await pipe(
      Readable.from([payload.subarray(0, 700_000), payload.subarray(700_000)], { objectMode: false }),
      undici.pipeline(`${base}/pipe`, { dispatcher: d, method: 'POST' }, ({ statusCode, body }) => {
        expect(statusCode).toBe(200)
        return body
      }),
      new Writable({ write (c, _e, cb) { out.push(c); cb() } }),
    )
    expect(sha(Buffer.concat(out))).toBe(sha(payload))
  })

  it('fetch(): JSON, POST with a streamed body, redirects followed and manual', async () => {
    const j = await undici.fetch(`${base}/echo?x=1`, { dispatcher: d, headers: { 'x-one': 'f' } })
    expect(j.status).toBe(200)
    expect(j.headers.get('content-type')).toBe('application/json')
    expect(await j.json()).toMatchObject({ method: 'GET', url: '/echo?x=1', xOne: 'f' })

    const payload = pattern(300_000, 11)
    const post = await undici.fetch(`${base}/echo`, {
      dispatcher: d, method: 'POST', duplex: 'half',
      body: new ReadableStream({ start (c) { c.enqueue(payload.subarray(0, 1000)); c.enqueue(payload.subarray(1000)); c.close() } }),
    } as undici.RequestInit)
    expect(await post.json()).toMatchObject({ method: 'POST', length: payload.length, sha: sha(payload), transferEncoding: 'chunked' })

    const followed = await undici.fetch(`${base}/redirect?n=3`, { dispatcher: d })
    expect(followed.status).toBe(200)
    expect(followed.redirected).toBe(true)
    expect(followed.url).toBe(`${base}/redirect?n=0`)
    expect(await followed.text()).toBe('arrived GET')

    const manual = await undici.fetch(`${base}/redirect?n=1`, { dispatcher: d, redirect: 'manual' })
    expect(manual.status).toBe(302)
    expect(manual.headers.get('location')).toBe('/redirect?n=0')
    expect(await manual.text()).toBe('moving')

    // 303 after a POST: the body is dropped and the method becomes GET
    const seeOther = await undici.fetch(`${base}/see-other`, { dispatcher: d, method: 'POST', body: 'x'.repeat(100) })
    expect(await seeOther.json()).toMatchObject({ method: 'GET', length: 0 })
  })

  it('setGlobalDispatcher(): undici.request and Node\'s built-in fetch use it', async () => {
    const previous = undici.getGlobalDispatcher()
    const own = make()
    const origin = base
    try {
      undici.setGlobalDispatcher(own)
      expect(connectedTo(own, origin)).toBe(0)
      const r = await undici.request(`${origin}/echo?via=request`)
      expect((await r.body.json() as { url: string }).url).toBe('/echo?via=request')
      // globalThis.fetch is Node's bundled undici; it reads the same global dispatcher slot.
      const f = await globalThis.fetch(`${origin}/echo?via=builtin`)
      expect((await f.json() as { url: string }).url).toBe('/echo?via=builtin')
      expect(connectedTo(own, origin)).toBeGreaterThanOrEqual(1)
    } finally {
      undici.setGlobalDispatcher(previous)
      await own.close()
    }
  })

  it('compose(): retry interceptor retries 503s; redirect interceptor follows', async () => {
    const id = `${name}-${Math.random()}`
    const retrying = d.compose(undici.interceptors.retry({ maxRetries: 3, minTimeout: 5, maxTimeout: 20, throwOnError: false }))
    const res = await undici.request(`${base}/flaky?id=${encodeURIComponent(id)}&fail=2`, { dispatcher: retrying })
    expect(res.statusCode).toBe(200)
    expect(await res.body.text()).toBe('ok after 3')
    expect(hits.get(id)).toBe(3)

    const both = d.compose(undici.interceptors.retry({ maxRetries: 1, minTimeout: 5 }), undici.interceptors.redirect({ maxRedirections: 3 }))
    const red = await undici.request(`${base}/redirect?n=2`, { dispatcher: both })
    expect(red.statusCode).toBe(200)
    expect(await red.body.text()).toBe('arrived GET')
    expect(red.context).toMatchObject({ history: [new URL(`${base}/redirect?n=2`), new URL(`${base}/redirect?n=1`), new URL(`${base}/redirect?n=0`)] })
  })

  it('compose(): retry interceptor on a refused connection gives up with ECONNREFUSED', async () => {
    const port = await deadPort()
    const retrying = d.compose(undici.interceptors.retry({ maxRetries: 2, minTimeout: 5, maxTimeout: 10 }))
    const err = await undici.request(`http://127.0.0.1:${port}/`, { dispatcher: retrying }).then(() => null, (e: NodeJS.ErrnoException) => e)
    expect(err?.code).toBe('ECONNREFUSED')
  })

  it('connection refused: the errno error', async () => {
    const port = await deadPort()
    const err = await undici.request(`http://127.0.0.1:${port}/`, { dispatcher: d }).then(() => null, (e: NodeJS.ErrnoException) => e)
    expect(err?.code).toBe('ECONNREFUSED')
    expect(err?.syscall).toBe('connect')
    const ferr = await undici.fetch(`http://127.0.0.1:${port}/`, { dispatcher: d }).then(() => null, (e: Error) => e)
    expect(ferr).toBeInstanceOf(TypeError)
    expect((ferr?.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED')
  })

  it('headersTimeout and bodyTimeout: undici\'s timeout errors', async () => {
    const h = await undici.request(`${base}/slow-head?ms=3000`, { dispatcher: d, headersTimeout: 150 }).then(() => null, (e: Error) => e)
    expect(h).toBeInstanceOf(undici.errors.HeadersTimeoutError)
    expect((h as NodeJS.ErrnoException).code).toBe('UND_ERR_HEADERS_TIMEOUT')

    const res = await undici.request(`${base}/stall-body`, { dispatcher: d, bodyTimeout: 150 })
    expect(res.statusCode).toBe(200)
    const b = await res.body.text().then(() => null, (e: Error) => e)
    expect(b).toBeInstanceOf(undici.errors.BodyTimeoutError)
    expect((b as NodeJS.ErrnoException).code).toBe('UND_ERR_BODY_TIMEOUT')
  })

  it('server closes mid-body: the body fails with a SocketError', async () => {
    const res = await undici.request(`${base}/cut`, { dispatcher: d })
    const err = await res.body.arrayBuffer().then(() => null, (e: Error) => e)
    expect(err).toBeInstanceOf(undici.errors.SocketError)
    expect((err as NodeJS.ErrnoException).code).toBe('UND_ERR_SOCKET')
  })

  it('abort: before the head (signal reason) and mid-body; the server sees the close', async () => {
    const id = `${name}-abort-head`
    const ac = new AbortController()
    const p = undici.request(`${base}/hang?id=${encodeURIComponent(id)}`, { dispatcher: d, signal: ac.signal })
    setTimeout(() => ac.abort(), 50)
    const err = await p.then(() => null, (e: Error) => e)
    expect(err?.name).toBe('AbortError')
    for (let i = 0; i < 100 && !closedEarly.has(id); i++) await sleep(10)
    expect(closedEarly.has(id)).toBe(true)

    const reason = new Error('enough')
    const ac2 = new AbortController()
    const res = await undici.request(`${base}/big?id=abort-${name}&size=${32 * 1024 * 1024}`, { dispatcher: d, signal: ac2.signal })
    const it = res.body[Symbol.asyncIterator]()
    await it.next()
    ac2.abort(reason)
    const err2 = await (async () => { for (;;) { const r = await it.next(); if (r.done) return null } })().catch((e: Error) => e)
    expect(err2).toBe(reason)

    const ac3 = new AbortController()
    const fp = undici.fetch(`${base}/hang?id=f`, { dispatcher: d, signal: ac3.signal })
    setTimeout(() => ac3.abort(), 30)
    const ferr = await fp.then(() => null, (e: Error) => e)
    expect(ferr?.name).toBe('AbortError')
  })

  it('backpressure: a paused response body stops the server, and the whole body arrives after resuming', async () => {
    const size = 64 * 1024 * 1024
    const id = `bp-${name}`
    const res = await undici.request(`${base}/big?id=${id}&size=${size}`, { dispatcher: d })
    const it = res.body[Symbol.asyncIterator]()
    const first = await it.next()
    const received: Buffer[] = [first.value as Buffer]
    await sleep(400)
    const p = progress.get(id)!
    // Socket buffers on loopback hold a few MiB; everything else must wait for the reader.
    expect(p.done).toBe(false)
    expect(p.written).toBeLessThan(size / 2)
    for (;;) {
      const r = await it.next()
      if (r.done) break
      received.push(r.value as Buffer)
    }
    expect(sha(Buffer.concat(received))).toBe(sha(pattern(size)))
  })

  it('dispatch(): old-style onHeaders gets every raw name and value as its own Buffer, byte for byte', async () => {
    if (undiciMajor >= 8 && !(d instanceof HyperDispatcher)) return // undici 8 has no old-style handlers
    const head = 'HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Latin: caf\xe9\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 2\r\n\r\nok'
    const raw = await rawServer((s) => s.write(Buffer.from(head, 'latin1')))
    try {
      const got = await new Promise<Buffer[]>((resolve, reject) => {
        let headers: Buffer[] = []
        d.dispatch({ origin: `http://127.0.0.1:${raw.port}`, path: '/', method: 'GET' }, {
          onConnect () {},
          onHeaders (_status: number, rawHeaders: Buffer[]) { headers = rawHeaders.map((b) => Buffer.from(b)); return true },
          onData () { return true },
          onComplete () { resolve(headers) },
          onError: reject,
        } as unknown as undici.Dispatcher.DispatchHandler)
      })
      expect(got.every((b) => Buffer.isBuffer(b))).toBe(true)
      expect(got.map((b) => b.toString('latin1'))).toEqual(['X-Empty', '', 'X-Latin', 'caf\xe9', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'Content-Length', '2'])
    } finally {
      await raw.close()
    }
  })

  it('dispatch(): old-style handler pauses with onData() === false and resumes with resume()', async () => {
    if (undiciMajor >= 8 && !(d instanceof HyperDispatcher)) {
      // undici 8 dropped old-style handlers (onConnect/onHeaders/onData/onComplete/onError);
      // HyperDispatcher keeps accepting them.
      expect(() => d.dispatch({ origin: base, path: '/', method: 'GET' }, { onError () {} } as unknown as undici.Dispatcher.DispatchHandler))
        .toThrow(/invalid onRequestStart method/)
      return
    }
    const size = 32 * 1024 * 1024
    const id = `old-${name}`
    const events: string[] = []
    const hash = crypto.createHash('sha256')
    let resume: (() => void) | null = null
    let pausedOnce = false
    let pausedAt = -1
    let received = 0
    const done = new Promise<void>((resolve, reject) => {
      d.dispatch({ origin: base, path: `/big?id=${id}&size=${size}`, method: 'GET' }, {
        onConnect () { events.push('connect') },
        onHeaders (status: number, raw: Buffer[], r: () => void, text: string) {
          events.push(`headers ${status} ${text}`)
          expect(raw.every((x) => Buffer.isBuffer(x))).toBe(true)
          expect(raw.map(String)).toContain('content-length')
          resume = r
          return true
        },
        onData (chunk: Buffer) {
          received += chunk.length
          hash.update(chunk)
          if (!pausedOnce) {
            pausedOnce = true
            pausedAt = received
            setTimeout(() => {
              events.push(`paused server=${progress.get(id)!.written < size / 2 ? 'waiting' : 'ran on'} client=${received === pausedAt ? 'still' : 'moved'}`)
              resume!()
            }, 400)
            return false
          }
          return true
        },
        onComplete (trailers: Buffer[]) { events.push(`complete ${trailers.length}`); resolve() },
        onError: reject,
      } as unknown as undici.Dispatcher.DispatchHandler)
    })
    await done
    expect(events).toEqual(['connect', 'headers 200 OK', 'paused server=waiting client=still', 'complete 0'])
    expect(received).toBe(size)
    expect(hash.digest('hex')).toBe(sha(pattern(size)))
  })

  it('dispatch(): new-style handler with controller.pause()/resume()/abort()', async () => {
    const size = 32 * 1024 * 1024
    const id = `new-${name}`
    const events: string[] = []
    let received = 0
    let pausedAt = -1
    const done = new Promise<void>((resolve, reject) => {
      d.dispatch({ origin: base, path: `/big?id=${id}&size=${size}`, method: 'GET' }, {
        onRequestStart () { events.push('start') },
        onResponseStart (_c: undici.Dispatcher.DispatchController, status: number, headers: Record<string, string>) {
          events.push(`start ${status} ${headers['content-length']}`)
        },
        onResponseData (c: undici.Dispatcher.DispatchController, chunk: Buffer) {
          received += chunk.length
          if (pausedAt < 0) {
            pausedAt = received
            c.pause()
            setTimeout(() => {
              events.push(`paused ${c.paused} server=${progress.get(id)!.written < size / 2 ? 'waiting' : 'ran on'} client=${received === pausedAt ? 'still' : 'moved'}`)
              c.resume()
            }, 400)
          }
        },
        onResponseEnd () { events.push('end'); resolve() },
        onResponseError (_c: unknown, err: Error) { reject(err) },
      } as unknown as undici.Dispatcher.DispatchHandler)
    })
    await done
    expect(events).toEqual(['start', `start 200 ${size}`, 'paused true server=waiting client=still', 'end'])
    expect(received).toBe(size)

    const reason = new Error('stop here')
    const err = await new Promise<unknown>((resolve) => {
      d.dispatch({ origin: base, path: `/big?id=${id}-abort&size=${size}`, method: 'GET' }, {
        onRequestStart () {},
        onResponseStart () {}, // required by undici 8
        onResponseData (c: undici.Dispatcher.DispatchController) { c.abort(reason) },
        onResponseEnd () { resolve('ended') },
        onResponseError (_c: unknown, e: Error) { resolve(e) },
      } as unknown as undici.Dispatcher.DispatchHandler)
    })
    expect(err).toBe(reason)
  })

  it('dispatch(): a handler callback that throws ends the request with what it threw, in both handler styles', async () => {
    const size = 1024 * 1024
    // One request per case; `events` records what the handler heard after its callback threw.
    const run = (id: string, handler: (thrown: Error, events: string[], settle: () => void) => Record<string, unknown>) => {
      const thrown = new Error(`thrown in ${id}`)
      const events: string[] = []
      return new Promise<{ events: string[], thrown: Error }>((resolve) => {
        const settle = () => setTimeout(() => resolve({ events, thrown }), 50) // anything after the error shows
        d.dispatch({ origin: base, path: `/big?id=throw-${id}-${name}&size=${size}`, method: 'GET' },
          handler(thrown, events, settle) as unknown as undici.Dispatcher.DispatchHandler)
      })
    }
    const heard = (err: Error, thrown: Error) => err === thrown ? 'error: thrown' : `error: ${err.message}`
    // Old style: `at` throws; a callback reached after it shows in the events.
    const legacy = (at: 'onHeaders' | 'onData') => run(at, (thrown, events, settle) => ({
      onConnect () {},
      onHeaders () { if (at === 'onHeaders') { events.push('headers'); throw thrown } return true },
      onData () { events.push('data'); if (at === 'onData') throw thrown; return true },
      onComplete () { events.push('complete') },
      onError (err: Error) { events.push(heard(err, thrown)); settle() },
    }))
    const modern = (at: 'onResponseStart' | 'onResponseData') => run(at, (thrown, events, settle) => ({
      onRequestStart () {},
      onResponseStart () { if (at === 'onResponseStart') { events.push('start'); throw thrown } },
      onResponseData () { events.push('data'); if (at === 'onResponseData') throw thrown },
      onResponseEnd () { events.push('end') },
      onResponseError (_c: unknown, err: Error) { events.push(heard(err, thrown)); settle() },
    }))
    const cases = [
      modern('onResponseStart').then(({ events }) => { expect(events).toEqual(['start', 'error: thrown']) }),
      modern('onResponseData').then(({ events }) => { expect(events).toEqual(['data', 'error: thrown']) }),
    ]
    if (!(undiciMajor >= 8 && !(d instanceof HyperDispatcher))) { // undici 8 has no old-style handlers
      cases.push(legacy('onHeaders').then(({ events }) => { expect(events).toEqual(['headers', 'error: thrown']) }))
      cases.push(legacy('onData').then(({ events }) => { expect(events).toEqual(['data', 'error: thrown']) }))
    }
    await Promise.all(cases)
    // The dispatcher goes on serving.
    const res = await undici.request(`${base}/headers`, { dispatcher: d })
    expect(res.statusCode).toBe(201)
    expect(await res.body.text()).toBe('headers')
  })

  it('https: request, POST, fetch through TLS; certificate errors carry Node\'s codes', async () => {
    pki ??= makePki()
    const good = await httpsServer(pki.good)
    const tlsD = makeTls(pki.ca)
    try {
      const r = await undici.request(`${good.origin}/headers`, { dispatcher: tlsD })
      expect(r.statusCode).toBe(201)
      expect(await r.body.text()).toBe('headers')
      const payload = pattern(500_000, 9)
      const p = await undici.request(`${good.origin}/echo`, { dispatcher: tlsD, method: 'POST', body: Readable.from([payload], { objectMode: false }) })
      expect(await p.body.json()).toMatchObject({ length: payload.length, sha: sha(payload), transferEncoding: 'chunked' })
      const f = await undici.fetch(`${good.origin}/redirect?n=2`, { dispatcher: tlsD })
      expect(f.url).toBe(`${good.origin}/redirect?n=0`)
      expect(await f.text()).toBe('arrived GET')
    } finally {
      await tlsD.close()
      await good.close()
    }
    for (const [pair, code] of [[pki.untrusted, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'], [pki.expired, 'CERT_HAS_EXPIRED'], [pki.wrongHost, 'ERR_TLS_CERT_ALTNAME_INVALID']] as const) {
      const bad = await httpsServer(pair)
      const dd = makeTls(pki.ca)
      try {
        const err = await undici.request(`${bad.origin}/echo`, { dispatcher: dd }).then(() => null, (e: NodeJS.ErrnoException) => e)
        expect(err?.code).toBe(code)
      } finally {
        await dd.close()
        await bad.close()
      }
    }
  })

  it('diagnostics_channel: undici\'s request and client channels, in order, with undici\'s message shapes', async () => {
    const names = ['undici:request:create', 'undici:client:sendHeaders', 'undici:request:headers', 'undici:request:trailers', 'undici:request:error',
      'undici:client:beforeConnect', 'undici:client:connected', 'undici:client:connectError']
    const seen: Array<[string, any]> = [] // eslint-disable-line @typescript-eslint/no-explicit-any
    const mine = `/echo?diag=${name}`
    const dead = await deadPort()
    // What consumers read of `socket`, read when published (undici's is a net.Socket: closed later, it forgets its peer).
    const peer = (sock: { remoteAddress?: string, remotePort?: number, localPort?: number }) => ({ remoteAddress: sock.remoteAddress, remotePort: sock.remotePort, local: typeof sock.localPort })
    const subs = names.map((n) => {
      const fn = (m: any): void => { // eslint-disable-line @typescript-eslint/no-explicit-any
        const p = m.request?.path ?? m.connectParams?.port
        if (p === mine || p === `/dead-${name}` || p === String(srv.port) || p === String(dead)) {
          if (m.socket) m.peer ??= peer(m.socket) // eslint-disable-line @typescript-eslint/no-unsafe-member-access
          seen.push([n, m])
        }
        if (n === 'undici:request:create' && m.request.path === mine) m.request.addHeader('x-one', 'from-create')
      }
      dc.subscribe(n, fn)
      return () => dc.unsubscribe(n, fn)
    })
    const own = make()
    try {
      const res = await undici.request(`${base}${mine}`, { dispatcher: own, headers: { 'x-two': 'caller' } })
      // The header added in `create` went on the wire.
      expect(await res.body.json()).toMatchObject({ xOne: 'from-create', xTwo: 'caller' })
      const err = await undici.request(`http://127.0.0.1:${dead}/dead-${name}`, { dispatcher: own }).then(() => null, (e: NodeJS.ErrnoException) => e)
      expect(err?.code).toBe('ECONNREFUSED')
    } finally {
      for (const off of subs) off()
      await own.close()
    }
    const ok = seen.filter(([, m]) => m.request?.path === mine || m.connectParams?.port === String(srv.port))
    expect(ok.map(([n]) => n)).toEqual(['undici:request:create', 'undici:client:beforeConnect', 'undici:client:connected',
      'undici:client:sendHeaders', 'undici:request:headers', 'undici:request:trailers'])
    const msg = Object.fromEntries(ok)
    const request = msg['undici:request:create'].request
    expect(request).toMatchObject({ origin: base, method: 'GET', path: mine })
    expect(typeof request.addHeader).toBe('function')
    expect(request.headers).toEqual(expect.arrayContaining(['x-two', 'caller', 'x-one', 'from-create']))
    // One request object throughout, completed by the end.
    for (const n of ['undici:client:sendHeaders', 'undici:request:headers', 'undici:request:trailers']) expect(msg[n].request).toBe(request)
    expect(request.completed).toBe(true)
    expect(request.aborted).toBe(false)
    const sent = msg['undici:client:sendHeaders']
    expect(sent.headers).toMatch(new RegExp(`^GET ${mine.replace(/[?]/g, '\\?')} HTTP/1\\.1\r\n`))
    expect(sent.headers).toContain('x-one: from-create\r\n')
    // (undici hands over its net.Socket; node-hyper a description with the fields consumers read)
    expect(sent.peer).toEqual({ remoteAddress: '127.0.0.1', remotePort: srv.port, local: 'number' })
    const response = msg['undici:request:headers'].response
    expect(response).toMatchObject({ statusCode: 200, statusText: 'OK' })
    expect(response.headers.every((b: unknown) => Buffer.isBuffer(b))).toBe(true)
    expect(response.headers.map(String).map((x: string) => x.toLowerCase())).toContain('content-type')
    expect(msg['undici:request:trailers'].trailers).toEqual([])
    const params = { host: `127.0.0.1:${srv.port}`, hostname: '127.0.0.1', protocol: 'http:', port: String(srv.port), localAddress: null, servername: null }
    expect(msg['undici:client:beforeConnect'].connectParams).toMatchObject({ ...params, version: undefined })
    expect(msg['undici:client:connected'].connectParams).toMatchObject({ ...params, version: 'h1' })
    // One socket (description) per connection: the same object in connected and sendHeaders.
    expect(msg['undici:client:connected'].socket).toBe(sent.socket)
    expect(msg['undici:client:connected'].peer).toEqual({ remoteAddress: '127.0.0.1', remotePort: srv.port, local: 'number' })

    const failed = seen.filter(([, m]) => m.request?.path === `/dead-${name}` || m.connectParams?.port === String(dead))
    expect(failed.map(([n]) => n)).toEqual(['undici:request:create', 'undici:client:beforeConnect', 'undici:client:connectError', 'undici:request:error'])
    const f = Object.fromEntries(failed)
    expect(f['undici:client:connectError'].error.code).toBe('ECONNREFUSED')
    expect(f['undici:request:error'].error.code).toBe('ECONNREFUSED')
    expect(f['undici:request:error'].request).toBe(f['undici:request:create'].request)
    expect(f['undici:request:error'].request.aborted).toBe(true)
  })

  it('events: connect, disconnect, connectionError with (origin URL, targets, err); drain after a busy dispatch', async () => {
    const own = make() as AnyDispatcher & { stats: unknown }
    const events: Array<[string, URL, unknown[], Error | undefined]> = []
    for (const e of ['connect', 'disconnect', 'connectionError', 'drain']) own.on(e as 'connect', ((o: URL, t: unknown[], err?: Error) => events.push([e, o, t, err])) as never)
    try {
      await (await undici.request(`${base}/close`, { dispatcher: own })).body.text()
      for (let i = 0; i < 200 && !events.some(([e]) => e === 'disconnect'); i++) await sleep(5)
      const dead = await deadPort()
      await undici.request(`http://127.0.0.1:${dead}/`, { dispatcher: own }).catch(() => {})
      const byName = Object.fromEntries(events.map((x) => [x[0], x]))
      expect(Object.keys(byName).sort()).toEqual(['connect', 'connectionError', 'disconnect'])
      for (const [, origin, targets] of events) {
        expect(origin).toBeInstanceOf(URL)
        expect(targets[0]).toBe(own)
        expect(targets.length).toBeGreaterThanOrEqual(2)
      }
      expect(byName.connect![1].origin).toBe(base)
      expect(byName.disconnect![1].origin).toBe(base)
      expect(byName.disconnect![3]).toBeInstanceOf(Error)
      expect(byName.connectionError![1].origin).toBe(`http://127.0.0.1:${dead}`)
      expect((byName.connectionError![3] as NodeJS.ErrnoException).code).toBe('ECONNREFUSED')
    } finally {
      await own.close()
    }

    // One connection and more requests than it takes: dispatch() reports busy, 'drain' follows.
    const one = (label.startsWith('node-hyper') ? new HyperDispatcher({ connections: 1 }) : new undici.Agent({ connections: 1 })) as unknown as AnyDispatcher
    const drained = new Promise<[URL, unknown[]]>((resolve) => one.once('drain', (o: URL, t: unknown[]) => resolve([o, t])))
    const results: boolean[] = []
    const done: Promise<void>[] = []
    for (let i = 0; i < 4; i++) {
      done.push(new Promise<void>((resolve, reject) => {
        results.push(one.dispatch({ origin: base, path: `/echo?busy=${i}`, method: 'GET' }, {
          onRequestStart () {}, onResponseEnd: () => resolve(), onResponseError: (_c: unknown, e: Error) => reject(e),
        } as unknown as undici.Dispatcher.DispatchHandler))
      }))
    }
    try {
      expect(results).toContain(false)
      const [o, t] = await drained
      expect(o.origin).toBe(base)
      expect(t[0]).toBe(one)
      await Promise.all(done)
    } finally {
      await one.close()
    }
  })

  it('stats: { [origin]: { connected, free, pending, queued, running, size } }', async () => {
    const own = make() as AnyDispatcher & { stats: Record<string, unknown> }
    try {
      await (await undici.request(`${base}/echo?stats`, { dispatcher: own })).body.text()
      expect(own.stats[base]).toMatchObject({ connected: 1, pending: 0, queued: 0, running: 0, size: 0 })
      // (undici's Agent counts an idle client as not free once it was busy; node-hyper counts it free)
      if (label.startsWith('node-hyper')) expect(own.stats[base]).toMatchObject({ free: 1 })
      const p = undici.request(`${base}/slow-head?ms=300`, { dispatcher: own })
      await sleep(100)
      expect(own.stats[base]).toMatchObject({ running: 1, size: 1 })
      await (await p).body.text()
    } finally {
      await own.close()
    }
  })

  it('interceptors.dns() over HTTPS: the origin becomes an IP, the TLS name (SNI, verification) stays the host name', async () => {
    pki ??= makePki()
    // The certificate names only wrong.example: verifying against the IP would fail.
    const server = https.createServer({ ...pki.wrongHost }, (req, res) => {
      res.end(JSON.stringify({ sni: (req.socket as import('node:tls').TLSSocket).servername, host: req.headers.host }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    const lookups: string[] = []
    const tlsD = makeTls(pki.ca)
    const withDns = tlsD.compose(undici.interceptors.dns({
      dualStack: false,
      affinity: 4,
      lookup: (origin: URL, _opts: unknown, cb: (err: Error | null, addrs: Array<{ address: string, family: number }>) => void) => {
        lookups.push(origin.hostname)
        cb(null, [{ address: '127.0.0.1', family: 4 }]) // loopback only
      },
    } as never))
    try {
      for (let i = 0; i < 3; i++) {
        const res = await undici.request(`https://wrong.example:${port}/`, { dispatcher: withDns })
        expect(await res.body.json()).toEqual({ sni: 'wrong.example', host: `wrong.example:${port}` })
      }
      expect(lookups).toEqual(['wrong.example'])
      // Without the interceptor the IP origin is verified as the IP (and fails).
      const err = await undici.request(`https://127.0.0.1:${port}/`, { dispatcher: tlsD }).then(() => null, (e: NodeJS.ErrnoException) => e)
      expect(err?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
    } finally {
      await tlsD.close()
      await new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
    }
  })

  it('retries compose: a GET whose connection is reset reaches the server 1 + maxRetries times under the retry interceptor', async () => {
    const own = make()
    try {
      const id = `${name}-reset-plain`
      const err = await undici.request(`${base}/reset?id=${id}`, { dispatcher: own }).then(() => null, (e: Error) => e)
      expect(err).toBeInstanceOf(Error)
      expect(hits.get(id)).toBe(1)
      const rid = `${name}-reset-retry`
      const retrying = own.compose(undici.interceptors.retry({ maxRetries: 2, minTimeout: 5, maxTimeout: 10 }))
      const rerr = await undici.request(`${base}/reset?id=${rid}`, { dispatcher: retrying }).then(() => null, (e: Error) => e)
      expect(rerr).toBeInstanceOf(Error)
      expect(hits.get(rid)).toBe(3)
    } finally {
      await own.close()
    }
  })

  it('close() and destroy(): flags, closed errors, in-flight requests fail with the destroy error', async () => {
    const own = make()
    const r = await undici.request(`${base}/echo`, { dispatcher: own })
    await r.body.dump()
    const closing = own.close()
    expect(own.closed).toBe(true)
    await closing
    expect(own.destroyed).toBe(true)
    const err = await undici.request(`${base}/echo`, { dispatcher: own }).then(() => null, (e: NodeJS.ErrnoException) => e)
    expect(err?.code).toMatch(/^UND_ERR_(CLOSED|DESTROYED)$/)

    const other = make()
    const pending = undici.request(`${base}/hang?id=destroy-${name}`, { dispatcher: other }).then(() => null, (e: Error) => e)
    await sleep(50)
    const boom = new Error('shutting down')
    await other.destroy(boom)
    expect(other.destroyed).toBe(true)
    expect(await pending).toBe(boom)
    const after = await undici.request(`${base}/echo`, { dispatcher: other }).then(() => null, (e: NodeJS.ErrnoException) => e)
    expect(after).toBeInstanceOf(undici.errors.ClientDestroyedError)
  })
})

describe('HyperDispatcher specifics', () => {
  it('accepts an array of [name, value] pairs (undici only takes flat arrays) and reports invalid input through onError', async () => {
    const d = new HyperDispatcher()
    const res = await undici.request(`${base}/echo`, { dispatcher: d as unknown as AnyDispatcher, headers: [['x-one', '1'], ['x-two', '2']] as unknown as string[] })
    expect(await res.body.json()).toMatchObject({ xOne: '1', xTwo: '2' })
    const bad = await undici.request(`${base}/echo`, { dispatcher: d as unknown as AnyDispatcher, headers: { 'transfer-encoding': 'chunked' } }).then(() => null, (e: Error) => e)
    expect(bad).toBeInstanceOf(undici.errors.InvalidArgumentError)
    const up = await undici.request(`${base}/echo`, { dispatcher: d as unknown as AnyDispatcher, upgrade: 'websocket' } as never).then(() => null, (e: Error) => e)
    expect((up as NodeJS.ErrnoException)?.code).toMatch(/UND_ERR_(NOT_SUPPORTED|INVALID_ARG)/)
    await d.close()
  })

  it('servername: an invalid one fails the request through its handler (InvalidArgumentError)', async () => {
    const d = new HyperDispatcher()
    try {
      for (const servername of [42, '']) {
        const err = await undici.request(`https://127.0.0.1:${srv.port}/`, { dispatcher: d as unknown as AnyDispatcher, servername } as never).then(() => null, (e: Error) => e)
        expect(err).toBeInstanceOf(undici.errors.InvalidArgumentError)
      }
    } finally {
      await d.close()
    }
  })

  it('retries: opting in to the pool\'s own retry (retries: 1) doubles what the server sees under a retry interceptor', async () => {
    const d = new HyperDispatcher({ retries: 1 })
    try {
      const id = `pool-retry-${Math.random()}`
      await undici.request(`${base}/reset?id=${id}`, { dispatcher: d as unknown as AnyDispatcher }).catch(() => {})
      expect(hits.get(id)).toBe(2)
      const rid = `pool-retry-interceptor-${Math.random()}`
      const retrying = (d as unknown as AnyDispatcher).compose(undici.interceptors.retry({ maxRetries: 2, minTimeout: 5, maxTimeout: 10 }))
      await undici.request(`${base}/reset?id=${rid}`, { dispatcher: retrying }).catch(() => {})
      expect(hits.get(rid)).toBe(6)
    } finally {
      await d.close()
    }
  })

  it('keeps node-hyper\'s error as the cause of the undici error', async () => {
    const d = new HyperDispatcher()
    const err = await undici.request(`${base}/slow-head?ms=3000`, { dispatcher: d as unknown as AnyDispatcher, headersTimeout: 100 }).then(() => null, (e: Error) => e)
    expect((err?.cause as { code?: string })?.code).toBe('ERR_HEADERS_TIMEOUT')
    await d.close()
  })

  it('wraps a given Agent and reuses its connections (keep-alive across undici calls)', async () => {
    const d = new HyperDispatcher({ connections: 2 })
    const before = srv.connections()
    for (let i = 0; i < 20; i++) await (await undici.request(`${base}/echo?i=${i}`, { dispatcher: d as unknown as AnyDispatcher })).body.dump()
    expect(srv.connections() - before).toBe(1)
    expect(d.agent.pool(base).stats).toMatchObject({ connected: 1, running: 0, pending: 0 })
    await d.close()
    expect(d.agent.pool(base).stats.connected).toBe(0)
  })

  it('over TLS it negotiates HTTP/2 by ALPN (undici 7\'s Agent stays on HTTP/1.1 unless allowH2; undici 8\'s negotiates HTTP/2 too)', async () => {
    pki ??= makePki()
    const server = http2.createSecureServer({ ...pki.good, allowHTTP1: true }, (req, res) => { res.end(`http ${req.httpVersion}`) })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const origin = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`
    const d = new HyperDispatcher({ tls: { ca: pki.ca } })
    const u = new undici.Agent({ connect: { ca: pki.ca } })
    try {
      const bodies = await Promise.all(Array.from({ length: 10 }, async () => (await undici.request(`${origin}/`, { dispatcher: d as unknown as AnyDispatcher })).body.text()))
      expect(new Set(bodies)).toEqual(new Set(['http 2.0']))
      expect(d.agent.pool(origin).stats.connected).toBe(1)
      expect(await (await undici.request(`${origin}/`, { dispatcher: u })).body.text()).toBe(undiciMajor >= 8 ? 'http 2.0' : 'http 1.1')
    } finally {
      await d.close()
      await u.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it('Dispatcher methods: d.request() / d.stream() / d.pipeline() via undici', async () => {
    const d = new HyperDispatcher()
    const r = await d.request({ origin: base, path: '/echo', method: 'PUT', body: 'abc' }) as undici.Dispatcher.ResponseData
    expect(await r.body.json()).toMatchObject({ method: 'PUT', length: 3 })
    const composed = d.compose(undici.interceptors.redirect({ maxRedirections: 2 }))
    const r2 = await composed.request({ origin: base, path: '/redirect?n=1', method: 'GET' }) as undici.Dispatcher.ResponseData
    expect(await r2.body.text()).toBe('arrived GET')
    await d.close()
  })
})
