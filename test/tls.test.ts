import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import http from 'node:http'
import https from 'node:https'
import http2 from 'node:http2'
import net from 'node:net'
import tls from 'node:tls'
import crypto from 'node:crypto'
import { ClientConn, Pool, Agent, TlsError, SocketError, TimeoutError, InvalidArgumentError, ProtocolError } from '../dist/esm/index.mjs'
import { makePki, type TestPki, type Pair } from './tls-certs'
import { pattern } from './helpers'

const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex')
const MiB = 1024 * 1024

let pki: TestPki
const closers: Array<() => void> = []

beforeAll(() => { pki = makePki() })
afterAll(() => { for (const c of closers) c() })

async function listen<T extends net.Server> (server: T): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(() => {
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.()
    server.close()
  })
  return (server.address() as net.AddressInfo).port
}

/** An https server answering JSON about the request (and the TLS session it came on). */
async function httpsServer (pair: Pair, extra: https.ServerOptions = {}): Promise<number> {
  const server = https.createServer({ ...pair, ...extra }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const sock = req.socket as tls.TLSSocket
      const peer = sock.getPeerCertificate()
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({
        path: req.url, version: req.httpVersion, host: req.headers.host, servername: (sock as any).servername ?? null,
        alpn: sock.alpnProtocol, n: Buffer.concat(chunks).length, clientCN: peer && peer.subject ? peer.subject.CN : null,
      }))
    })
  })
  server.keepAliveTimeout = 60_000
  return listen(server)
}

/** What Node's own TLS client reports for the same server (the codes must match). */
function nodeCode (port: number, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...options }, () => { resolve('ok'); s.end() })
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
  })
}

describe('https (HTTP/1.1 over TLS)', () => {
  let port: number
  beforeAll(async () => { port = await httpsServer(pki.good) })

  it('GET and POST over a verified connection; SNI, Host and ALPN as expected', async () => {
    const conn = await ClientConn.connect(`https://localhost:${port}`, { tls: { ca: pki.ca } })
    expect(conn.secure).toBe(true)
    expect(conn.protocol).toBe('1.1')
    expect(conn.tls).toMatchObject({ authorized: true, protocol: 'TLSv1.3' })
    expect(conn.tls!.authorizationError).toBeUndefined()
    const res = await conn.request({ path: '/a?b=1' })
    expect(res.status).toBe(200)
    expect(await res.body.json()).toMatchObject({ path: '/a?b=1', version: '1.1', host: `localhost:${port}`, servername: 'localhost' })
    const body = pattern(3 * MiB + 17)
    const res2 = await conn.request({ method: 'POST', path: '/upload', body })
    expect((await res2.body.json<any>()).n).toBe(body.length)
    await conn.close()
  })

  it('no SNI for an IP address; the IP must be in the certificate', async () => {
    const conn = await ClientConn.connect(`https://127.0.0.1:${port}`, { tls: { ca: pki.ca } })
    const j = await (await conn.request({})).body.json<any>()
    expect(j.servername).toBe(false) // Node reports false when the client sent no SNI
    await conn.close()
  })

  it('servername overrides SNI and the verified name', async () => {
    const conn = await ClientConn.connect(`https://127.0.0.1:${port}`, { tls: { ca: pki.ca, servername: 'localhost' } })
    expect((await (await conn.request({})).body.json<any>()).servername).toBe('localhost')
    await conn.close()
    await expect(ClientConn.connect(`https://127.0.0.1:${port}`, { tls: { ca: pki.ca, servername: 'other.example' } }))
      .rejects.toMatchObject({ name: 'TlsError', code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
  })

  it('a 1 MiB download streams in order', async () => {
    const server = https.createServer(pki.good, (req, res) => res.end(pattern(MiB)))
    const p = await listen(server)
    const conn = await ClientConn.connect(`https://localhost:${p}`, { tls: { ca: pki.ca } })
    const res = await conn.request({})
    expect(sha(new Uint8Array(await res.body.arrayBuffer()))).toBe(sha(pattern(MiB)))
    await conn.close()
  })

  it('resumes the TLS session on a new connection to the same server', async () => {
    const opts = { tls: { ca: pki.ca } }
    const a = await ClientConn.connect(`https://localhost:${port}`, opts)
    await (await a.request({})).body.text() // TLS 1.3 tickets arrive after the handshake
    await a.close()
    const b = await ClientConn.connect(`https://localhost:${port}`, opts)
    expect(b.tls!.sessionReused).toBe(true)
    await b.close()
    const c = await ClientConn.connect(`https://localhost:${port}`, { tls: { ca: pki.ca, sessionReuse: false } })
    expect(c.tls!.sessionReused).toBe(false)
    await c.close()
  })

  it('an Agent with tls options serves http: and https: origins alike', async () => {
    const plain = http.createServer((req, res) => res.end('plain'))
    const plainPort = await listen(plain)
    const agent = new Agent({ tls: { ca: pki.ca } })
    expect(await (await agent.request(`http://127.0.0.1:${plainPort}/`)).body.text()).toBe('plain')
    expect((await (await agent.request(`https://localhost:${port}/x`)).body.json<any>()).path).toBe('/x')
    await agent.close()
  })

    it('a Pool over https keeps connections alive and reuses them', async () => {
    const pool = new Pool(`https://localhost:${port}`, { tls: { ca: pki.ca }, connections: 2 })
    const results = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await pool.request({ path: `/${i}` })).body.json<any>()))
    expect(results.map((r) => r.path)).toEqual(Array.from({ length: 20 }, (_, i) => `/${i}`))
    expect(pool.stats.connected).toBeLessThanOrEqual(2)
    await pool.close()
  })
})

