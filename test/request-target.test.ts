// Request targets and methods as they go on the wire, for node-hyper's API and for undici's API
// on HyperDispatcher. validatePath takes a plain origin-form target as it is and runs its checks
// (refuse, percent-encode) only on targets with other characters: these cases pin both branches,
// read back from the request line a raw server received.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { request as undiciRequest } from 'undici'
import { ClientConn, HyperDispatcher, InvalidArgumentError } from '../dist/esm/index.mjs'
import { rawServer } from './helpers'

let srv: Awaited<ReturnType<typeof rawServer>>
let conn: InstanceType<typeof ClientConn>
let dispatcher: InstanceType<typeof HyperDispatcher>

beforeAll(async () => {
  // Answers each request with its own request line.
  srv = await rawServer((socket, head) => {
    const line = Buffer.from(head.slice(0, head.indexOf('\r\n')), 'latin1')
    socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${line.length}\r\n\r\n`)
    if (!head.startsWith('HEAD ')) socket.write(line)
  })
  conn = await ClientConn.connect(`http://127.0.0.1:${srv.port}`)
  dispatcher = new HyperDispatcher()
})
afterAll(async () => {
  await conn.close()
  await dispatcher.close()
  await srv.close()
})

async function lineOf (method: string, path: string): Promise<string> {
  const res = await conn.request({ method, path })
  return res.body.text()
}

async function lineViaUndici (method: string, path: string): Promise<string> {
  const { body } = await undiciRequest(`http://127.0.0.1:${srv.port}`, { method: method as 'GET', path, dispatcher: dispatcher as never })
  return body.text()
}

// [case, path as given, on the wire from ClientConn, on the wire through undici's request()
// (whose URL parsing percent-encodes `"` in a path before HyperDispatcher sees it)]
const targets: Array<[string, string, string, string?]> = [
  ['root', '/', '/'],
  ['query with an escape', '/a/b.c?x=1&y=%20z', '/a/b.c?x=1&y=%20z'],
  ['sub-delims', "/!$&'()*+,;=:@-._~", "/!$&'()*+,;=:@-._~"],
  ['< > ` in the path', '/a<b>`c', '/a%3Cb%3E%60c'],
  ['" < > in the query', '/q?v="x"&w=<y>', '/q?v=%22x%22&w=%3Cy%3E'],
  ['" in the path', '/p"x', '/p"x', '/p%22x'],
  ['latin1 letters', '/caf\u00e9?n=\u00e9', '/caf%C3%A9?n=%C3%A9'],
  ['4 KiB path', '/long/' + 'a'.repeat(4000), '/long/' + 'a'.repeat(4000)],
]

describe('request targets on the wire', () => {
  it.each(targets)('ClientConn: %s', async (_case, path, wire) => {
    expect(await lineOf('GET', path)).toBe(`GET ${wire} HTTP/1.1`)
  })

  it.each(targets)('undici request() on HyperDispatcher: %s', async (_case, path, wire, viaUndici) => {
    expect(await lineViaUndici('GET', path)).toBe(`GET ${viaUndici ?? wire} HTTP/1.1`)
  })

  it.each([
    ['a space', '/a b', 'ERR_UNESCAPED_CHARACTERS'],
    ['a tab', '/a\tb', 'ERR_UNESCAPED_CHARACTERS'],
    ['a character beyond latin1', '/a\u0100', 'ERR_UNESCAPED_CHARACTERS'],
    ['65,535 bytes', '/' + 'a'.repeat(65_534), 'ERR_INVALID_ARG_VALUE'],
    ['90,001 bytes once percent-encoded', '/' + '<'.repeat(30_000), 'ERR_INVALID_ARG_VALUE'],
  ])('refuses a target with %s', async (_case, path, code) => {
    const err = await conn.request({ path }).catch((e) => e)
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect(err.code).toBe(code)
    expect(err.field).toBe('path')
  })

  it('takes a target of exactly 65,534 bytes', async () => {
    const path = '/' + 'a'.repeat(65_533)
    expect(await lineOf('GET', path)).toBe(`GET ${path} HTTP/1.1`)
  })

  // The addon reads a head of up to 1,022 characters in one call into a stack buffer and a longer
  // one in two: targets whose head (method, target, Host) falls on either side of that line.
  it('sends heads on both sides of the addon\'s 1 KiB read whole', async () => {
    for (let n = 960; n <= 1040; n++) {
      const path = '/' + String(n % 10).repeat(n)
      expect(await lineOf('GET', path)).toBe(`GET ${path} HTTP/1.1`)
    }
  })
})

describe('request methods', () => {
  it.each(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'M-SEARCH', 'PURGE', 'get'])('ClientConn sends %s as given', async (method) => {
    const res = await conn.request({ method, path: '/m' })
    expect(res.status).toBe(200)
    if (method !== 'HEAD') expect(await res.body.text()).toBe(`${method} /m HTTP/1.1`)
    else await res.body.dump()
  })

  it.each(['PURGE', 'M-SEARCH'])('undici request() on HyperDispatcher sends %s as given', async (method) => {
    expect(await lineViaUndici(method, '/m')).toBe(`${method} /m HTTP/1.1`)
  })

  it.each(['GE T', 'GET\r\n', '', 'G\u00c9T'])('refuses the method %j', async (method) => {
    const err = await conn.request({ method, path: '/' }).catch((e) => e)
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect(err.code).toBe('ERR_INVALID_HTTP_TOKEN')
    if (method === '') return // undici's request() sends GET for an empty method
    const viaUndici = await lineViaUndici(method, '/').catch((e) => e)
    expect(viaUndici).toBeInstanceOf(Error)
    expect(viaUndici.code).toBe('UND_ERR_INVALID_ARG')
  })
})
