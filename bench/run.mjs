// npm run bench: node-hyper against its peers and the C ceiling, one scenario after another, all
// in one run. The server is nginx (one worker pinned to core 0); every client runs in its own
// process pinned to core 1; clients of a scenario are interleaved, median of BENCH_RUNS runs.
//
//   BENCH_SCENARIOS=h1-1k,h2c-1k  only these scenarios (default: all)
//   BENCH_CLIENTS=node-hyper,undici  only these clients (default: each scenario's list)
//   BENCH_DURATION / BENCH_WARMUP (ms), BENCH_RUNS, BENCH_IDLE_CONNS
//   BENCH_CHUNKED_PER_WRITE  16-byte chunks per socket write of the chunked-16 upstream (16)
//   BENCH_NODE_ARGS (e.g. --cpu-prof), BENCH_WRAP (e.g. "perf record -g --") for profiling
//   BENCH_BASELINE=/path/to/another/node-hyper checkout (built): every node-hyper client also runs
//     from there, as '<client> @base', interleaved with this checkout's (A/B of a change)
// A client name ending in ' + diagnostics' is that client with a no-op subscriber on every
// undici diagnostics_channel channel (client.mjs): the cost of being observed.
import { spawn, spawnSync, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import net from 'node:net'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createRequire } from 'node:module'
import { chartSvg } from './chart.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const DURATION = Number(process.env.BENCH_DURATION ?? 3000)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1000)
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const IDLE_CONNS = Number(process.env.BENCH_IDLE_CONNS ?? 10000)
const CHUNKED_PER_WRITE = Number(process.env.BENCH_CHUNKED_PER_WRITE ?? 16)
const ONLY_SCENARIOS = process.env.BENCH_SCENARIOS?.split(',')
const ONLY_CLIENTS = process.env.BENCH_CLIENTS?.split(',')
const BASELINE = process.env.BENCH_BASELINE ? path.resolve(process.env.BENCH_BASELINE) : undefined
const DIAG = ' + diagnostics'
const BASE = ' @base'
const HZ = 100 // USER_HZ for /proc/<pid>/stat
const KiB = 1024
const MiB = 1024 * 1024

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0
const pin = (core, argv) => (has('taskset') ? ['taskset', '-c', String(core), ...argv] : argv)
let hasDispatcher = false
try {
  hasDispatcher = typeof (await import('node-hyper')).HyperDispatcher === 'function'
} catch {}

