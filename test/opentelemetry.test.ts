// OpenTelemetry's real undici instrumentation (@opentelemetry/instrumentation-undici, which only
// subscribes to undici's diagnostics_channel channels) over node-hyper: through HyperDispatcher
// (undici.request, undici.fetch, Node's built-in fetch) and through node-hyper's own Pool,
// ClientConn and request(). Each request must give exactly one client span with the right
// attributes and status, and the server must receive the span's `traceparent`.
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest'
import http2 from 'node:http2'
import net from 'node:net'
import * as undici from 'undici'
import { context, propagation, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici'
import { HyperDispatcher, Pool, ClientConn, Agent, request } from '../dist/esm/index.mjs'
import { httpServer, deadPort } from './helpers'
import { makePki, type TestPki } from './tls-certs'

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const contextManager = new AsyncLocalStorageContextManager().enable()
let instrumentation: UndiciInstrumentation

/** traceparent headers the server received, by request path. */
const received = new Map<string, string | undefined>()
let srv: Awaited<ReturnType<typeof httpServer>>
let origin: string

beforeAll(async () => {
  context.setGlobalContextManager(contextManager)
  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  trace.setGlobalTracerProvider(provider)
  instrumentation = new UndiciInstrumentation()
  instrumentation.setTracerProvider(provider)
  instrumentation.enable()
  srv = await httpServer((req, res) => {
    const url = new URL(req.url!, 'http://x')
    received.set(url.pathname, req.headers.traceparent as string | undefined)
    if (url.pathname.startsWith('/missing')) {
      res.statusCode = 404
      res.end('no')
    } else if (url.pathname.startsWith('/hang')) {
      // never answers: the client aborts
    } else {
      res.setHeader('content-type', 'text/plain')
      res.end(`hello ${url.pathname}`)
    }
  })
  origin = `http://127.0.0.1:${srv.port}`
})

afterAll(async () => {
  instrumentation.disable()
  await srv.close()
  await provider.shutdown()
  trace.disable()
  context.disable()
  propagation.disable()
})

beforeEach(() => exporter.reset())

/** The spans for one request path (by url.path), once it ended. */
async function spansFor (path: string, count = 1): Promise<ReadableSpan[]> {
  for (let i = 0; i < 200; i++) {
    const spans = exporter.getFinishedSpans().filter((s) => s.attributes['url.path'] === path)
    if (spans.length >= count) return spans
    await new Promise((r) => setTimeout(r, 5))
  }
  return exporter.getFinishedSpans().filter((s) => s.attributes['url.path'] === path)
}

/** One finished client span for `path`, its traceparent on the server, its HTTP attributes. */
async function expectOneSpan (path: string, status: number, port = srv.port): Promise<ReadableSpan> {
  const spans = await spansFor(path)
  expect(spans).toHaveLength(1)
  const span = spans[0]!
  expect(span.kind).toBe(SpanKind.CLIENT)
  expect(span.name).toBe('GET')
  expect(span.attributes).toMatchObject({
    'http.request.method': 'GET',
    'url.full': `http://127.0.0.1:${port}${path}`,
    'url.path': path,
    'url.scheme': 'http',
    'server.address': '127.0.0.1',
    'server.port': port,
    'network.peer.address': '127.0.0.1',
    'network.peer.port': port,
    'network.protocol.version': '1.1',
    'http.response.status_code': status,
  })
  const { traceId, spanId } = span.spanContext()
  expect(received.get(path)).toBe(`00-${traceId}-${spanId}-01`)
  return span
}

const tracer = () => provider.getTracer('test')

describe('OpenTelemetry undici instrumentation over HyperDispatcher', () => {
  let d: HyperDispatcher
  beforeAll(() => { d = new HyperDispatcher() })
  afterAll(async () => { await d.close() })
  const dispatcher = () => d as unknown as undici.Dispatcher

  it('undici.request(): one client span, traceparent on the wire, parent from the active context', async () => {
    const parent = tracer().startSpan('parent')
    await context.with(trace.setSpan(context.active(), parent), async () => {
      const res = await undici.request(`${origin}/request`, { dispatcher: dispatcher(), headers: { 'user-agent': 'otel-test' } })
      expect(await res.body.text()).toBe('hello /request')
    })
    parent.end()
    const span = await expectOneSpan('/request', 200)
    expect(span.status.code).toBe(SpanStatusCode.UNSET)
    expect(span.attributes['user_agent.original']).toBe('otel-test')
    expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId)
    expect(span.spanContext().traceId).toBe(parent.spanContext().traceId)
  })

  it('undici.fetch() and Node\'s built-in fetch (global dispatcher): one span each', async () => {
    const f = await undici.fetch(`${origin}/fetch`, { dispatcher: dispatcher() })
    expect(await f.text()).toBe('hello /fetch')
    await expectOneSpan('/fetch', 200)

    const previous = undici.getGlobalDispatcher()
    undici.setGlobalDispatcher(dispatcher())
    try {
      const g = await globalThis.fetch(`${origin}/builtin-fetch`)
      expect(await g.text()).toBe('hello /builtin-fetch')
    } finally {
      undici.setGlobalDispatcher(previous)
    }
    await expectOneSpan('/builtin-fetch', 200)
  })

  it('many concurrent requests: one span per request, each with its own traceparent', async () => {
    const paths = Array.from({ length: 20 }, (_, i) => `/many-${i}`)
    await Promise.all(paths.map(async (p) => (await undici.request(`${origin}${p}`, { dispatcher: dispatcher() })).body.text()))
    const ids = new Set<string>()
    for (const p of paths) ids.add((await expectOneSpan(p, 200)).spanContext().spanId)
    expect(ids.size).toBe(paths.length)
  })

  it('a 404 is an error span (error.type 404)', async () => {
    const res = await undici.request(`${origin}/missing`, { dispatcher: dispatcher() })
    await res.body.dump()
    const span = await expectOneSpan('/missing', 404)
    expect(span.status.code).toBe(SpanStatusCode.ERROR)
    expect(span.attributes['error.type']).toBe('404')
  })

  it('connection refused: the error is recorded on the span', async () => {
    const port = await deadPort()
    const err = await undici.request(`http://127.0.0.1:${port}/refused`, { dispatcher: dispatcher() }).then(() => null, (e: NodeJS.ErrnoException) => e)
    expect(err?.code).toBe('ECONNREFUSED')
    const [span] = await spansFor('/refused')
    expect(span).toBeDefined()
    expect(span!.status.code).toBe(SpanStatusCode.ERROR)
    expect(span!.attributes['error.type']).toBe('ECONNREFUSED')
    expect(span!.events.map((e) => e.name)).toContain('exception')
    expect(exporter.getFinishedSpans().filter((s) => s.attributes['url.path'] === '/refused')).toHaveLength(1)
  })

  it('an aborted request ends its span without an error status', async () => {
    const ac = new AbortController()
    const p = undici.request(`${origin}/hang-abort`, { dispatcher: dispatcher(), signal: ac.signal })
    setTimeout(() => ac.abort(), 50)
    const err = await p.then(() => null, (e: Error) => e)
    expect(err?.name).toBe('AbortError')
    const [span] = await spansFor('/hang-abort')
    expect(span).toBeDefined()
    expect(span!.status.code).toBe(SpanStatusCode.UNSET)
    expect(span!.attributes['error.type']).toBeUndefined()
  })

  it('HTTP/2 (h2c): network.protocol.version is 2', async () => {
    const server = http2.createServer((req, res) => {
      received.set(req.url, req.headers.traceparent as string | undefined)
      res.end('h2')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    const h2 = new HyperDispatcher({ http2: true })
    try {
      const res = await undici.request(`http://127.0.0.1:${port}/h2`, { dispatcher: h2 as unknown as undici.Dispatcher })
      expect(await res.body.text()).toBe('h2')
      const [span] = await spansFor('/h2')
      expect(span!.attributes['network.protocol.version']).toBe('2')
      expect(received.get('/h2')).toBe(`00-${span!.spanContext().traceId}-${span!.spanContext().spanId}-01`)
    } finally {
      await h2.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})

describe('OpenTelemetry undici instrumentation over node-hyper\'s own API', () => {
  it('Pool.request(): one span, traceparent on the wire', async () => {
    const pool = new Pool(origin)
    try {
      const res = await pool.request({ path: '/pool' })
      expect(await res.body.text()).toBe('hello /pool')
      await expectOneSpan('/pool', 200)
    } finally {
      await pool.close()
    }
  })

  it('ClientConn.request(), Agent.request() and request(): one span each', async () => {
    const conn = await ClientConn.connect(origin)
    try {
      await (await conn.request({ path: '/conn' })).body.text()
      await expectOneSpan('/conn', 200)
    } finally {
      await conn.close()
    }
    const agent = new Agent()
    try {
      await (await agent.request(`${origin}/agent`)).body.text()
      await expectOneSpan('/agent', 200)
      await (await request(`${origin}/top-level`, { agent })).body.text()
      await expectOneSpan('/top-level', 200)
    } finally {
      await agent.close()
    }
  })

  it('a Pool request that fails (headers timeout) records the error', async () => {
    const pool = new Pool(origin, { retries: 0 })
    try {
      const err = await pool.request({ path: '/hang-timeout', headersTimeout: 100 }).then(() => null, (e: NodeJS.ErrnoException) => e)
      expect(err?.code).toBe('ERR_HEADERS_TIMEOUT')
      const [span] = await spansFor('/hang-timeout')
      expect(span!.status.code).toBe(SpanStatusCode.ERROR)
      expect(span!.attributes['error.type']).toBe('ERR_HEADERS_TIMEOUT')
    } finally {
      pool.destroy()
    }
  })
})

describe('OpenTelemetry over HTTPS', () => {
  let pki: TestPki
  beforeAll(() => { pki = makePki() })

  it('TLS with ALPN h2: url.scheme https, protocol 2, traceparent received', async () => {
    const server = http2.createSecureServer({ ...pki.good, allowHTTP1: true }, (req, res) => {
      received.set(req.url, req.headers.traceparent as string | undefined)
      res.end('secure')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    const d = new HyperDispatcher({ tls: { ca: pki.ca } })
    try {
      const res = await undici.request(`https://127.0.0.1:${port}/tls`, { dispatcher: d as unknown as undici.Dispatcher })
      expect(await res.body.text()).toBe('secure')
      const [span] = await spansFor('/tls')
      expect(span!.attributes).toMatchObject({ 'url.scheme': 'https', 'network.protocol.version': '2', 'http.response.status_code': 200 })
      expect(received.get('/tls')).toBe(`00-${span!.spanContext().traceId}-${span!.spanContext().spanId}-01`)
    } finally {
      await d.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})

