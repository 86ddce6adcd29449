// Exercises the native paths (connect, keep-alive reuse, uploads, dump, close, destroy
// mid-request, GC of idle connections, refused connect) for valgrind: npm run test:valgrind.
import http from 'node:http'
import net from 'node:net'
import { ClientConn } from '../../dist/esm/index.mjs'
const server = http.createServer((req, res) => { let n=0; req.on('data', c => n += c.length); req.on('end', () => res.end('x'.repeat(n || 1000))) })
await new Promise(r => server.listen(0, '127.0.0.1', r))
const port = server.address().port
for (let i = 0; i < 20; i++) {
  const conn = await ClientConn.connect({ host: '127.0.0.1', port })
  const r = await conn.request({ method: 'POST', path: '/', body: Buffer.alloc(100000) })
  await r.body.text()
  const r2 = conn.request({ path: '/' }); const r3 = conn.request({ path: '/' })
  await (await r2).body.dump(); await (await r3).body.text()
  if (i % 2) conn.destroy(); else await conn.close()
}
// whole-body reads the addon copies into one buffer (collect), one given up midway
{
  const big = http.createServer((req, res) => {
    res.setHeader('content-length', 3 << 20)
    res.write(Buffer.alloc(1 << 20, 1))
    if (req.url === '/all') res.end(Buffer.alloc(2 << 20, 2))
  })
  await new Promise(r => big.listen(0, '127.0.0.1', r))
  const conn = await ClientConn.connect({ host: '127.0.0.1', port: big.address().port })
  const whole = await (await conn.request({ path: '/all' })).body.bytes()
  if (whole.length !== 3 << 20 || whole[0] !== 1 || whole[whole.length - 1] !== 2) throw new Error('collect: wrong bytes')
  const ac = new AbortController()
  const half = (await conn.request({ path: '/half', signal: ac.signal })).body.bytes().catch(e => e.code)
  setTimeout(() => ac.abort(), 50)
  console.log('collect', whole.length, await half)
  conn.destroy(); big.closeAllConnections(); big.close()
  gc()
}
// mid-request destroy and GC'd connections
for (let i = 0; i < 10; i++) {
  const conn = await ClientConn.connect({ host: '127.0.0.1', port })
  const p = conn.request({ path: '/' }).catch(e => e.code)
  conn.destroy()
  await p
}
for (let i = 0; i < 10; i++) { const c = await ClientConn.connect({ host: '127.0.0.1', port }); await (await c.request({})).body.text() }
gc()
// refused
const s = net.createServer(); await new Promise(r => s.listen(0, '127.0.0.1', r)); const dead = s.address().port; s.close()
await ClientConn.connect({ host: '127.0.0.1', port: dead }).catch(e => console.log(e.code))
server.closeAllConnections(); server.close()
console.log('done')

// Streaming uploads, aborts at several points, timeouts and 1xx (native paths added for
// streaming, cancellation and timers).
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const streamSrv = http.createServer(async (req, res) => {
  req.on('error', () => {})
  res.on('error', () => {})
  if (req.url === '/hang') return
  if (req.url === '/info') {
    res.writeEarlyHints({ link: '</a.css>; rel=preload' })
  }
  let n = 0
  try { for await (const c of req) n += c.length } catch { return }
  res.writeHead(200)
  for (let i = 0; i < 4 && !res.destroyed; i++) { res.write(`${n}:${i};`); await new Promise((r) => setImmediate(r)) }
  res.end()
})
await new Promise((r) => streamSrv.listen(0, '127.0.0.1', r))
const sport = streamSrv.address().port
for (let point = 0; point < 12; point++) {
  const ac = new AbortController()
  const conn = await ClientConn.connect({ host: '127.0.0.1', port: sport })
  let step = 0
  const maybeAbort = () => { if (step++ === point) ac.abort() }
  async function * upload () { for (let i = 0; i < 4; i++) { maybeAbort(); yield Buffer.alloc(300000, i); await sleep(1) } }
  try {
    const res = await conn.request({ method: 'POST', path: '/info', body: upload(), signal: ac.signal, onInformational: () => {} })
    maybeAbort()
    for await (const _ of res.body) maybeAbort()
  } catch (e) { if (!e.code) throw e }
  conn.destroy()
}
{
  const conn = await ClientConn.connect({ host: '127.0.0.1', port: sport }, { headersTimeout: 50 })
  const a = conn.request({ path: '/hang' }).catch((e) => e.code)
  const b = conn.request({ path: '/hang' }).catch((e) => e.code)
  console.log(await a, await b)
}
streamSrv.closeAllConnections()
streamSrv.close()
console.log('streaming done')

