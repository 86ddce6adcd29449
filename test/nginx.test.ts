// Interop with a server that is not Node: nginx from Debian (.ci/run installs nginx-light),
// on HTTP/1.1, h2c (prior knowledge) and TLS with ALPN (h2 and http/1.1). Skipped, loudly, when
// nginx is not installed.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { spawn, type ChildProcess, execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { ClientConn, Pool, type ConnectOptions } from '../dist/esm/index.mjs'
import { makePki, type TestPki } from './tls-certs'
import { pattern } from './helpers'

const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex')
const MiB = 1024 * 1024

function findNginx (): string | null {
  for (const p of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) if (fs.existsSync(p)) return p
  try {
    return execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim() || null
  } catch {
    return null
  }
}

async function freePort (): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as net.AddressInfo).port
  await new Promise((resolve) => s.close(resolve))
  return port
}

async function waitForPort (port: number, ms: number): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true) })
      c.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > until) throw new Error(`nginx did not listen on ${port}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const nginx = findNginx()
if (!nginx) console.warn('nginx is not installed: skipping the nginx interop tests (.ci/run installs nginx-light)')

describe.skipIf(!nginx)('interop with nginx', () => {
  let child: ChildProcess
  let pki: TestPki
  let dir: string
  const ports = { h1: 0, h2c: 0, tls: 0 }
  const big = pattern(MiB + 123)

  beforeAll(async () => {
    pki = makePki()
    dir = path.join(pki.dir, 'nginx')
    for (const d of ['www', 'www/dav', 'tmp']) fs.mkdirSync(path.join(dir, d), { recursive: true })
    fs.writeFileSync(path.join(dir, 'www', 'big.bin'), big)
    fs.writeFileSync(path.join(dir, 'cert.pem'), pki.good.cert)
    fs.writeFileSync(path.join(dir, 'key.pem'), pki.good.key)
    ports.h1 = await freePort()
    ports.h2c = await freePort()
    ports.tls = await freePort()
    const asRoot = process.getuid?.() === 0
    fs.writeFileSync(path.join(dir, 'nginx.conf'), `
daemon off;
worker_processes 1;
${asRoot ? 'user root;' : ''}
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  default_type application/octet-stream;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:${ports.h1};
    listen 127.0.0.1:${ports.h2c} http2;
    listen 127.0.0.1:${ports.tls} ssl http2;
    ssl_certificate ${dir}/cert.pem;
    ssl_certificate_key ${dir}/key.pem;
    root ${dir}/www;
    location = /hello { return 200 "hello from nginx"; }
    location /dav/ { dav_methods PUT DELETE; create_full_put_path on; client_max_body_size 64m; }
  }
}
`)
    child = spawn(nginx!, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'inherit'] })
    await Promise.all([waitForPort(ports.h1, 10_000), waitForPort(ports.h2c, 10_000), waitForPort(ports.tls, 10_000)])
  }, 30_000)

  afterAll(() => { child?.kill('SIGQUIT') })

  const variants: Array<[string, () => string, () => ConnectOptions, '1.1' | '2']> = [
    ['HTTP/1.1', () => `http://127.0.0.1:${ports.h1}`, () => ({}), '1.1'],
    ['h2c (prior knowledge)', () => `http://127.0.0.1:${ports.h2c}`, () => ({ http2: true }), '2'],
    ['TLS, ALPN h2', () => `https://localhost:${ports.tls}`, () => ({ tls: { ca: pki.ca } }), '2'],
    ['TLS, ALPN http/1.1', () => `https://localhost:${ports.tls}`, () => ({ tls: { ca: pki.ca }, http2: false }), '1.1'],
  ]

  for (const [name, origin, options, protocol] of variants) {
    it(`${name}: GET, a 1 MiB file, and a 5 MiB PUT read back`, async () => {
      const conn = await ClientConn.connect(origin(), options())
      expect(conn.protocol).toBe(protocol)
      const hello = await conn.request({ path: '/hello' })
      expect(hello.status).toBe(200)
      expect(hello.httpVersion).toBe(protocol === '2' ? '2.0' : '1.1')
      expect(String(hello.headers.server)).toMatch(/^nginx/)
      expect(await hello.body.text()).toBe('hello from nginx')

      const file = await conn.request({ path: '/big.bin' })
      expect(Number(file.headers['content-length'])).toBe(big.length)
      expect(sha(new Uint8Array(await file.body.arrayBuffer()))).toBe(sha(big))

      const name = `/dav/${crypto.randomUUID()}.bin`
      const up = pattern(5 * MiB)
      const put = await conn.request({ method: 'PUT', path: name, body: up })
      expect(put.status).toBe(201)
      await put.body.dump()
      const back = await conn.request({ path: name })
      expect(sha(new Uint8Array(await back.body.arrayBuffer()))).toBe(sha(up))

      const missing = await conn.request({ path: '/nope' })
      expect(missing.status).toBe(404)
      await missing.body.dump()
      await conn.close()
    })
  }

  it('a Pool over TLS: 200 requests, 20 at a time', async () => {
    const pool = new Pool(`https://localhost:${ports.tls}`, { tls: { ca: pki.ca }, connections: 4 })
    let next = 0
    let ok = 0
    await Promise.all(Array.from({ length: 20 }, async () => {
      while (next < 200) {
        next++
        const r = await pool.request({ path: '/hello' })
        if (r.status === 200 && (await r.body.text()) === 'hello from nginx') ok++
      }
    }))
    expect(ok).toBe(200)
    expect(pool.stats.connected).toBe(1) // ALPN h2: one multiplexed connection
    await pool.close()
  })
})
