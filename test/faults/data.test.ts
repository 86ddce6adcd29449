// Issue #15, "Wrong data" (items 11-17): what is sent and what is reported must be exactly what
// was asked for or received; anything else is a typed error, never a silent change.
import { describe, it, expect, afterEach } from 'vitest'
import http from 'node:http'
import { ClientConn, Pool, HyperError } from '../../dist/esm/index.mjs'
import { rawServer } from '../helpers'
import { Cleanup, outcome, show, sleep, tcpServer, within } from './util'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

/** A raw HTTP/1.1 server that records each request (head and body as latin1) and answers 200 "ok". */
async function recordingServer () {
  const requests: string[] = []
  const srv = await tcpServer((socket) => {
    let buf = ''
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1')
      // Record what arrived; answer once a head is complete (the body may follow or not).
      const i = buf.indexOf('\r\n\r\n')
      if (i === -1) return
      setTimeout(() => {
        requests.push(buf)
        buf = ''
        if (!socket.destroyed) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
      }, 50)
    })
  })
  return { ...srv, requests }
}

async function* chunks (...parts: string[]): AsyncGenerator<string> {
  for (const p of parts) yield p
}

describe('item 11: content-length must match the body exactly', () => {
  // Today a declared length shorter than the body truncates the upload silently and the request
  // returns 200 (the server got "a" of "abc"); a longer one fails as HYPER_ERROR "user body
  // write aborted". undici: RequestContentLengthMismatchError in all four cases. Code chosen
  // for node-hyper: ERR_HTTP_CONTENT_LENGTH_MISMATCH (Node's name for the same check).
  it('fixed body shorter than content-length, and longer: InvalidArgumentError before anything is sent', async () => {
    const srv = cleanup.add(() => srv.close(), await recordingServer())
    const conn = cleanup.add(() => conn.destroy(), await ClientConn.connect(`http://127.0.0.1:${srv.port}`))
    for (const [declared, body] of [['1', 'abc'], ['10', 'abc']] as const) {
      const o = await outcome(conn.request({ method: 'POST', path: '/', headers: { 'content-length': declared }, body }).then((r) => r.body.text()), 2000)
      expect(show(o), `content-length ${declared}, body "${body}"`).toMatch(/^rejected InvalidArgumentError ERR_HTTP_CONTENT_LENGTH_MISMATCH/)
      if (o.state === 'rejected') expect(o.error.field).toBe('headers.content-length')
    }
    await sleep(100)
    expect(srv.requests).toEqual([])
  })

  it('streamed body longer than content-length: the request fails with ERR_HTTP_CONTENT_LENGTH_MISMATCH (no silent truncation)', async () => {
    const srv = cleanup.add(() => srv.close(), await recordingServer())
    const conn = cleanup.add(() => conn.destroy(), await ClientConn.connect(`http://127.0.0.1:${srv.port}`))
    const o = await outcome(conn.request({ method: 'POST', path: '/', headers: { 'content-length': '1' }, body: chunks('ab', 'c') }).then((r) => r.body.text()), 2000)
    expect(show(o)).toMatch(/^rejected \w+ ERR_HTTP_CONTENT_LENGTH_MISMATCH/)
    if (o.state === 'rejected') expect(o.error).toBeInstanceOf(HyperError)
  })

  it('streamed body shorter than content-length: the request fails with ERR_HTTP_CONTENT_LENGTH_MISMATCH', async () => {
    const srv = cleanup.add(() => srv.close(), await recordingServer())
    const conn = cleanup.add(() => conn.destroy(), await ClientConn.connect(`http://127.0.0.1:${srv.port}`))
    const o = await outcome(conn.request({ method: 'POST', path: '/', headers: { 'content-length': '10' }, body: chunks('abc') }).then((r) => r.body.text()), 2000)
    expect(show(o)).toMatch(/^rejected \w+ ERR_HTTP_CONTENT_LENGTH_MISMATCH/)
    if (o.state === 'rejected') expect(o.error).toBeInstanceOf(HyperError)
  })
})