// kind: 'rps' (small requests: CPU per request is the figure), 'transfer' (MiB/s), 'stream'
// (a chunked body from the chunked upstream: CPU per MiB, chunks handed to the consumer and read
// syscalls per MiB), 'proxy', 'idle' (RSS).
// 'node-hyper via undici' / 'node-hyper via undici fetch' are undici's request() / fetch() on
// HyperDispatcher; 'undici request()' / 'undici fetch' the same calls on undici's own Agent with the
// same connection count (the like-for-like pairs); 'undici' is undici's Pool.request.
const SCENARIOS = [
  { id: 'h1-1k', title: 'HTTP/1.1 GET 1 KiB, 32 connections', kind: 'rps', proto: 'h1', path: '/1k', expectLen: KiB, conns: 32, inflight: 1,
    clients: ['node-hyper', 'node-hyper Pool', 'node-hyper via undici', 'node-hyper via undici fetch', 'undici', 'undici request()', 'undici request() floor', 'undici fetch', 'node:http', 'wrk',
      `node-hyper Pool${DIAG}`, `node-hyper via undici${DIAG}`, `undici request()${DIAG}`] },
  { id: 'h1-0', title: 'HTTP/1.1 GET 0 B, 32 connections', kind: 'rps', proto: 'h1', path: '/0', expectLen: 0, conns: 32, inflight: 1,
    clients: ['node-hyper', 'undici', 'node:http', 'wrk'] },
  // undici 7 speaks h2c with prior knowledge only through its H2CClient: 'undici fetch' here is an
  // undici Agent whose factory makes H2CClients.
  { id: 'h2c-1k', title: 'h2c GET 1 KiB, 1 connection, 100 streams', kind: 'rps', proto: 'h2c', path: '/1k', expectLen: KiB, conns: 1, inflight: 100,
    clients: ['node-hyper', 'node-hyper via undici fetch', 'undici fetch', 'node:http2', 'h2load'] },
  { id: 'download-1m', title: 'HTTP/1.1 1 MiB download, 1 connection', kind: 'transfer', proto: 'h1', path: '/1m', expectLen: MiB, conns: 1, inflight: 1,
    clients: ['node-hyper', 'node-hyper bytes()', 'node-hyper via undici', 'undici', 'undici arrayBuffer()', 'undici request()', 'undici request() floor', 'node:http', 'wrk'] },
  { id: 'upload-1m', title: 'HTTP/1.1 1 MiB upload, 1 connection', kind: 'transfer', proto: 'h1', path: '/upload', method: 'POST', bodySize: MiB, expectLen: 0, conns: 1, inflight: 1,
    clients: ['node-hyper', 'undici', 'node:http', 'wrk'] },
  { id: 'tls-h1-1k', title: 'TLS HTTP/1.1 GET 1 KiB, 32 connections', kind: 'rps', proto: 'tls-h1', path: '/1k', expectLen: KiB, conns: 32, inflight: 1,
    clients: ['node-hyper', 'node-hyper via undici', 'undici', 'undici request()', 'undici request() floor', 'node:http', 'wrk'] },
  { id: 'tls-h2-1k', title: 'TLS h2 GET 1 KiB, 1 connection, 100 streams', kind: 'rps', proto: 'tls-h2', path: '/1k', expectLen: KiB, conns: 1, inflight: 100,
    clients: ['node-hyper', 'node-hyper via undici fetch', 'undici', 'undici fetch', 'node:http2', 'h2load'] },
  // 1 MiB as 65,536 chunks of 16 bytes from chunked-server.mjs (not nginx), one connection.
  { id: 'chunked-16', title: 'Chunked stream: 1 MiB as 16-byte chunks, 1 connection', kind: 'stream', proto: 'h1', upstream: 'chunked', path: '/chunked16', expectLen: MiB, conns: 1, inflight: 1,
    countReads: true, clients: ['node-hyper', 'node-hyper via undici', 'node-hyper via undici fetch', 'undici request()', 'undici fetch', 'node:http'] },
  { id: 'proxy', title: 'Reverse proxy, GET 1 KiB through it, 32 connections (wrk -> proxy -> nginx)', kind: 'proxy', proto: 'h1', path: '/1k', expectLen: KiB, conns: 32, inflight: 1,
    clients: ['node-hyper', 'undici', 'http-proxy'] },
  { id: 'idle', title: `${IDLE_CONNS} idle keep-alive connections`, kind: 'idle', proto: 'h1', path: '/0', expectLen: 0, conns: IDLE_CONNS, inflight: 1,
    clients: ['node-hyper', 'undici', 'node:http'] },
]

