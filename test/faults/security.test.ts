// Issue #15, item 18: HTTP/2 authority injection. On HTTP/2 the Host value is spliced into the
// request URI (`http://${authority}${path}`) and hyper parses it back into :authority and
// :path, so "/", "?", "#" or "@" in a Host value rewrite the path the server sees. Expected: the
// authority is validated (host[:port], RFC 3986 / RFC 9113 §8.3.1) before anything is built or
// sent, on HTTP/2 and HTTP/1 alike; anything else is an InvalidArgumentError.
import { describe, it, expect, afterEach } from 'vitest'
import * as undici from 'undici'
import { ClientConn, HyperDispatcher } from '../../dist/esm/index.mjs'
import { rawServer } from '../helpers'
import { Cleanup, h2cServer, outcome, show } from './util'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

const INJECTIONS = ['evil.example/admin?', 'evil.example/admin#', 'evil.example?x=', 'user@evil.example', 'a b', 'evil.example:80/x', '[::1']
const VALID = ['example.com', 'example.com:8080', '127.0.0.1:1', '[::1]:8080', 'xn--bcher-kva.example']

/** An h2c server that records (:authority, :path) of every stream it gets. */
async function recordingH2 () {
  const seen: Array<[string | undefined, string | undefined]> = []
  const srv = await h2cServer((stream, headers) => {
    seen.push([headers[':authority'] as string | undefined, headers[':path'] as string | undefined])
    stream.respond({ ':status': 200 })
    stream.end('ok')
  })
  return { ...srv, seen }
}

describe('item 18: Host / authority validation', () => {
  it('HTTP/2 request header Host "evil.example/admin?" with path /public/resource: rejected, the server sees no stream', async () => {
    const srv = cleanup.add(() => srv.close(), await recordingH2())
    const conn = cleanup.add(() => conn.destroy(), await ClientConn.connect(`http://127.0.0.1:${srv.port}`, { http2: true }))
    // Today the server gets :path "/admin?/public/resource".
    const o = await outcome(conn.request({ path: '/public/resource', headers: { host: 'evil.example/admin?' } }).then((r) => r.body.text()), 2000)
    expect(srv.seen).toEqual([])
    expect(show(o)).toMatch(/^rejected InvalidArgumentError ERR_INVALID_ARG_VALUE/)
    if (o.state === 'rejected') expect(o.error.field).toBe('headers.host')
  })

  it('HTTP/2: every injection form is rejected; valid authorities still work', async () => {
    const srv = cleanup.add(() => srv.close(), await recordingH2())
    const conn = cleanup.add(() => conn.destroy(), await ClientConn.connect(`http://127.0.0.1:${srv.port}`, { http2: true }))
    const results: Record<string, string> = {}
    for (const host of INJECTIONS) {
      const o = await outcome(conn.request({ path: '/public/resource', headers: { host } }).then((r) => r.body.text()), 2000)
      results[host] = o.state === 'rejected' ? `${o.error.name} ${o.error.code}` : o.state
    }
    expect(results).toEqual(Object.fromEntries(INJECTIONS.map((h) => [h, 'InvalidArgumentError ERR_INVALID_ARG_VALUE'])))
    expect(srv.seen).toEqual([])
    for (const host of VALID) {
      const o = await outcome(conn.request({ path: '/public/resource', headers: { host } }).then((r) => r.body.text()), 2000)
      expect(show(o), host).toBe('resolved')
    }
    expect(srv.seen).toEqual(VALID.map((h) => [h, '/public/resource']))
  })

  it('HTTP/2 connect option host "evil.example/admin?": ClientConn.connect() rejects', async () => {
    const srv = cleanup.add(() => srv.close(), await recordingH2())
    const o = await outcome(ClientConn.connect(`http://127.0.0.1:${srv.port}`, { http2: true, host: 'evil.example/admin?' }).then(async (conn) => {
      try {
        return await (await conn.request({ path: '/public/resource' })).body.text()
      } finally {
        conn.destroy()
      }
    }), 2000)
    expect(srv.seen).toEqual([])
    expect(show(o)).toMatch(/^rejected InvalidArgumentError ERR_INVALID_ARG_VALUE/)
    if (o.state === 'rejected') expect(o.error.field).toBe('host')
  })

  it('HyperDispatcher (undici.request over h2c) with Host "evil.example/admin?": InvalidArgumentError, no stream', async () => {
    const srv = cleanup.add(() => srv.close(), await recordingH2())
    const dispatcher = new HyperDispatcher({ http2: true })
    cleanup.add(() => dispatcher.destroy())
    const o = await outcome(undici.request(`http://127.0.0.1:${srv.port}/public/resource`, {
      dispatcher: dispatcher as unknown as undici.Dispatcher,
      headers: { host: 'evil.example/admin?' },
    }).then((r) => r.body.text()), 2000)
    expect(srv.seen).toEqual([])
    expect(o.state).toBe('rejected')
    if (o.state === 'rejected') expect(o.error).toBeInstanceOf(undici.errors.InvalidArgumentError)
  })

  it('HTTP/1: the same check applies (a Host header that is not host[:port] is rejected)', async () => {
    const heads: string[] = []
    const srv = cleanup.add(() => srv.close(), await rawServer((socket, head) => {
      heads.push(head)
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    }))
    const conn = cleanup.add(() => conn.destroy(), await ClientConn.connect(`http://127.0.0.1:${srv.port}`))
    const results: Record<string, string> = {}
    for (const host of INJECTIONS) {
      const o = await outcome(conn.request({ path: '/', headers: { host } }).then((r) => r.body.text()), 2000)
      results[host] = o.state === 'rejected' ? `${o.error.name} ${o.error.code}` : o.state
    }
    expect(results).toEqual(Object.fromEntries(INJECTIONS.map((h) => [h, 'InvalidArgumentError ERR_INVALID_ARG_VALUE'])))
    expect(heads).toEqual([])
  })
})

