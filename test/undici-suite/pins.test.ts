// Differences found by running undici's own test suite with HyperDispatcher as the global
// dispatcher (npm run test:undici-suite; see RESULTS.md and README.md beside this file), each
// pinned as a small test. Every scenario runs twice: through undici's own Agent (the control,
// which passes) and through HyperDispatcher. Every fix named in README.md has landed, so these
// run with `npm test` (alone: npm run test:undici-pins).
//
// A scenario that hangs on HyperDispatcher is bounded by `settle()` (5 s for exchanges that
// take milliseconds) so that it fails instead of stalling the run.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import http from 'node:http'
import net from 'node:net'
import diagnosticsChannel from 'node:diagnostics_channel'
import * as undici from 'undici'
import { HyperDispatcher, Agent } from '../../dist/esm/index.mjs'
import { httpServer } from '../helpers'

type AnyDispatcher = undici.Dispatcher

const implementations: Array<[string, () => AnyDispatcher]> = [
  ['undici Agent', () => new undici.Agent()],
  ['HyperDispatcher', () => new HyperDispatcher() as unknown as AnyDispatcher],
]

const TIMEOUT = Symbol('timeout')
/** `p`, or TIMEOUT when it has not settled after `ms`. */
async function settle<T> (p: Promise<T>, ms = 5000): Promise<T | typeof TIMEOUT> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<typeof TIMEOUT>((resolve) => { timer = setTimeout(() => resolve(TIMEOUT), ms) })
  try {
    return await Promise.race([p, t])
  } finally {
    clearTimeout(timer)
  }
}

/** What the server saw of each request. */
const seen: Array<{ url: string, headers: http.IncomingHttpHeaders }> = []
let srv: Awaited<ReturnType<typeof httpServer>>
let base: string
beforeAll(async () => {
  srv = await httpServer((req, res) => {
    seen.push({ url: req.url!, headers: req.headers })
    const url = new URL(req.url!, 'http://x')
    if (url.pathname === '/big') {
      res.end(Buffer.alloc(1024 * 1024, 120)) // more than one read: not complete with the head
    } else if (url.pathname === '/big-head') {
      // ~20 KiB of response headers: more than Node's default --max-http-header-size (16 KiB).
      for (let i = 0; i < 20; i++) res.setHeader(`x-filler-${i}`, 'f'.repeat(1000))
      res.end('ok')
    } else {
      req.resume()
      req.on('end', () => res.end('ok'))
    }
  })
  base = `http://127.0.0.1:${srv.port}`
})
afterAll(async () => {
  await srv.close()
})

