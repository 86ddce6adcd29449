import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { ClientConn, HyperError, SocketError, ProtocolError, ConnectionClosedError, InvalidArgumentError } from '../dist/esm/index.mjs'
import { httpServer, rawServer, deadPort } from './helpers'

describe('connect failures', () => {
  it('refused connection -> SocketError ECONNREFUSED', async () => {
    const port = await deadPort()
    const err = await ClientConn.connect({ host: '127.0.0.1', port }).catch((e) => e)
    expect(err).toBeInstanceOf(SocketError)
    expect(err).toBeInstanceOf(HyperError)
    expect(err.code).toBe('ECONNREFUSED')
    expect(err.syscall).toBe('connect')
    expect(err.errno).toBeLessThan(0)
    expect(err.address).toBe('127.0.0.1')
    expect(err.port).toBe(port)
    expect(err.message).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`)
  })

  it('lookup failure -> SocketError ENOTFOUND with the lookup error as cause', async () => {
    const lookupErr = Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.invalid'), { code: 'ENOTFOUND' })
    const err = await ClientConn.connect('http://nowhere.invalid/', {
      lookup: (_h, _o, cb) => cb(lookupErr, '', 0),
    }).catch((e) => e)
    expect(err).toBeInstanceOf(SocketError)
    expect(err.code).toBe('ENOTFOUND')
    expect(err.syscall).toBe('getaddrinfo')
    expect(err.cause).toBe(lookupErr)
  })

  it('custom lookup result is used', async () => {
    const srv = await httpServer((_req, res) => res.end('looked up'))
    const conn = await ClientConn.connect(`http://service.test:${srv.port}/`, {
      lookup: (host, _o, cb) => cb(null, '127.0.0.1', 4),
    })
    const res = await conn.request()
    expect(await res.body.text()).toBe('looked up')
    await conn.close()
    await srv.close()
  })
})

describe('failures during an exchange', () => {
  it('server closes after reading the request, before responding', async () => {
    const raw = await rawServer((s) => s.end())
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    const err = await conn.request().catch((e) => e)
    expect(err).toBeInstanceOf(ProtocolError)
    expect(err.code).toBe('HYPER_UNEXPECTED_EOF')
    expect(err.hyperCode).toBe(3)
    expect(err.message).toMatch(/connection closed before message completed/)
    expect(err.requestSent).toBe(true)
    await raw.close()
  })

  it('server resets mid-body -> body error ECONNRESET', async () => {
    const raw = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789', () => {
        setTimeout(() => s.resetAndDestroy(), 20)
      })
    })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    const res = await conn.request()
    expect(res.status).toBe(200)
    const err = await res.body.text().catch((e) => e)
    expect(err).toBeInstanceOf(SocketError)
    expect(err.code).toBe('ECONNRESET')
    expect(err.syscall).toBe('read')
    await raw.close()
  })

  // Regression: the body error arrived in the same event batch as the head, before text()
  // attached, and was emitted as an unhandled 'error' event.
  it('server closes mid-body (FIN) before Content-Length is met -> body error', async () => {
    const raw = await rawServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort'))
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    const res = await conn.request()
    const err = await res.body.text().catch((e) => e)
    expect(err).toBeInstanceOf(ProtocolError)
    expect(err.code).toBe('HYPER_ERROR')
    expect(err.message).toMatch(/body/)
    await raw.close()
  })

  it('garbage instead of a response -> HYPER_INVALID_PEER_MESSAGE', async () => {
    const raw = await rawServer((s) => s.write('HELLO\r\n\r\n'))
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    const err = await conn.request().catch((e) => e)
    expect(err).toBeInstanceOf(ProtocolError)
    expect(err.code).toBe('HYPER_INVALID_PEER_MESSAGE')
    expect(err.hyperCode).toBe(6)
    await raw.close()
  })

  it('destroy() with a request in flight rejects it with ERR_DESTROYED and the cause', async () => {
    const raw = await rawServer(() => { /* never answers */ })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: raw.port })
    const p = conn.request()
    const queued = conn.request({ path: '/second' })
    await new Promise((r) => setTimeout(r, 20))
    const why = new Error('shutting down')
    conn.destroy(why)
    const [e1, e2] = await Promise.all([p.catch((e) => e), queued.catch((e) => e)])
    for (const e of [e1, e2]) {
      expect(e).toBeInstanceOf(ConnectionClosedError)
      expect(e.code).toBe('ERR_DESTROYED')
      expect(e.cause).toBe(why)
    }
    expect(e1.requestSent).toBe(true)
    expect(e2.requestSent).toBe(false)
    expect(conn.closed).toBe(true)
    const after = await conn.request().catch((e) => e)
    expect(after.code).toBe('ERR_CLOSED')
    await raw.close()
  })

  it('server closes an idle keep-alive connection -> closed, then ERR_CLOSED', async () => {
    const srv = await httpServer((_req, res) => res.end('x'), (s) => { s.keepAliveTimeout = 50 })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: srv.port })
    await (await conn.request()).body.text()
    const end = Date.now() + 3000
    while (!conn.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
    expect(conn.closed).toBe(true)
    const err = await conn.request().catch((e) => e)
    expect(err).toBeInstanceOf(ConnectionClosedError)
    expect(err.code).toBe('ERR_CLOSED')
    await srv.close()
  })

  it('requests queued behind a Connection: close response fail as not sent', async () => {
    const srv = await httpServer((_req, res) => { res.setHeader('connection', 'close'); res.end('last') })
    const conn = await ClientConn.connect({ host: '127.0.0.1', port: srv.port })
    const first = conn.request()
    const second = conn.request({ path: '/2' })
    expect(await (await first).body.text()).toBe('last')
    const err = await second.catch((e) => e)
    expect(err).toBeInstanceOf(ConnectionClosedError)
    expect(err.code).toBe('ERR_CONNECTION_CLOSED')
    expect(err.requestSent).toBe(false)
    await srv.close()
  })
})