describe('item 12: an invalid content-length is rejected, not dropped', () => {
  // Today hyper drops the unparsable header and sends the body chunked.
  for (const value of ['abc', '-1', '1.5', '5 5']) {
    it(`content-length "${value}": InvalidArgumentError ERR_HTTP_INVALID_HEADER_VALUE, nothing sent`, async () => {
      const srv = cleanup.add(() => srv.close(), await recordingServer())
      const conn = cleanup.add(() => conn.destroy(), await ClientConn.connect(`http://127.0.0.1:${srv.port}`))
      const o = await outcome(conn.request({ method: 'POST', path: '/', headers: { 'content-length': value }, body: chunks('abc') }).then((r) => r.body.text()), 2000)
      expect(show(o)).toMatch(/^rejected InvalidArgumentError ERR_HTTP_INVALID_HEADER_VALUE/)
      if (o.state === 'rejected') expect(o.error.field).toBe('headers.content-length')
      await sleep(100)
      expect(srv.requests).toEqual([])
    })
  }
})

describe('item 13: headers given as a Map or a WHATWG Headers object', () => {
  // Today both are silently ignored (flattenHeaders only looks at own enumerable keys).
  const cases: Record<string, () => unknown> = {
    Map: () => new Map<string, string>([['x-one', '1'], ['x-two', '2']]),
    Headers: () => new Headers([['x-one', '1'], ['x-two', '2']]),
  }
  for (const [kind, make] of Object.entries(cases)) {
    it(`${kind}: the headers are sent`, async () => {
      let head = ''
      const srv = cleanup.add(() => srv.close(), await rawServer((socket, h) => {
        head = h
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
      }))
      const conn = cleanup.add(() => conn.destroy(), await ClientConn.connect(`http://127.0.0.1:${srv.port}`))
      const res = await within(conn.request({ path: '/', headers: make() as never }), 3000, 'request')
      await res.body.text()
      expect(head.toLowerCase()).toContain('\r\nx-one: 1\r\n')
      expect(head.toLowerCase()).toContain('\r\nx-two: 2\r\n')
    })
  }
})

describe('item 14: a non-latin1 host option', () => {
  // Today 'h€' goes out as "Host: h\xAC" (the low byte of U+20AC). Expected: a typed rejection
  // before anything is sent (the same authority check as item 18).
  it('ClientConn.connect(url, { host: "h€" }) rejects with InvalidArgumentError; nothing mangled is sent', async () => {
    const heads: string[] = []
    const srv = cleanup.add(() => srv.close(), await rawServer((socket, h) => {
      heads.push(h)
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    }))
    const o = await outcome(ClientConn.connect(`http://127.0.0.1:${srv.port}`, { host: 'h€' }).then(async (conn) => {
      try {
        return await (await conn.request({ path: '/' })).body.text()
      } finally {
        conn.destroy()
      }
    }), 3000)
    expect(show(o)).toMatch(/^rejected InvalidArgumentError ERR_INVALID_ARG_VALUE/)
    if (o.state === 'rejected') expect(o.error.field).toBe('host')
    expect(heads).toEqual([])
  })
})

describe('item 15: a body is read once', () => {
  // Today the second text() resolves ''. Like Response.text(), it must reject: code
  // ERR_BODY_ALREADY_USED (a HyperError).
  const consumers = ['text', 'json', 'arrayBuffer', 'bytes'] as const
  for (const second of consumers) {
    it(`text() then ${second}() rejects with ERR_BODY_ALREADY_USED`, async () => {
      const srv = cleanup.add(() => srv.close(), await rawServer((socket) => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}')
      }))
      const conn = cleanup.add(() => conn.destroy(), await ClientConn.connect(`http://127.0.0.1:${srv.port}`))
      const res = await within(conn.request({ path: '/' }), 3000, 'request')
      expect(await res.body.text()).toBe('{}')
      const o = await outcome(res.body[second]() as Promise<unknown>, 1000)
      expect(show(o)).toMatch(/^rejected HyperError ERR_BODY_ALREADY_USED/)
    })
  }

  it('a streamed (multi-chunk) body: text() twice rejects the second time', async () => {
    const srv = cleanup.add(() => srv.close(), await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n')
      setTimeout(() => socket.write('3\r\ndef\r\n0\r\n\r\n'), 50)
    }))
    const conn = cleanup.add(() => conn.destroy(), await ClientConn.connect(`http://127.0.0.1:${srv.port}`))
    const res = await within(conn.request({ path: '/' }), 3000, 'request')
    expect(await within(res.body.text(), 3000, 'first text()')).toBe('abcdef')
    expect(show(await outcome(res.body.text(), 1000))).toMatch(/^rejected HyperError ERR_BODY_ALREADY_USED/)
  })
})