// Targets (issues #11 and #17, and the first benchmark plan's upload, proxy, idle and TLS h1
// targets): the ratio of `client` (default node-hyper) to `peer`, both medians measured in the same
// run; or an absolute bound.
const TARGETS = [
  { scenario: 'h1-1k', metric: 'cpuPerReq', peer: 'undici', max: 0.7, text: 'ClientConn CPU/request at most 0.7x undici Pool.request' },
  { scenario: 'h1-1k', metric: 'cpuPerReq', peer: 'undici', max: 0.5, text: 'stretch: ClientConn CPU/request at most 0.5x undici Pool.request' },
  { scenario: 'h1-1k', client: 'node-hyper Pool', metric: 'cpuPerReq', peer: 'node-hyper', max: 1.05, text: 'node-hyper Pool CPU/request within 5% of ClientConn' },
  { scenario: 'h1-1k', client: 'node-hyper via undici', metric: 'cpuPerReq', peer: 'undici request()', max: 0.8, text: 'undici request() on HyperDispatcher at most 0.8x on undici Agent (CPU/request)' },
  { scenario: 'h1-1k', client: 'node-hyper via undici fetch', metric: 'cpuPerReq', peer: 'undici fetch', max: 1, text: 'undici fetch on HyperDispatcher at most 1.0x on undici Agent (CPU/request)' },
  // Not targets: how much of the same call on undici's Agent undici's request() layer costs by
  // itself ('undici request() floor', a dispatcher answering from memory). A HyperDispatcher row's
  // ratio can never be below this one.
  { scenario: 'h1-1k', client: 'undici request() floor', metric: 'cpuPerReq', peer: 'undici request()', floor: 0.8, text: "floor: undici's request() layer alone (no dispatcher work) vs the call on undici Agent" },
  { scenario: 'h2c-1k', metric: 'cpuPerReq', peer: 'node:http2', max: 0.55, text: 'client CPU/request at most 0.55x node:http2' },
  { scenario: 'h2c-1k', client: 'node-hyper via undici fetch', metric: 'cpuPerReq', peer: 'undici fetch', max: 1, text: 'undici fetch on HyperDispatcher at most 1.0x on undici H2CClient Agent (CPU/request)' },
  { scenario: 'download-1m', metric: 'mibps', peer: 'wrk', min: 0.85, text: 'ClientConn MiB/s at least 85% of wrk' },
  { scenario: 'download-1m', client: 'node-hyper via undici', metric: 'mibps', peer: 'undici request()', min: 1.5, text: 'undici request() on HyperDispatcher at least 1.5x MiB/s of undici Agent' },
  { scenario: 'download-1m', client: 'undici request() floor', metric: 'cpuPerReq', peer: 'undici request()', floor: 1 / 1.5, text: "floor: undici's request() layer alone, CPU/MiB vs the call on undici Agent (1.5x MiB/s needs ≤ 0.67x)" },
  { scenario: 'upload-1m', metric: 'mibps', peer: 'wrk', min: 0.8, text: 'MiB/s at least 80% of wrk' },
  { scenario: 'tls-h1-1k', metric: 'cpuPerReq', peer: 'undici', max: 0.6, text: 'ClientConn CPU/request at most 0.6x undici Pool.request' },
  { scenario: 'tls-h1-1k', client: 'node-hyper via undici', metric: 'cpuPerReq', peer: 'undici request()', max: 0.8, text: 'undici request() on HyperDispatcher at most 0.8x on undici Agent (CPU/request)' },
  { scenario: 'tls-h1-1k', client: 'undici request() floor', metric: 'cpuPerReq', peer: 'undici request()', floor: 0.8, text: "floor: undici's request() layer alone (no dispatcher work) vs the call on undici Agent" },
  { scenario: 'tls-h2-1k', metric: 'cpuPerReq', peer: 'node:http2', max: 0.55, text: 'client CPU/request at most 0.55x node:http2' },
  { scenario: 'tls-h2-1k', client: 'node-hyper via undici fetch', metric: 'cpuPerReq', peer: 'undici fetch', max: 1, text: 'undici fetch on HyperDispatcher at most 1.0x on undici Agent allowH2 (CPU/request)' },
  { scenario: 'chunked-16', metric: 'cpuMsPerMiB', peer: 'undici request()', max: 0.7, text: 'ClientConn CPU/MiB at most 0.7x undici request() on undici Agent' },
  { scenario: 'chunked-16', client: 'node-hyper via undici', metric: 'cpuMsPerMiB', peer: 'undici request()', max: 0.7, text: 'undici request() on HyperDispatcher CPU/MiB at most 0.7x on undici Agent' },
  { scenario: 'chunked-16', client: 'node-hyper via undici fetch', metric: 'cpuMsPerMiB', peer: 'undici fetch', max: 0.7, text: 'undici fetch on HyperDispatcher CPU/MiB at most 0.7x on undici Agent' },
  { scenario: 'proxy', metric: 'cpuPerReq', peer: 'undici', max: 1, text: 'proxy CPU/request below the same proxy on undici' },
  { scenario: 'idle', metric: 'rssPerConnKiB', absoluteMax: 16, text: 'under 16 KiB RSS per idle connection' },
]

async function freePort () {
  const s = net.createServer()
  await new Promise((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address()
  await new Promise((r) => s.close(r))
  return port
}

function cpuTicks (pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12]) // utime + stime
  } catch {
    return 0
  }
}

async function waitPort (port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true) })
      s.on('error', () => r(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`server did not listen on ${port}`)
}

// A CA and a localhost certificate for the TLS listeners (openssl CLI).
function makeCert (dir) {
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=bench CA', '-days', '2',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'])
  run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=localhost'])
  fs.writeFileSync(path.join(dir, 'leaf.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n')
  run(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '2', '-extfile', 'leaf.ext'])
}

