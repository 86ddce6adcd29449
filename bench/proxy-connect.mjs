// Connect cost through a forward proxy, all on 127.0.0.1: why the CONNECT tunnel is opened
// natively (the addon's tunnel layer) rather than on a Node socket whose descriptor would be
// handed to the addon. Rows (median and p90 of N sequential connects, each closed after):
//   direct-tls        ClientConn to the https: target directly (TCP + TLS + hyper handshake)
//   native-tunnel     ClientConn to the same target through the proxy (TCP + CONNECT + TLS + hyper), all native
//   node-connect-only Node's net + http client doing just TCP + CONNECT to the proxy (the part a
//                     descriptor hand-over design would do in JS before the addon's TLS could start)
// A hand-over design costs at least node-connect-only + (direct-tls - a direct TCP connect).
// Usage: node bench/proxy-connect.mjs [N=300]   (needs the openssl CLI and a built addon/dist)
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { ClientConn } from '../dist/esm/index.mjs'

const N = Number(process.argv[2] ?? 300)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-bench-'))
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem',
  '-subj', '/CN=localhost', '-days', '2', '-addext', 'subjectAltName=DNS:localhost'], { cwd: dir, stdio: 'ignore' })
const cert = fs.readFileSync(path.join(dir, 'c.pem'), 'latin1')
const key = fs.readFileSync(path.join(dir, 'k.pem'), 'latin1')

const target = https.createServer({ cert, key }, (_req, res) => res.end('ok'))
await new Promise((r) => target.listen(0, '127.0.0.1', r))
const tport = target.address().port
const proxy = http.createServer()
proxy.on('connect', (req, sock) => {
  sock.on('error', () => {})
  const up = net.connect(tport, '127.0.0.1', () => { sock.write('HTTP/1.1 200 Connection Established\r\n\r\n'); up.pipe(sock); sock.pipe(up) })
  up.on('error', () => sock.destroy())
  sock.on('close', () => up.destroy())
})
await new Promise((r) => proxy.listen(0, '127.0.0.1', r))
const pport = proxy.address().port
const url = `https://localhost:${tport}`
const tls = { ca: cert, defaultRoots: false, sessionReuse: false }

async function measure (name, once) {
  for (let i = 0; i < 20; i++) await once() // warm-up
  const t = []
  for (let i = 0; i < N; i++) {
    const t0 = performance.now()
    await once()
    t.push(performance.now() - t0)
  }
  t.sort((a, b) => a - b)
  const q = (p) => t[Math.min(t.length - 1, Math.floor(p * t.length))].toFixed(3)
  console.log(`${name.padEnd(18)} median ${q(0.5)} ms   p90 ${q(0.9)} ms`)
}

await measure('direct-tls', async () => {
  const c = await ClientConn.connect(url, { tls, http2: false })
  c.destroy()
})
await measure('native-tunnel', async () => {
  const c = await ClientConn.connect(url, { tls, http2: false, proxy: `http://127.0.0.1:${pport}` })
  c.destroy()
})
await measure('node-connect-only', () => new Promise((resolve, reject) => {
  const req = http.request({ host: '127.0.0.1', port: pport, method: 'CONNECT', path: `localhost:${tport}`, agent: false })
  req.on('connect', (_res, socket) => { socket.destroy(); resolve() })
  req.on('error', reject)
  req.end()
}))
await measure('node-tcp-only', () => new Promise((resolve, reject) => {
  const s = net.connect(pport, '127.0.0.1', () => { s.destroy(); resolve() })
  s.on('error', reject)
}))
proxy.close()
target.close()
fs.rmSync(dir, { recursive: true, force: true })