describe('certificate verification (codes as Node reports them)', () => {
  const cases: Array<[string, () => Pair, string]> = [
    ['self-signed leaf', () => pki.selfSigned, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['expired leaf', () => pki.expired, 'CERT_HAS_EXPIRED'],
    ['wrong-host leaf', () => pki.wrongHost, 'ERR_TLS_CERT_ALTNAME_INVALID'],
    ['leaf from an untrusted CA', () => pki.untrusted, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  ]
  for (const [name, pair, code] of cases) {
    it(`${name}: ${code}, and rejectUnauthorized: false connects`, async () => {
      const port = await httpsServer(pair())
      const err = await ClientConn.connect(`https://localhost:${port}`, { tls: { ca: pki.ca } }).catch((e) => e)
      expect(err).toBeInstanceOf(TlsError)
      expect(err.code).toBe(code)
      expect(await nodeCode(port, { servername: 'localhost', ca: [...tls.rootCertificates, pki.ca] })).toBe(code)
      const conn = await ClientConn.connect(`https://localhost:${port}`, { tls: { ca: pki.ca, rejectUnauthorized: false } })
      expect(conn.tls).toMatchObject({ authorized: false, authorizationError: code })
      expect((await conn.request({})).status).toBe(200)
      await conn.close()
    })
  }

  it('the default trust store does not trust the test CA; defaultRoots: false trusts only `ca`', async () => {
    const port = await httpsServer(pki.good)
    await expect(ClientConn.connect(`https://localhost:${port}`)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })
    const conn = await ClientConn.connect(`https://localhost:${port}`, { tls: { ca: [pki.ca], defaultRoots: false } })
    expect(conn.tls!.authorized).toBe(true)
    await conn.close()
  })
})

describe('mutual TLS', () => {
  let port: number
  beforeAll(async () => { port = await httpsServer(pki.good, { ca: pki.ca, requestCert: true, rejectUnauthorized: true }) })

  it('sends the client certificate (encrypted key with passphrase)', async () => {
    const conn = await ClientConn.connect(`https://localhost:${port}`, {
      tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, passphrase: pki.clientPassphrase },
    })
    expect((await (await conn.request({})).body.json<any>()).clientCN).toBe('client')
    await conn.close()
  })

  it('without a client certificate the server refuses (TLS alert as a TlsError)', async () => {
    // TLS 1.3: the client's handshake completes before the server checks the certificate;
    // the alert arrives on the first read.
    const err = await (async () => {
      const conn = await ClientConn.connect(`https://localhost:${port}`, { tls: { ca: pki.ca } })
      try {
        await conn.request({})
      } finally {
        conn.destroy()
      }
    })().catch((e) => e)
    expect(err).toBeInstanceOf(TlsError)
    expect(err.code).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED')
  })

  it('bad key material fails before connecting, with a code', async () => {
    const wrongPass = ClientConn.connect(`https://localhost:${port}`, { tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key, passphrase: 'nope' } })
    await expect(wrongPass).rejects.toMatchObject({ name: 'TlsError', code: 'ERR_TLS_INVALID_KEY' })
    const mismatch = ClientConn.connect(`https://localhost:${port}`, { tls: { ca: pki.ca, cert: pki.client.cert, key: pki.good.key } })
    await expect(mismatch).rejects.toMatchObject({ name: 'TlsError', code: 'ERR_TLS_KEY_MISMATCH' })
    await expect(ClientConn.connect(`https://localhost:${port}`, { tls: { ca: 'not a certificate' } }))
      .rejects.toMatchObject({ name: 'TlsError', code: 'ERR_TLS_INVALID_CA' })
    await expect(ClientConn.connect(`https://localhost:${port}`, { tls: { cert: pki.client.cert } }))
      .rejects.toBeInstanceOf(InvalidArgumentError)
  })
})