describe.each(implementations)('through %s', (_label, make) => {
  let d: AnyDispatcher
  beforeAll(() => { d = make() })
  afterAll(async () => { await d.destroy() })

  // undici test/node-test/large-body.js, test/fetch/fire-and-forget.js
  it('a response body that is not read yet does not hold up the next request to the origin', async () => {
    const first = await undici.request(`${base}/big`, { dispatcher: d })
    const second = await settle(undici.request(`${base}/small`, { dispatcher: d }).then(async (r) => r.body.text()))
    expect(second).toBe('ok')
    expect((await first.body.arrayBuffer()).byteLength).toBe(1024 * 1024)
  })

  // undici test/request.js "Should include connection:keep-alive if reset false",
  // test/eventsource/eventsource-connect.js, eventsource-close.js, eventsource-constructor-stringify.js
  it('HTTP/1.1 requests carry Connection: keep-alive', async () => {
    const r = await undici.request(`${base}/ka`, { dispatcher: d })
    await r.body.text()
    expect(seen.findLast((s) => s.url === '/ka')!.headers.connection).toBe('keep-alive')
  })

  // undici test/issue-2065.js
  it('a FormData body is sent with a Content-Length', async () => {
    const form = new undici.FormData()
    form.set('file', new File(['abc'], 'abc.txt'))
    const r = await undici.request(`${base}/form`, { dispatcher: d, method: 'POST', body: form })
    await r.body.text()
    const headers = seen.findLast((s) => s.url === '/form')!.headers
    expect(headers['transfer-encoding']).toBeUndefined()
    expect(Number(headers['content-length'])).toBeGreaterThan(0)
  })

  // undici test/request-crlf.js
  it('an invalid header value is rejected with undici\'s message, before any connection is opened', async () => {
    const server = await fresh()
    const origin = `http://127.0.0.1:${server.port}`
    const err = await undici.request(origin, { dispatcher: d, headers: { 'content-type': 'application/json\r\n\r\nGET /foo2 HTTP/1.1' } }).catch((e: Error) => e)
    expect(err).toBeInstanceOf(undici.errors.InvalidArgumentError)
    expect((err as Error).message).toBe('invalid content-type header')
    expect(server.connections()).toBe(0)
    class MaliciousBlob extends Blob {
      get type (): string { return 'text/html\r\nX-Injected: true' }
    }
    const err2 = await undici.request(origin, { dispatcher: d, method: 'POST', body: new MaliciousBlob(['hello']) }).catch((e: Error) => e)
    expect(err2).toBeInstanceOf(undici.errors.InvalidArgumentError)
    expect((err2 as Error).message).toBe('invalid content-type header')
    expect(freshRequests).toBe(0)
  })

  // undici test/request.js DispatchOptions#expectContinue, DispatchOptions#reset
  it('non-boolean expectContinue and reset are rejected before connecting', async () => {
    const server = await fresh()
    const origin = `http://127.0.0.1:${server.port}`
    for (const [key, message] of [['expectContinue', 'invalid expectContinue'], ['reset', 'invalid reset']] as const) {
      const err = await undici.request(origin, { dispatcher: d, [key]: 'yes' } as unknown as Parameters<typeof undici.request>[1]).catch((e: Error) => e)
      expect(err).toBeInstanceOf(undici.errors.InvalidArgumentError)
      expect((err as Error).message).toBe(message)
    }
    expect(server.connections()).toBe(0)
  })

  // undici test/client-node-max-header-size.js, test/fetch/client-node-max-header-size.js
  it('response headers over Node\'s max header size fail with HeadersOverflowError', async () => {
    const err = await undici.request(`${base}/big-head`, { dispatcher: d }).then(async (r) => r.body.text(), (e: Error) => e)
    expect(err).toBeInstanceOf(undici.errors.HeadersOverflowError)
  })

  // undici test/parser-issues.js "fetch rejects truncated chunked responses terminated by EOF"
  it('a response the server writes before it reads the request is the response to that request', async () => {
    let connections = 0
    const sockets = new Set<net.Socket>()
    const early = net.createServer((s) => {
      connections++
      sockets.add(s)
      s.on('error', () => {})
      s.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nhey')
    })
    await new Promise<void>((resolve) => early.listen(0, '127.0.0.1', resolve))
    try {
      const port = (early.address() as net.AddressInfo).port
      const r = await settle(undici.request(`http://127.0.0.1:${port}/`, { dispatcher: d }).then(async (res) => `${res.statusCode} ${await res.body.text()}`))
      expect(r).toBe('200 hey')
      expect(connections).toBe(1)
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => early.close(resolve))
    }
  })

  // Found while analysing the case above: a server that closes every connection as soon as it
  // accepts it. undici fails the request with SocketError('other side closed') after one connection.
  it('a server that closes each connection at once fails the request instead of being reconnected to forever', async () => {
    let connections = 0
    const closing = net.createServer((s) => {
      connections++
      s.on('error', () => {})
      s.destroy()
    })
    await new Promise<void>((resolve) => closing.listen(0, '127.0.0.1', resolve))
    try {
      const port = (closing.address() as net.AddressInfo).port
      const r = await settle(undici.request(`http://127.0.0.1:${port}/`, { dispatcher: d }).then(() => 'response', (e: Error) => e))
      expect(r).toBeInstanceOf(Error)
      expect(connections).toBeLessThanOrEqual(3)
    } finally {
      await new Promise((resolve) => closing.close(resolve))
    }
  })

  // Found while analysing test/fetch/user-agent.js (an in-process server's close() waited for
  // the client's keep-alive timeout): connections opened and never used.
  it('concurrent requests to a new origin open no more connections than requests', async () => {
    const server = await fresh()
    const origin = `http://127.0.0.1:${server.port}`
    await Promise.all(Array.from({ length: 5 }, async () => (await undici.request(origin, { dispatcher: d })).body.text()))
    expect(freshRequests).toBe(5)
    expect(server.connections()).toBeLessThanOrEqual(5)
  })

  // undici test/node-test/debug.js "debug#fetch" (NODE_DEBUG=fetch reads these channels)
  it('publishes undici\'s diagnostics channels', async () => {
    const events: string[] = []
    const channels = ['undici:request:create', 'undici:request:headers', 'undici:request:trailers']
    const listeners = channels.map((name) => {
      const fn = (): void => { events.push(name) }
      diagnosticsChannel.subscribe(name, fn)
      return [name, fn] as const
    })
    try {
      const r = await undici.request(`${base}/dc`, { dispatcher: d })
      await r.body.text()
    } finally {
      for (const [name, fn] of listeners) diagnosticsChannel.unsubscribe(name, fn)
    }
    expect(events).toEqual(channels)
  })
})

const freshServers: Array<Awaited<ReturnType<typeof httpServer>>> = []
let freshRequests = 0
/** A server of its own, to count the connections one test opens (and requests it gets: freshRequests). */
async function fresh (): Promise<Awaited<ReturnType<typeof httpServer>>> {
  freshRequests = 0
  const s = await httpServer((_req, res) => { freshRequests++; res.end('ok') })
  freshServers.push(s)
  return s
}
afterAll(async () => {
  await Promise.all(freshServers.map((s) => s.close()))
})

// node-hyper's own Pool, underneath HyperDispatcher.
describe('node-hyper Agent', () => {
  it('a connection whose request was rejected before it was written still closes after keepAliveTimeout', async () => {
    const s = await fresh()
    const origin = `http://127.0.0.1:${s.port}`
    const agent = new Agent({ keepAliveTimeout: 200 })
    try {
      // A header value with a newline gets past the pool and is refused by the connection.
      const err = await agent.request(`${origin}/`, { headers: { 'x-bad': 'a\r\nb' } }).catch((e: Error) => e)
      expect(err).toBeInstanceOf(Error)
      // Either no connection was opened for it (validated up front), or it idles out.
      let connected = agent.pool(origin).stats.connected
      for (let i = 0; i < 50 && connected > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        connected = agent.pool(origin).stats.connected
      }
      expect(connected).toBe(0)
    } finally {
      await agent.destroy()
    }
  })
})