// HTTP/2 (h2c): multiplexed requests, an abandoned stream, a reset stream, a stream timeout.
import http2 from 'node:http2'
const h2 = http2.createServer()
h2.on('stream', (stream, headers) => {
  stream.on('error', () => {})
  if (headers[':path'] === '/hang') return
  if (headers[':path'] === '/reset') return stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
  stream.respond({ ':status': 200 })
  stream.end('h2 ' + headers[':path'])
})
await new Promise((r) => h2.listen(0, '127.0.0.1', r))
{
  const conn = await ClientConn.connect(`http://127.0.0.1:${h2.address().port}`, { http2: true })
  const ac = new AbortController()
  const hung = conn.request({ path: '/hang', signal: ac.signal }).catch((e) => e.code)
  const timed = conn.request({ path: '/hang', headersTimeout: 30 }).catch((e) => e.code)
  const reset = conn.request({ path: '/reset' }).catch((e) => e.code)
  const many = Promise.all(Array.from({ length: 50 }, (_, i) => conn.request({ path: '/' + i, method: 'POST', body: 'x'.repeat(i * 100) }).then((r) => r.body.text())))
  ac.abort()
  console.log(await hung, await timed, await reset, (await many).length)
  await conn.close()
}
h2.close()
console.log('h2 done')

// TLS: handshakes (verified, failed verification, rejectUnauthorized: false, session resumption),
// h1 and h2 over TLS with uploads, a peer that closes mid-handshake, close_notify on close.
import https from 'node:https'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
{
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-vg-'))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem',
    '-subj', '/CN=localhost', '-days', '2', '-addext', 'subjectAltName=DNS:localhost'], { cwd: dir, stdio: 'ignore' })
  const cert = fs.readFileSync(path.join(dir, 'c.pem'), 'latin1')
  const key = fs.readFileSync(path.join(dir, 'k.pem'), 'latin1')
  const tlsSrv = https.createServer({ cert, key }, (req, res) => { let n = 0; req.on('data', (c) => { n += c.length }); req.on('end', () => res.end('t'.repeat(n || 2000))) })
  await new Promise((r) => tlsSrv.listen(0, '127.0.0.1', r))
  const url = `https://localhost:${tlsSrv.address().port}`
  for (let i = 0; i < 4; i++) {
    const conn = await ClientConn.connect(url, { tls: { ca: cert, defaultRoots: false } })
    const r = await conn.request({ method: 'POST', body: Buffer.alloc(200000) })
    await r.body.text()
    await (await conn.request({})).body.dump()
    if (i % 2) conn.destroy(); else await conn.close()
  }
  console.log(await ClientConn.connect(url).catch((e) => e.code))
  const insecure = await ClientConn.connect(url, { tls: { rejectUnauthorized: false } })
  await (await insecure.request({})).body.text()
  insecure.destroy()
  const h2s = http2.createSecureServer({ cert, key })
  h2s.on('stream', (stream) => { stream.on('error', () => {}); stream.respond({ ':status': 200 }); stream.end('x'.repeat(30000)) })
  await new Promise((r) => h2s.listen(0, '127.0.0.1', r))
  const c2 = await ClientConn.connect(`https://localhost:${h2s.address().port}`, { tls: { ca: cert, defaultRoots: false } })
  console.log(c2.protocol, (await Promise.all(Array.from({ length: 20 }, () => c2.request({ method: 'POST', body: 'y'.repeat(5000) }).then((r) => r.body.text())))).length)
  await c2.close()
  const rude = net.createServer((s) => { s.on('error', () => {}); s.once('data', () => s.destroy()) })
  await new Promise((r) => rude.listen(0, '127.0.0.1', r))
  console.log(await ClientConn.connect(`https://localhost:${rude.address().port}`).catch((e) => e.code))
  rude.close(); h2s.close(); tlsSrv.closeAllConnections(); tlsSrv.close()
  fs.rmSync(dir, { recursive: true, force: true })
  console.log('tls done')
}