describe('HTTP/2 over TLS (ALPN)', () => {
  let port: number
  let sessions = 0
  let active = 0
  let maxActive = 0
  beforeAll(async () => {
    const server = http2.createSecureServer({ ...pki.good, allowHTTP1: true })
    server.on('session', () => { sessions++ })
    server.on('request', (req, res) => {
      active++
      maxActive = Math.max(maxActive, active)
      const hash = crypto.createHash('sha256')
      let n = 0
      req.on('data', (c: Buffer) => { hash.update(c); n += c.length })
      req.on('end', () => {
        const url = new URL(req.url, 'https://x')
        const finish = () => {
          active--
          if (url.pathname === '/download') {
            res.writeHead(200, { 'content-length': Number(url.searchParams.get('size')) })
            res.end(pattern(Number(url.searchParams.get('size'))))
            return
          }
          if (url.pathname === '/reset') {
            (res as http2.Http2ServerResponse).stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)
            return
          }
          res.setHeader('content-type', 'application/json')
          res.end(JSON.stringify({ version: req.httpVersion, scheme: req.headers[':scheme'] ?? null, authority: req.headers[':authority'] ?? null,
            host: req.headers.host ?? null, n, sha: hash.digest('hex'), path: req.url }))
        }
        if (url.pathname === '/slow') setTimeout(finish, 5)
        else finish()
      })
    })
    port = await listen(server)
  })

  it("ALPN picks h2 ('auto' offers h2 and http/1.1); scheme https, authority, no Host", async () => {
    const conn = await ClientConn.connect(`https://localhost:${port}`, { tls: { ca: pki.ca } })
    expect(conn.protocol).toBe('2')
    expect(conn.tls!.alpnProtocol).toBe('h2')
    const j = await (await conn.request({ path: '/x' })).body.json<any>()
    expect(j).toMatchObject({ version: '2.0', scheme: 'https', authority: `localhost:${port}`, host: null })
    await conn.close()
  })

  it('http2: false offers only http/1.1 and the server falls back', async () => {
    const conn = await ClientConn.connect(`https://localhost:${port}`, { tls: { ca: pki.ca }, http2: false })
    expect(conn.protocol).toBe('1.1')
    expect(conn.tls!.alpnProtocol).toBe('http/1.1')
    expect((await (await conn.request({})).body.json<any>()).version).toBe('1.1')
    await conn.close()
  })

  it('a server without h2 gets http/1.1 even when h2 is preferred', async () => {
    const p = await httpsServer(pki.good, { ALPNProtocols: ['http/1.1'] })
    const conn = await ClientConn.connect(`https://localhost:${p}`, { tls: { ca: pki.ca } })
    expect(conn.protocol).toBe('1.1')
    expect(conn.tls!.alpnProtocol).toBe('http/1.1')
    await conn.close()
  })

  it('1,000 requests over one connection with 100 in flight', async () => {
    const before = sessions
    maxActive = 0
    const conn = await ClientConn.connect(`https://localhost:${port}`, { tls: { ca: pki.ca } })
    let next = 0
    const seen: string[] = []
    await Promise.all(Array.from({ length: 100 }, async () => {
      while (next < 1000) {
        const i = next++
        const j = await (await conn.request({ path: `/slow?i=${i}` })).body.json<any>()
        seen.push(j.path)
      }
    }))
    expect(seen.length).toBe(1000)
    expect(new Set(seen).size).toBe(1000)
    expect(sessions - before).toBe(1)
    expect(maxActive).toBeGreaterThan(50)
    expect(maxActive).toBeLessThanOrEqual(100)
    await conn.close()
  })

  it('10 MiB both ways under flow control', async () => {
    const conn = await ClientConn.connect(`https://localhost:${port}`, { tls: { ca: pki.ca } })
    const up = pattern(10 * MiB)
    const [u, d] = await Promise.all([
      conn.request({ method: 'POST', path: '/up', body: up }).then((r) => r.body.json<any>()),
      conn.request({ path: `/download?size=${10 * MiB}` }).then(async (r) => new Uint8Array(await r.body.arrayBuffer())),
    ])
    expect(u.n).toBe(up.length)
    expect(u.sha).toBe(sha(up))
    expect(sha(d)).toBe(sha(pattern(10 * MiB)))
    await conn.close()
  })

  it('RST_STREAM fails only that request', async () => {
    const conn = await ClientConn.connect(`https://localhost:${port}`, { tls: { ca: pki.ca } })
    const [bad, good] = await Promise.allSettled([conn.request({ path: '/reset' }), conn.request({ path: '/ok' })])
    expect(bad.status).toBe('rejected')
    expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(ProtocolError)
    expect(good.status).toBe('fulfilled')
    expect((good as PromiseFulfilledResult<any>).value.status).toBe(200)
    await conn.close()
  })

  it('GOAWAY: in-flight requests finish, the connection then closes', async () => {
    const server = http2.createSecureServer(pki.good)
    server.on('stream', (stream) => {
      stream.session!.goaway(0, stream.id)
      setTimeout(() => { stream.respond({ ':status': 200 }); stream.end('last') }, 20)
    })
    const p = await listen(server)
    const conn = await ClientConn.connect(`https://localhost:${p}`, { tls: { ca: pki.ca } })
    const res = await conn.request({})
    expect(await res.body.text()).toBe('last')
    await expect(conn.request({})).rejects.toBeTruthy()
    conn.destroy()
  })
})

