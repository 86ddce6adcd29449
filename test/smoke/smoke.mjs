// Smoke test for one prebuilt binary on a real Node of its platform (an arm64 Node under qemu
// user-mode emulation, a musl Node, ...): loads the addon named by NODE_HYPER_BINARY through the
// built package (dist/), then connects and runs HTTP/1.1, h2c, TLS (h2 and http/1.1 chosen by
// ALPN, a certificate verification failure) and aborts against servers on 127.0.0.1.
//
//   NODE_HYPER_BINARY=prebuilds/linux-arm64/node-hyper.glibc.node qemu-aarch64 node test/smoke/smoke.mjs
//
// SMOKE_EXPECT=<arch>-<glibc|musl> (optional) also checks that the running Node is that platform.
// Needs `npm run build:ts` (dist/) and the openssl CLI (for a self-signed certificate). Plain JS, no
// test runner: the Node under test may be a foreign binary without this project's devDependencies.
// Prints one line per check and a closing 'N passed, N failed'; exits 0 only when all passed.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import http2 from 'node:http2'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const binary = process.env.NODE_HYPER_BINARY
if (!binary || !fs.existsSync(binary)) {
  console.error(`smoke: NODE_HYPER_BINARY must name the addon to test (got ${JSON.stringify(binary)})`)
  process.exit(2)
}
// Guards against a hang (a lost event under emulation would otherwise never end the run).
const watchdog = setTimeout(() => { console.error('smoke: still running after 120 s, giving up'); process.exit(3) }, 120_000)

let passed = 0
let failed = 0
async function check (name, fn) {
  const t0 = Date.now()
  try {
    const detail = await fn()
    passed++
    console.log(`ok   ${name}${detail ? ` (${detail})` : ''} ${Date.now() - t0} ms`)
  } catch (err) {
    failed++
    console.log(`FAIL ${name}: ${err?.stack ?? err}`)
  }
}
function assert (cond, message) {
  if (!cond) throw new Error(message)
}
function listen (server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve(server.address().port))
  })
}

const libc = process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl'
console.log(`smoke: Node ${process.version} ${process.platform}-${process.arch} ${libc}` +
  `${libc === 'glibc' ? ` ${process.report.getReport().header.glibcVersionRuntime}` : ''}, OpenSSL ${process.versions.openssl}`)
console.log(`smoke: addon ${path.relative(root, path.resolve(binary))}`)

let hyper
await check('platform', () => {
  const expect = process.env.SMOKE_EXPECT
  if (expect) assert(`${process.arch}-${libc}` === expect, `running on ${process.arch}-${libc}, expected ${expect}`)
  return `${process.arch}-${libc}`
})
await check('load', async () => {
  hyper = await import(path.join(root, 'dist', 'esm', 'index.mjs'))
  assert(/^1\.\d+\.\d+$/.test(hyper.hyperVersion), `hyperVersion ${hyper.hyperVersion}`)
  return `hyper ${hyper.hyperVersion}`
})
if (!hyper) {
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(1)
}
const { ClientConn, AbortError, TlsError } = hyper

// A self-signed certificate for 127.0.0.1 (the TLS checks trust it through `ca`).
const pki = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-smoke-'))
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
  '-keyout', 'key.pem', '-out', 'cert.pem', '-subj', '/CN=localhost', '-days', '2',
  '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { cwd: pki, stdio: 'ignore' })
const key = fs.readFileSync(path.join(pki, 'key.pem'))
const cert = fs.readFileSync(path.join(pki, 'cert.pem'))
fs.rmSync(pki, { recursive: true, force: true })

// One handler for every server: echoes method, path and body; /stall sends a head and part of
// the body, then nothing (for the aborts); /silent never answers.
function handler (req, res) {
  if (req.url === '/silent') return
  if (req.url === '/stall') {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('partial')
    return
  }
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-http-version': req.httpVersion })
    res.end(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`)
  })
}
const h1 = http.createServer(handler)
const h2c = http2.createServer(handler)
const tls = http2.createSecureServer({ key, cert, allowHTTP1: true }, handler)
const sessions = new Set()
for (const s of [h2c, tls]) s.on('session', (sess) => { sessions.add(sess); sess.on('close', () => sessions.delete(sess)) })
const [h1Port, h2cPort, tlsPort] = await Promise.all([listen(h1), listen(h2c), listen(tls)])

async function roundTrip (conn, label) {
  const res = await conn.request({ method: 'POST', path: `/${label}`, headers: { 'content-type': 'text/plain' }, body: `hello ${label}` })
  const body = await res.body.text()
  assert(res.status === 200, `${label}: status ${res.status}`)
  assert(body === `POST /${label} hello ${label}`, `${label}: body ${JSON.stringify(body)}`)
  return res
}

await check('connect + HTTP/1.1', async () => {
  const conn = await ClientConn.connect(`http://127.0.0.1:${h1Port}`)
  try {
    assert(conn.protocol === '1.1', `protocol ${conn.protocol}`)
    const res = await roundTrip(conn, 'h1-a')
    assert(res.httpVersion === '1.1', `httpVersion ${res.httpVersion}`)
    await roundTrip(conn, 'h1-b') // keep-alive: the second request reuses the connection
  } finally { await conn.close() }
})