describe('invalid input is rejected before anything is sent', () => {
  let srv: Awaited<ReturnType<typeof httpServer>>
  let requests = 0
  let conn: InstanceType<typeof ClientConn>
  beforeAll(async () => {
    srv = await httpServer((_req, res) => { requests++; res.end('ok') })
    conn = await ClientConn.connect({ host: '127.0.0.1', port: srv.port })
  })
  afterAll(async () => {
    // the connection is still fine after all the rejected calls
    const res = await conn.request()
    expect(await res.body.text()).toBe('ok')
    expect(requests).toBe(1)
    await conn.close()
    await srv.close()
  })

  const cases: Array<[string, Record<string, unknown>, string, string]> = [
    ['method with a space', { method: 'GE T' }, 'ERR_INVALID_HTTP_TOKEN', 'method'],
    ['method not a string', { method: 123 }, 'ERR_INVALID_ARG_TYPE', 'method'],
    ['path without a leading slash', { path: 'no-slash' }, 'ERR_INVALID_ARG_VALUE', 'path'],
    ['path with a space', { path: '/a b' }, 'ERR_UNESCAPED_CHARACTERS', 'path'],
    ['path with LF', { path: '/a\nb' }, 'ERR_UNESCAPED_CHARACTERS', 'path'],
    ['header name with a space', { headers: { 'bad name': 'x' } }, 'ERR_INVALID_HTTP_TOKEN', 'headers.bad name'],
    ['header value with CRLF', { headers: { 'x-a': 'a\r\nInjected: 1' } }, 'ERR_INVALID_CHAR', 'headers.x-a'],
    ['header value with NUL', { headers: { 'x-a': 'a\0b' } }, 'ERR_INVALID_CHAR', 'headers.x-a'],
    ['header value undefined', { headers: { 'x-a': undefined } }, 'ERR_HTTP_INVALID_HEADER_VALUE', 'headers.x-a'],
    ['header value object', { headers: { 'x-a': {} } }, 'ERR_HTTP_INVALID_HEADER_VALUE', 'headers.x-a'],
    ['body as a number', { body: 42 }, 'ERR_INVALID_ARG_TYPE', 'body'],
    ['body as a plain object', { body: { a: 1 } }, 'ERR_INVALID_ARG_TYPE', 'body'],
  ]
  it.each(cases)('%s', async (_name, opts, code, field) => {
    const err = await conn.request(opts as any).catch((e) => e)
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect(err).toBeInstanceOf(TypeError)
    expect(err.code).toBe(code)
    expect(err.field).toBe(field)
  })

  it.each([
    ['not a url', 'ERR_INVALID_URL', 'url'],
    ['ftp://x/', 'ERR_INVALID_URL_SCHEME', 'url'],
  ])('connect target %s', async (target, code, field) => {
    const err = await ClientConn.connect(target).catch((e) => e)
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect(err.code).toBe(code)
    expect(err.field).toBe(field)
  })

  it('connect port out of range', async () => {
    const err = await ClientConn.connect({ host: '127.0.0.1', port: 70000 }).catch((e) => e)
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect(err.code).toBe('ERR_SOCKET_BAD_PORT')
  })

  it('unsupported URL schemes and protocols are rejected before connecting', async () => {
    for (const target of ['ftp://127.0.0.1/', 'ws://127.0.0.1/']) {
      const err = await ClientConn.connect(target).catch((e) => e)
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect(err.code).toBe('ERR_INVALID_URL_SCHEME')
    }
    const err = await ClientConn.connect({ host: '127.0.0.1', port: 1, protocol: 'gopher:' as any }).catch((e) => e)
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect(err.code).toBe('ERR_INVALID_URL_SCHEME')
  })
})