// Happy eyeballs (the native connect race) and forward proxies (the CONNECT tunnel layer, TLS to
// the proxy with TLS to the target inside it).
import { Worker } from 'node:worker_threads'
{
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-vg-'))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem',
    '-subj', '/CN=localhost', '-days', '2', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { cwd: dir, stdio: 'ignore' })
  const cert = fs.readFileSync(path.join(dir, 'c.pem'), 'latin1')
  const key = fs.readFileSync(path.join(dir, 'k.pem'), 'latin1')
  const tls = { ca: cert, defaultRoots: false }
  const target = http.createServer((req, res) => res.end('plain'))
  await new Promise((r) => target.listen(0, '127.0.0.1', r))
  const tport = target.address().port
  const secure = https.createServer({ cert, key }, (req, res) => { let n = 0; req.on('data', (c) => { n += c.length }); req.on('end', () => res.end('s'.repeat(n || 70000))) })
  await new Promise((r) => secure.listen(0, '127.0.0.1', r))
  const sport = secure.address().port
  // the race: a refused address first, then the live one; every address refused
  const lookup = (list) => (h, o, cb) => o.all ? cb(null, list) : cb(null, list[0].address, list[0].family)
  const refusedFirst = [{ address: '127.0.0.2', family: 4 }, { address: '127.0.0.1', family: 4 }]
  for (let i = 0; i < 4; i++) {
    const c = await ClientConn.connect(`http://race.test:${tport}`, { lookup: lookup(refusedFirst) })
    await (await c.request({})).body.text()
    await c.close()
  }
  const s0 = net.createServer(); await new Promise((r) => s0.listen(0, '127.0.0.1', r)); const dead = s0.address().port; s0.close()
  console.log(await ClientConn.connect(`http://race.test:${dead}`, { lookup: lookup(refusedFirst) }).catch((e) => `${e.code} ${e.errors.length}`))
  // a black hole (a full, never-accepting listener) raced, timed out and aborted
  const flag = new SharedArrayBuffer(4)
  const w = new Worker(`const { workerData, parentPort } = require('node:worker_threads'); const s = require('node:net').createServer();
    s.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => { parentPort.postMessage(s.address().port); Atomics.wait(new Int32Array(workerData), 0, 0); s.close() })`, { eval: true, workerData: flag })
  const hport = await new Promise((r) => w.once('message', r))
  const fillers = []
  for (let i = 0; i < 16; i++) {
    const f = net.connect(hport, '127.0.0.1'); f.on('error', () => {}); fillers.push(f)
    if (!(await Promise.race([new Promise((r) => f.once('connect', () => r(true))), sleep(300).then(() => false)]))) break
  }
  const hole = [{ address: '127.0.0.1', family: 4 }, { address: '127.0.0.3', family: 4 }]
  console.log(await ClientConn.connect(`http://hole.test:${hport}`, { lookup: lookup(hole), connectTimeout: 400 }).catch((e) => e.code))
  const ac = new AbortController(); setTimeout(() => ac.abort(), 100)
  console.log(await ClientConn.connect(`http://hole.test:${hport}`, { lookup: lookup(hole), signal: ac.signal, autoSelectFamilyAttemptTimeout: 10_000 }).catch((e) => e.code))
  for (const f of fillers) f.destroy()
  Atomics.store(new Int32Array(flag), 0, 1); Atomics.notify(new Int32Array(flag), 0); await w.terminate()
  // a forward proxy (absolute form and CONNECT), plain and over TLS
  const onConnect = (req, sock) => {
    sock.on('error', () => {})
    if (req.headers['proxy-authorization'] !== 'Bearer vg') { sock.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Bearer\r\nContent-Length: 0\r\n\r\n'); return }
    const [h, p] = req.url.split(':')
    const up = net.connect(Number(p), h === 'localhost' ? '127.0.0.1' : h, () => { sock.write('HTTP/1.1 200 OK\r\n\r\n'); up.pipe(sock); sock.pipe(up) })
    up.on('error', () => sock.destroy()); sock.on('close', () => up.destroy())
  }
  const onRequest = (req, res) => { const u = new URL(req.url); http.get({ host: '127.0.0.1', port: u.port, path: u.pathname }, (r) => { res.writeHead(r.statusCode); r.pipe(res) }) }
  const proxies = [http.createServer(onRequest), https.createServer({ cert, key }, onRequest)]
  for (const p of proxies) { p.on('connect', onConnect); await new Promise((r) => p.listen(0, '127.0.0.1', r)) }
  const [pp, tp] = proxies.map((p) => p.address().port)
  for (const proxy of [{ uri: `http://127.0.0.1:${pp}`, token: 'Bearer vg' }, { uri: `https://127.0.0.1:${tp}`, token: 'Bearer vg', tls }]) {
    for (let i = 0; i < 3; i++) {
      const c = await ClientConn.connect(`https://localhost:${sport}`, { proxy, tls, http2: false })
      const r = await c.request({ method: 'POST', body: Buffer.alloc(150000) })
      await r.body.text()
      if (i % 2) c.destroy(); else await c.close()
    }
    const h = await ClientConn.connect(`http://localhost:${tport}`, { proxy })
    await (await h.request({ path: '/abs' })).body.text()
    await h.close()
    console.log(await ClientConn.connect(`https://localhost:${sport}`, { proxy: { ...proxy, token: 'Bearer no' }, tls }).catch((e) => `${e.code} ${e.statusCode}`))
  }
  const garbage = net.createServer((s) => { s.on('error', () => {}); s.once('data', () => s.end('garbage\r\n\r\n')) })
  await new Promise((r) => garbage.listen(0, '127.0.0.1', r))
  console.log(await ClientConn.connect(`https://localhost:${sport}`, { proxy: `http://127.0.0.1:${garbage.address().port}`, tls }).catch((e) => e.code))
  garbage.close(); for (const p of proxies) { p.closeAllConnections(); p.close() }
  target.closeAllConnections(); target.close(); secure.closeAllConnections(); secure.close()
  fs.rmSync(dir, { recursive: true, force: true })
  gc()
  console.log('netreach done')
}