describe('TLS failures', () => {
  it('a server that does not speak TLS: the handshake fails with the same code Node reports', async () => {
    const server = net.createServer((s) => { s.on('error', () => {}); s.end('HTTP/1.1 400 Bad Request\r\n\r\n') })
    const port = await listen(server)
    const err = await ClientConn.connect(`https://localhost:${port}`).catch((e) => e)
    const expected = await nodeCode(port, { servername: 'localhost' })
    expect(err).toBeInstanceOf(TlsError)
    expect(err.code).toBe(expected)
    expect(err.code).toMatch(/^ERR_SSL_/)
  })

  it('the server closes during the handshake: ECONNRESET', async () => {
    const server = net.createServer((s) => { s.on('error', () => {}); s.once('data', () => s.destroy()) })
    const port = await listen(server)
    const err = await ClientConn.connect(`https://localhost:${port}`).catch((e) => e)
    expect(err).toBeInstanceOf(SocketError)
    expect(err.code).toBe('ECONNRESET')
  })

  it('a server that never answers the handshake: connect timeout', async () => {
    const server = net.createServer((s) => { s.on('error', () => {}) })
    const port = await listen(server)
    const t0 = Date.now()
    const err = await ClientConn.connect(`https://localhost:${port}`, { connectTimeout: 200 }).catch((e) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.code).toBe('ERR_CONNECT_TIMEOUT')
    expect(Date.now() - t0).toBeLessThan(5000)
  })

  it('rejects tls options on an http: URL and bad option types', async () => {
    await expect(ClientConn.connect('http://localhost:1', { tls: {} })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(ClientConn.connect('https://localhost:1', { tls: { minVersion: 'SSLv3' as any } })).rejects.toMatchObject({ code: 'ERR_TLS_INVALID_PROTOCOL_VERSION' })
    await expect(ClientConn.connect('https://localhost:1', { tls: { ALPNProtocols: [''] } })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(ClientConn.connect('https://localhost:1', { http2: 'yes' as any })).rejects.toBeInstanceOf(InvalidArgumentError)
  })
})