async function startNginx () {
  if (!has('nginx')) throw new Error('nginx not found: run `npm run setup` in bench/ (Debian nginx-light, wrk, nghttp2-client)')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-bench-'))
  for (const d of ['www', 'tmp']) fs.mkdirSync(path.join(dir, d))
  fs.writeFileSync(path.join(dir, 'www', '0'), '')
  fs.writeFileSync(path.join(dir, 'www', '1k'), 'x'.repeat(KiB))
  fs.writeFileSync(path.join(dir, 'www', '64k'), 'x'.repeat(64 * KiB))
  fs.writeFileSync(path.join(dir, 'www', '1m'), 'x'.repeat(MiB))
  makeCert(dir)
  const ports = { h1: await freePort(), h2c: await freePort(), tls: await freePort(), sink: await freePort() }
  const root = process.getuid?.() === 0
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `
${root ? 'user root;' : ''}
worker_processes 1;
worker_rlimit_nofile 30000;
master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log error;
events { worker_connections 24000; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  http2_max_requests 100000000;
  http2_max_concurrent_streams 128;
  client_body_temp_path ${dir}/tmp;
  proxy_temp_path ${dir}/tmp;
  default_type application/octet-stream;
  upstream sink { server 127.0.0.1:${ports.sink}; keepalive 8; }
  server {
    listen 127.0.0.1:${ports.h1} backlog=4096;
    listen 127.0.0.1:${ports.h2c} http2 backlog=4096;
    listen 127.0.0.1:${ports.tls} ssl http2 backlog=4096;
    ssl_certificate ${dir}/leaf.pem;
    ssl_certificate_key ${dir}/leaf.key;
    ssl_session_cache shared:SSL:10m;
    root ${dir}/www;
    location / { }
    # Upload sink: nginx reads the whole body into memory, then answers from an internal
    # server without forwarding it (the body costs the server one read).
    location /upload {
      client_max_body_size 0;
      client_body_buffer_size 2m;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_pass http://sink;
    }
  }
  server {
    listen 127.0.0.1:${ports.sink};
    location / { return 200 ""; }
  }
}
`)
  const argv = pin(0, ['nginx', '-p', dir, '-c', path.join(dir, 'nginx.conf')])
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' })
  for (const p of Object.values(ports)) await waitPort(p)
  return {
    kind: 'nginx 1 worker', ports, pid: child.pid, ca: path.join(dir, 'ca.pem'), dir,
    stop: () => { child.kill('SIGQUIT'); setTimeout(() => fs.rmSync(dir, { recursive: true, force: true }), 500).unref() },
  }
}

function portFor (server, proto) {
  return proto === 'h1' ? server.ports.h1 : proto === 'h2c' ? server.ports.h2c : server.ports.tls
}

// The chunked-16 upstream (chunked-server.mjs), pinned to core 0 next to the idle nginx. The
// scenario's "server CPU" is this process's.
async function startChunkedServer () {
  const argv = pin(0, [process.execPath, path.join(here, 'chunked-server.mjs'), String(CHUNKED_PER_WRITE)])
  const child = spawn(argv[0], argv.slice(1), { cwd: here, stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())))
    child.once('exit', (code) => reject(new Error(`chunked-server.mjs exited ${code}`)))
  })
  // With taskset in front, child.pid is taskset's until it execs node: the same pid.
  return { kind: `chunked-server.mjs, ${CHUNKED_PER_WRITE} chunks per write`, pid: child.pid, port, stop: () => child.kill('SIGTERM') }
}

function runNodeClient (sc, client, server, mode = 'load', upstream = null) {
  return new Promise((resolve, reject) => {
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)
    const wrap = (process.env.BENCH_WRAP ?? '').split(' ').filter(Boolean)
    const base = client.endsWith(BASE)
    const name = base ? client.slice(0, -BASE.length) : client
    const diagnostics = name.endsWith(DIAG)
    const cfg = {
      client: diagnostics ? name.slice(0, -DIAG.length) : name, diagnostics, hyperPath: base ? pathToFileURL(path.join(BASELINE, 'dist', 'esm', 'index.mjs')).href : undefined, mode, proto: sc.proto, port: upstream ? upstream.port : portFor(server, sc.proto), path: sc.path, method: sc.method, bodySize: sc.bodySize,
      expectLen: sc.expectLen, conns: sc.conns, inflight: sc.inflight, warmupMs: WARMUP, durationMs: DURATION, ca: server.ca,
      countReads: Boolean(sc.countReads) && wrap.length === 0,
    }
    const argv = pin(1, [...wrap, process.execPath, '--expose-gc', ...nodeArgs, path.join(here, 'client.mjs'), JSON.stringify(cfg)])
    const child = spawn(argv[0], argv.slice(1), { cwd: here, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.on('exit', (code) => code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`${client} exited ${code}`)))
  })
}

// `time` around a C client: its user+sys CPU.
function timed (argv) {
  const r = spawnSync('bash', ['-c', `TIMEFORMAT='%U %S'; time ${argv.map((a) => `'${a}'`).join(' ')}`], { encoding: 'utf8', maxBuffer: 64 * MiB })
  if (r.status !== 0) throw new Error(`${argv[0]} failed: ${r.stderr}`)
  const [user, sys] = r.stderr.trim().split('\n').pop().split(' ').map(Number)
  return { stdout: r.stdout, cpuMicros: (user + sys) * 1e6 }
}