await check('HTTP/2 cleartext (h2c), 3 streams at once', async () => {
  const conn = await ClientConn.connect(`http://127.0.0.1:${h2cPort}`, { http2: true })
  try {
    assert(conn.protocol === '2', `protocol ${conn.protocol}`)
    const all = await Promise.all(['h2c-a', 'h2c-b', 'h2c-c'].map((l) => roundTrip(conn, l)))
    assert(all.every((r) => r.headers['x-http-version'] === '2.0'), 'server did not see HTTP/2')
  } finally { await conn.close() }
})

await check('TLS, ALPN h2', async () => {
  const conn = await ClientConn.connect(`https://127.0.0.1:${tlsPort}`, { tls: { ca: cert } })
  try {
    assert(conn.secure && conn.tls?.authorized === true, `tls ${JSON.stringify(conn.tls)}`)
    assert(conn.tls.alpnProtocol === 'h2' && conn.protocol === '2', `alpn ${conn.tls.alpnProtocol}, protocol ${conn.protocol}`)
    await roundTrip(conn, 'tls-h2')
    return `${conn.tls.protocol} ${conn.tls.cipher}`
  } finally { await conn.close() }
})

await check('TLS, ALPN http/1.1', async () => {
  const conn = await ClientConn.connect(`https://127.0.0.1:${tlsPort}`, { tls: { ca: cert }, http2: false })
  try {
    assert(conn.tls?.alpnProtocol === 'http/1.1' && conn.protocol === '1.1', `alpn ${conn.tls?.alpnProtocol}, protocol ${conn.protocol}`)
    const res = await roundTrip(conn, 'tls-h1')
    assert(res.headers['x-http-version'] === '1.1', `server saw ${res.headers['x-http-version']}`)
  } finally { await conn.close() }
})

await check('TLS verification failure is a TlsError', async () => {
  const err = await ClientConn.connect(`https://127.0.0.1:${tlsPort}`).then(async (c) => { await c.close(); return null }, (e) => e)
  assert(err instanceof TlsError, `expected a TlsError, got ${err}`)
  assert(err.code === 'DEPTH_ZERO_SELF_SIGNED_CERT', `code ${err.code}`)
  return err.code
})

await check('abort while waiting for the head (HTTP/1.1)', async () => {
  const conn = await ClientConn.connect(`http://127.0.0.1:${h1Port}`)
  try {
    const ac = new AbortController()
    const p = conn.request({ path: '/silent', signal: ac.signal })
    setTimeout(() => ac.abort(), 50)
    const err = await p.then(() => null, (e) => e)
    assert(err instanceof AbortError && err.code === 'ABORT_ERR', `expected AbortError, got ${err}`)
  } finally { conn.destroy() }
})

await check('abort mid-download (HTTP/2 over TLS), the connection stays usable', async () => {
  const conn = await ClientConn.connect(`https://127.0.0.1:${tlsPort}`, { tls: { ca: cert } })
  try {
    const ac = new AbortController()
    const res = await conn.request({ path: '/stall', signal: ac.signal })
    const it = res.body[Symbol.asyncIterator]()
    const first = await it.next()
    assert(Buffer.from(first.value).toString() === 'partial', 'first chunk')
    ac.abort()
    const err = await it.next().then(() => null, (e) => e)
    assert(err instanceof AbortError, `expected AbortError from the body, got ${err}`)
    await roundTrip(conn, 'after-abort') // only that stream was reset
  } finally { await conn.close() }
})

for (const s of sessions) s.destroy()
await Promise.all([h1, h2c, tls].map((s) => new Promise((resolve) => { s.closeAllConnections?.(); s.close(resolve) })))
clearTimeout(watchdog)
console.log(`${passed} passed, ${failed} failed`)
process.exitCode = failed === 0 ? 0 : 1