describe('item 16: very large timeouts', () => {
  // 2**64 - 4096 ms overflows the addon's uint64 deadline (now + timeout) and fires at once;
  // keepAliveTimeout 3e9 overflows setTimeout (2**31 - 1 max: Node then uses 1 ms). Expected:
  // clamp to the timer range (a huge timeout behaves as "practically never").
  const HUGE = 2 ** 64 - 4096
  for (const name of ['headersTimeout', 'bodyTimeout'] as const) {
    it(`${name}: 2**64 - 4096 does not fire on a response that takes 300 ms`, async () => {
      const srv = cleanup.add(() => srv.close(), await rawServer((socket) => {
        if (name === 'headersTimeout') setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 300)
        else {
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no')
          setTimeout(() => socket.write('k'), 300)
        }
      }))
      const conn = cleanup.add(() => conn.destroy(), await ClientConn.connect(`http://127.0.0.1:${srv.port}`))
      const o = await outcome(conn.request({ path: '/', [name]: HUGE }).then((r) => r.body.text()), 3000)
      expect(show(o)).toBe('resolved')
    })
  }

  it(`connectTimeout: 2**64 - 4096 does not fire on a loopback connect`, async () => {
    const srv = cleanup.add(() => srv.close(), await tcpServer(() => {}))
    const o = await outcome(ClientConn.connect(`http://127.0.0.1:${srv.port}`, { connectTimeout: HUGE }), 3000)
    if (o.state === 'resolved') o.value.destroy()
    expect(show(o)).toBe('resolved')
  })

  it('keepAliveTimeout: 3e9 keeps an idle connection open (today it closes within ~1 ms)', async () => {
    let closed = 0
    const srv = cleanup.add(() => srv.close(), await tcpServer((socket) => {
      socket.on('close', () => { closed++ })
      socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'))
    }))
    const pool = cleanup.add(() => pool.destroy(), new Pool(`http://127.0.0.1:${srv.port}`, { keepAliveTimeout: 3e9 }))
    expect(await within((await pool.request({ path: '/' })).body.text(), 3000, 'request')).toBe('ok')
    await sleep(300)
    expect({ connected: pool.stats.connected, closedOnServer: closed }).toEqual({ connected: 1, closedOnServer: 0 })
  })
})

describe('item 17: a reason phrase with bytes above 0x7F', () => {
  // httparse returns an empty reason when it sees obs-text, so hyper reports ''. node:http keeps
  // the bytes (latin1): statusMessage "Grüße".
  it('statusText keeps the latin1 reason phrase, as node:http does', async () => {
    const srv = cleanup.add(() => srv.close(), await rawServer((socket) => {
      socket.write(Buffer.from('HTTP/1.1 200 Gr\xfc\xdfe\r\nContent-Length: 2\r\n\r\nok', 'latin1'))
    }))
    const reference = await new Promise<string | undefined>((resolve, reject) => {
      http.get(`http://127.0.0.1:${srv.port}/`, { agent: false }, (m) => { m.resume(); resolve(m.statusMessage) }).on('error', reject)
    })
    expect(reference).toBe('Grüße')
    const conn = cleanup.add(() => conn.destroy(), await ClientConn.connect(`http://127.0.0.1:${srv.port}`))
    const res = await within(conn.request({ path: '/' }), 3000, 'request')
    await res.body.text()
    expect(res.statusText).toBe('Grüße')
  })
})