function runWrk (sc, server, core = 1) {
  const secs = Math.max(1, Math.round(DURATION / 1000))
  const scheme = sc.proto === 'tls-h1' ? 'https' : 'http'
  const host = scheme === 'https' ? 'localhost' : '127.0.0.1'
  const args = ['wrk', '-t1', `-c${sc.conns}`, `-d${secs}s`, '--latency']
  if (sc.method === 'POST') {
    const script = path.join(server.dir, 'post.lua')
    fs.writeFileSync(script, `wrk.method = "POST"\nwrk.body = string.rep("x", ${sc.bodySize})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`)
    args.push('-s', script)
  }
  args.push(`${scheme}://${host}:${portFor(server, sc.proto)}${sc.path}`)
  const { stdout, cpuMicros } = timed(pin(core, args))
  const total = Number(/(\d+) requests in/.exec(stdout)[1])
  const elapsed = Number(/requests in ([\d.]+)s/.exec(stdout)[1])
  const errs = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)
  const sockErrs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout)
  const ms = (label) => {
    const m = new RegExp(`${label}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout)
    if (!m) return 0
    return Number(m[1]) * (m[2] === 'us' ? 1 : m[2] === 'ms' ? 1000 : 1e6)
  }
  return {
    client: 'wrk', requests: total, elapsed, cpuMicros, bytes: total * (sc.expectLen + (sc.bodySize ?? 0)),
    errors: (errs ? Number(errs[1]) : 0) + (sockErrs ? sockErrs.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
    p50: ms('50'), p99: ms('99'), rss: 0,
  }
}

function runH2load (sc, server) {
  const secs = Math.max(1, Math.round(DURATION / 1000))
  const scheme = sc.proto === 'tls-h2' ? 'https' : 'http'
  const host = scheme === 'https' ? 'localhost' : '127.0.0.1'
  const { stdout, cpuMicros } = timed(pin(1, ['h2load', '-t1', `-c${sc.conns}`, `-m${sc.inflight}`, `-D${secs}`, `--warm-up-time=${Math.max(1, Math.round(WARMUP / 1000))}`,
    `${scheme}://${host}:${portFor(server, sc.proto)}${sc.path}`]))
  const done = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout)
  const finished = /finished in ([\d.]+)(ms|s)/.exec(stdout)
  const elapsed = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1)
  const mean = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(stdout)
  const meanUs = mean ? Number(mean[1]) * (mean[2] === 'us' ? 1 : mean[2] === 'ms' ? 1000 : 1e6) : 0
  const ok = Number(done[2])
  // h2load's CPU includes its warm-up; scale it to the measured window.
  const warm = Math.max(1, Math.round(WARMUP / 1000))
  return {
    client: 'h2load', requests: ok, elapsed, cpuMicros: cpuMicros * (elapsed / (elapsed + warm)), bytes: ok * sc.expectLen,
    errors: Number(done[3]) + Number(done[4]), p50: meanUs, p99: 0, rss: 0, latencyIsMean: true,
  }
}

// The proxy scenario: the proxy process (examples/proxy.ts, the same code on undici, or
// http-proxy) is pinned to core 1 alone; wrk drives it from core 0 (next to nginx, which serves
// 1 KiB files cheaply). The figure is the proxy's CPU per request.
function ensureProxyBuilt () {
  const out = path.join(here, '..', 'build', 'examples', 'proxy.js')
  const src = path.join(here, '..', 'examples', 'proxy.ts')
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= fs.statSync(src).mtimeMs) return
  execFileSync(process.execPath, [path.join(here, '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(here, '..', 'examples')], { stdio: 'inherit' })
}

async function runProxy (sc, kind, server) {
  const port = await freePort()
  const argv = pin(1, [process.execPath, path.join(here, 'proxy-server.mjs'), kind, `http://127.0.0.1:${server.ports.h1}`, String(port)])
  const child = spawn(argv[0], argv.slice(1), { cwd: here, stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    await new Promise((resolve, reject) => {
      child.stdout.once('data', resolve)
      child.once('exit', (code) => reject(new Error(`proxy ${kind} exited ${code}`)))
    })
    // Warm up (JIT, upstream connections), then measure.
    const warm = Math.max(1, Math.round(WARMUP / 1000))
    timed(pin(0, ['wrk', '-t1', `-c${sc.conns}`, `-d${warm}s`, `http://127.0.0.1:${port}${sc.path}`]))
    const c0 = cpuTicks(child.pid)
    const r = runWrk({ ...sc, proto: 'h1' }, { ...server, ports: { ...server.ports, h1: port } }, 0)
    r.cpuMicros = (cpuTicks(child.pid) - c0) / HZ * 1e6 // the proxy's CPU, not wrk's
    r.rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024
    r.client = kind
    return r
  } finally {
    child.kill()
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }

const server = await startNginx()
const results = []
console.log(`server: ${server.kind} on core 0; clients on core 1; ${WARMUP} ms warm-up + ${DURATION} ms, median of ${RUNS} runs`)
for (const sc of SCENARIOS) {
  if (ONLY_SCENARIOS && !ONLY_SCENARIOS.includes(sc.id)) continue
  const listed = BASELINE && sc.kind !== 'proxy' ? sc.clients.flatMap((c) => c.startsWith('node-hyper') ? [c, c + BASE] : [c]) : sc.clients
  const clients = listed.filter((c) => (!ONLY_CLIENTS || ONLY_CLIENTS.includes(c.endsWith(BASE) ? c.slice(0, -BASE.length) : c)) &&
    (c !== 'wrk' || has('wrk')) && (c !== 'h2load' || has('h2load')) && (!c.startsWith('node-hyper via undici') || hasDispatcher) &&
    (sc.kind !== 'proxy' || has('wrk')))
  if (clients.length === 0) continue
  if (sc.kind === 'proxy') ensureProxyBuilt()
  const upstream = sc.upstream === 'chunked' ? await startChunkedServer() : null
  const serverPid = upstream ? upstream.pid : server.pid
  console.log(`\n== ${sc.title}${upstream ? ` (upstream: ${upstream.kind})` : ''}`)
  const runs = Object.fromEntries(clients.map((c) => [c, []]))
  const runsWanted = sc.kind === 'idle' ? 1 : RUNS
  for (let run = 0; run < runsWanted; run++) {
    for (const c of clients) {
      const s0 = cpuTicks(serverPid)
      const t0 = Date.now()
      let r
      try {
        r = sc.kind === 'proxy' ? await runProxy(sc, c, server)
          : c === 'wrk' ? runWrk(sc, server) : c === 'h2load' ? runH2load(sc, server) : await runNodeClient(sc, c, server, sc.kind === 'idle' ? 'idle' : 'load', upstream)
      } catch (err) {
        console.log(`  run ${run + 1} ${c}: FAILED ${err.message}`)
        r = { client: c, failed: String(err.message), requests: 0, elapsed: 1, cpuMicros: 0, bytes: 0, errors: 1, p50: 0, p99: 0, rss: 0 }
      }
      r.serverCpuShare = (cpuTicks(serverPid) - s0) / HZ / ((Date.now() - t0) / 1000)
      runs[c].push(r)
      if (sc.kind === 'idle') {
        console.log(`  ${c.padEnd(27)} ${r.open ?? 0} open, ${((r.rssPerConn ?? 0) / KiB).toFixed(1)} KiB RSS per connection`)
      } else if (sc.kind === 'stream') {
        const mib = Math.max(1, r.bytes) / MiB
        console.log(`  run ${run + 1} ${c.padEnd(27)} ${(r.bytes / r.elapsed / MiB).toFixed(1).padStart(6)} MiB/s  ${(r.cpuMicros / 1000 / mib).toFixed(1).padStart(7)} ms CPU/MiB  ${((r.chunks ?? 0) / mib).toFixed(0).padStart(6)} chunks/MiB  ${r.reads == null ? '-' : (r.reads / mib).toFixed(0).padStart(6)} reads/MiB  ${r.segmentsIn == null ? '-' : (r.segmentsIn / mib).toFixed(0).padStart(5)} segs/MiB  errors ${r.errors}  server ${(r.serverCpuShare * 100).toFixed(0)}%`)
      } else {
        console.log(`  run ${run + 1} ${c.padEnd(27)} ${(r.requests / r.elapsed).toFixed(0).padStart(7)} req/s  ${(r.bytes / r.elapsed / MiB).toFixed(0).padStart(5)} MiB/s  ${(r.cpuMicros / Math.max(1, r.requests)).toFixed(1).padStart(7)} µs/req  errors ${r.errors}  server ${(r.serverCpuShare * 100).toFixed(0)}%`)
      }
    }
  }
  upstream?.stop()
  const summary = clients.map((c) => {
    const rs = runs[c]
    if (sc.kind === 'idle') {
      const r = rs[0]
      return { client: c, rssPerConnKiB: (r.rssPerConn ?? 0) / KiB, open: r.open ?? 0, errors: r.errors ?? 0, serverCpu: 0 }
    }
    return {
      client: c,
      rps: median(rs.map((r) => r.requests / r.elapsed)),
      mibps: median(rs.map((r) => r.bytes / r.elapsed / MiB)),
      cpuPerReq: median(rs.map((r) => r.cpuMicros / Math.max(1, r.requests))),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      rssMiB: median(rs.map((r) => r.rss)) / MiB,
      // Per MiB of body (stream scenarios): client CPU ms, chunks handed to the consumer, read syscalls.
      cpuMsPerMiB: median(rs.map((r) => r.cpuMicros / 1000 / (Math.max(1, r.bytes) / MiB))),
      chunksPerMiB: median(rs.map((r) => (r.chunks ?? 0) / (Math.max(1, r.bytes) / MiB))),
      readsPerMiB: rs.every((r) => r.reads != null) ? median(rs.map((r) => r.reads / (Math.max(1, r.bytes) / MiB))) : null,
      segmentsPerMiB: rs.every((r) => r.segmentsIn != null) ? median(rs.map((r) => r.segmentsIn / (Math.max(1, r.bytes) / MiB))) : null,
      serverCpu: median(rs.map((r) => r.serverCpuShare)),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      latencyIsMean: rs[0]?.latencyIsMean ?? false,
    }
  })
  results.push({ ...sc, ...(upstream ? { upstreamKind: upstream.kind } : {}), summary, runs })
}
server.stop()

// ---- report
const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-')
const md = []
for (const r of results) {
  md.push(`### ${r.title}`, '')
  const validity = (s) => s.errors > 0 ? `no (${s.errors} errors)` : s.serverCpu > 0.9 ? 'no (server saturated)' : 'yes'
  if (r.kind === 'idle') {
    md.push('| client | open connections | RSS per connection KiB |', '|---|---:|---:|')
    for (const s of r.summary) md.push(`| ${s.client} | ${s.open} | ${fmt(s.rssPerConnKiB)} |`)
  } else if (r.kind === 'stream') {
    md.push(`Upstream: ${r.upstreamKind}. Per MiB of body: chunks handed to the consumer (\`for await\` / \`'data'\`), the client's read/recv syscalls (perf stat, including the ones that find the socket empty), TCP data segments received (ss).`, '')
    const base = r.summary.find((s) => s.client === 'undici request()')
    md.push(`| client | MiB/s | client CPU ms/MiB | vs ${base?.client ?? '-'} | chunks/MiB | reads/MiB | segments/MiB | chunks per read | RSS MiB | server CPU | valid |`,
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|')
    for (const s of r.summary) {
      md.push(`| ${s.client} | ${fmt(s.mibps)} | ${fmt(s.cpuMsPerMiB)} | ${base ? fmt(s.cpuMsPerMiB / base.cpuMsPerMiB, 2) + 'x' : '-'} | ${fmt(s.chunksPerMiB, 0)} | ${s.readsPerMiB == null ? '-' : fmt(s.readsPerMiB, 0)} | ${s.segmentsPerMiB == null ? '-' : fmt(s.segmentsPerMiB, 0)} | ${s.readsPerMiB ? fmt(s.chunksPerMiB / s.readsPerMiB, 1) : '-'} | ${fmt(s.rssMiB)} | ${fmt(s.serverCpu * 100, 0)}% | ${validity(s)} |`)
    }
  } else {
    const base = r.summary.find((s) => s.client === (r.proto.includes('2') ? (r.summary.some((x) => x.client === 'node:http2') ? 'node:http2' : 'undici') : 'undici'))
    md.push(`| ${r.kind === 'proxy' ? 'proxy' : 'client'} | req/s | MiB/s | ${r.kind === 'proxy' ? 'proxy' : 'client'} CPU µs/req | vs ${base?.client ?? '-'} | p50 ms | p99 ms | RSS MiB | server CPU | valid |`,
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|')
    for (const s of r.summary) {
      const valid = validity(s)
      const native = s.client === 'wrk' || s.client === 'h2load'
      md.push(`| ${s.client} | ${fmt(s.rps, 0)} | ${fmt(s.mibps, 0)} | ${fmt(s.cpuPerReq)} | ${base ? fmt(s.cpuPerReq / base.cpuPerReq, 2) + 'x' : '-'} | ${fmt(s.p50 / 1000, 3)}${s.latencyIsMean ? ' (mean)' : ''} | ${s.p99 ? fmt(s.p99 / 1000, 3) : '-'} | ${native ? '-' : fmt(s.rssMiB)} | ${fmt(s.serverCpu * 100, 0)}% | ${valid} |`)
    }
  }
  md.push('')
}
md.push('### Targets', '', 'Medians of the runs above; ratios of two clients measured in the same run. Units: cpuPerReq µs/request, mibps MiB/s, cpuMsPerMiB ms/MiB, rssPerConnKiB KiB.', '',
  '| scenario | target | client | value | peer | ratio | met |', '|---|---|---|---:|---:|---:|---|')
const targetResults = []
for (const t of TARGETS) {
  const r = results.find((x) => x.id === t.scenario)
  if (!r) continue
  const client = t.client ?? 'node-hyper'
  const nh = r.summary.find((s) => s.client === client)
  const peer = t.peer ? r.summary.find((s) => s.client === t.peer) : undefined
  if (!nh || (t.peer && !peer)) continue
  const v = nh[t.metric]
  const ratio = peer ? v / peer[t.metric] : undefined
  // A floor row: `met` says whether the target it bounds is reachable at all (floor below it).
  const met = t.floor !== undefined ? ratio < t.floor : t.absoluteMax !== undefined ? v < t.absoluteMax : t.max !== undefined ? ratio <= t.max : ratio >= t.min
  const invalid = nh.errors > 0 || (peer && peer.errors > 0)
  // A saturated server caps the figures of that row (noted, not invalidating: wrk/h2load often do it).
  const saturated = [nh, peer].filter((s) => s && s.serverCpu > 0.9).map((s) => s.client)
  targetResults.push({ ...t, client, value: v, peerValue: peer?.[t.metric], ratio, met, invalid, serverSaturated: saturated })
  const bound = t.floor !== undefined ? `target reachable only if < ${fmt(t.floor, 2)}x` : t.absoluteMax !== undefined ? `< ${t.absoluteMax}` : t.max !== undefined ? `≤ ${t.max}x` : `≥ ${t.min}x`
  const verdict = t.floor !== undefined ? (met ? 'reachable' : 'unreachable') : met ? 'yes' : 'no'
  md.push(`| ${r.id} | ${t.text} (${bound}) | ${client} | ${fmt(v)} | ${peer ? `${fmt(peer[t.metric])} (${t.peer})` : '-'} | ${ratio !== undefined ? fmt(ratio, 2) + 'x' : '-'} | ${invalid ? 'invalid (errors)' : verdict}${saturated.length ? ` (server saturated: ${saturated.join(', ')})` : ''} |`)
}
console.log('\n' + md.join('\n'))

// A complete run: every scenario and client (C ceilings only if installed), at least 3 runs each,
// no profiler around the clients, no failed run and no request errors.
const incomplete = []
if (ONLY_SCENARIOS || ONLY_CLIENTS) incomplete.push('filtered by BENCH_SCENARIOS/BENCH_CLIENTS')
if (process.env.BENCH_WRAP || process.env.BENCH_NODE_ARGS) incomplete.push('BENCH_WRAP/BENCH_NODE_ARGS set')
if (BASELINE) incomplete.push('BENCH_BASELINE set (an A/B run)')
if (RUNS < 3) incomplete.push(`${RUNS} run(s) per client, fewer than 3`)
const withErrors = results.flatMap((r) => r.summary.filter((s) => s.errors > 0).map((s) => `${r.id} ${s.client}`))
if (withErrors.length) incomplete.push(`errors in ${withErrors.join(', ')}`)

const cpuModel = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model
const { hyperVersion } = await import('node-hyper')
const nginxVersion = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim()
const result = {
  date: new Date().toISOString(),
  settings: { durationMs: DURATION, warmupMs: WARMUP, runs: RUNS, idleConnections: IDLE_CONNS, chunkedPerWrite: CHUNKED_PER_WRITE },
  machine: { cpu: cpuModel, cores: os.cpus().length, kernel: os.release(), node: process.version },
  versions: { nodeHyper: require('node-hyper/package.json').version, hyper: hyperVersion, undici: require('undici/package.json').version, server: nginxVersion },
  targets: targetResults,
  complete: incomplete.length === 0,
  incomplete,
  scenarios: results,
}
fs.mkdirSync(path.join(here, 'results'), { recursive: true })
const stamp = result.date.slice(0, 19).replace(/:/g, '-')
const file = path.join(here, 'results', `${stamp}.json`)
fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n')
const header = `${result.date} — ${cpuModel} (${os.cpus().length} cores), Node ${process.version}, hyper ${hyperVersion}, undici ${result.versions.undici}, ${nginxVersion}\n\n`
if (result.complete) {
  fs.writeFileSync(path.join(here, 'results', 'latest.md'), header + md.join('\n') + '\n')
  fs.writeFileSync(path.join(here, 'results', 'latest.svg'), chartSvg(results, `node-hyper vs peers, ${os.cpus().length}-core VM, median of ${RUNS}`))
  console.log(`\nwrote ${path.relative(process.cwd(), file)}, results/latest.md, results/latest.svg`)
} else {
  // latest.* only ever show a complete, valid run.
  console.log(`\nwrote ${path.relative(process.cwd(), file)}; results/latest.* left alone: ${incomplete.join('; ')}`)
}
