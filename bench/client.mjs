// One benchmark client, run in its own process: node client.mjs '<json config>'
// Config: { client, proto: 'h1'|'h2c'|'tls-h1'|'tls-h2', port, path, method, bodySize, expectLen,
//           conns, inflight, warmupMs, durationMs, ca, mode: 'load'|'idle', countReads,
//           diagnostics, hyperPath }
// diagnostics: a no-op subscriber on every undici diagnostics_channel channel (and node-hyper's
// own), so each library publishes its messages (the cost of being observed, without the
// observer's own work). hyperPath: load node-hyper from this file instead (BENCH_BASELINE).
import dc from 'node:diagnostics_channel'
// Prints one JSON line: requests, errors, bytes, cpu µs (user+sys over the measured window),
// latency percentiles (µs), rss, body chunks the consumer saw (streamed bodies), and with
// countReads the process's read syscalls in the window (perf stat). In idle mode: rss per open
// keep-alive connection.
import fs from 'node:fs'
import { spawn, spawnSync } from 'node:child_process'
import http from 'node:http'
import https from 'node:https'
import http2 from 'node:http2'

const cfg = JSON.parse(process.argv[2])
const loadHyper = () => import(cfg.hyperPath ?? 'node-hyper')
if (cfg.diagnostics) {
  const noop = () => {}
  for (const name of ['undici:request:create', 'undici:request:bodySent', 'undici:request:headers', 'undici:request:trailers', 'undici:request:error',
    'undici:client:sendHeaders', 'undici:client:beforeConnect', 'undici:client:connected', 'undici:client:connectError', 'node-hyper:request:done']) {
    dc.subscribe(name, noop)
  }
}
const secure = cfg.proto.startsWith('tls')
const h2 = cfg.proto === 'h2c' || cfg.proto === 'tls-h2'
const host = secure ? 'localhost' : '127.0.0.1'
const origin = `${secure ? 'https' : 'http'}://${host}:${cfg.port}`
const ca = cfg.ca ? fs.readFileSync(cfg.ca, 'latin1') : undefined
const method = cfg.method ?? 'GET'
const payload = cfg.bodySize ? Buffer.alloc(cfg.bodySize, 120) : undefined
// Large bodies are counted chunk by chunk, never joined; the "whole body" clients (names ending
// in bytes() / arrayBuffer()) read them with the library's whole-body call instead.
const wholeBody = / (bytes|arrayBuffer)\(\)$/.test(cfg.client)
const streamBody = cfg.expectLen >= 65536 && !wholeBody

let measuring = false
let stop = false
let requests = 0
let errors = 0
let bytes = 0
// Streamed bodies are counted as they arrive, so bytes and chunks cover exactly the measured
// window (a slow stream completes few responses in it).
let streamedBytes = 0
let streamedChunks = 0
const latencies = []

function record (t0, ok, n) {
  if (!measuring) return
  if (ok) {
    requests++
    bytes += n + (payload?.length ?? 0)
    latencies.push(Number(process.hrtime.bigint() - t0) / 1000)
  } else {
    errors++
  }
}

// A streamed body, counted chunk by chunk as the consumer is handed each one.
async function countBody (iterable) {
  let length = 0
  for await (const c of iterable) {
    length += c.length
    if (measuring) { streamedBytes += c.length; streamedChunks++ }
  }
  return length
}

// How a lane reads a response body: streamed (counted chunk by chunk) or with the library's own
// whole-body call. Returns { status, length }.
async function readBody (status, body, whole) {
  return { status, length: streamBody ? await countBody(body) : await whole() }
}

// The two dispatchers the undici API runs on: node-hyper's HyperDispatcher and undici's own Agent,
// with the same connection count (HTTP/1.1: cfg.conns; HTTP/2: one connection, cfg.inflight streams).
async function hyperDispatcher () {
  const { HyperDispatcher } = await loadHyper()
  return new HyperDispatcher({ connections: cfg.conns, ...(secure ? { tls: { ca } } : {}), http2: h2 ? true : (secure ? false : undefined) })
}
async function undiciAgent () {
  const undici = await import('undici')
  const connect = secure ? { ca } : undefined
  if (!h2) return new undici.Agent({ connections: cfg.conns, connect })
  // h2c with prior knowledge: undici 7 has it only as H2CClient (no Agent option); the Agent's
  // factory makes one per origin. TLS h2: allowH2 (ALPN).
  const h2opts = { connections: 1, pipelining: cfg.inflight, maxConcurrentStreams: cfg.inflight }
  if (cfg.proto === 'h2c') return new undici.Agent({ ...h2opts, factory: (origin, opts) => new undici.H2CClient(origin, { ...opts, ...h2opts }) })
  return new undici.Agent({ ...h2opts, allowH2: true, connect })
}

// The floor of every dispatcher under undici's request(): a dispatcher that answers from memory
// (no socket, no parser) with the response the server really sends, captured once at start (status,
// raw header Buffers, the body in chunks of at most 64 KiB, as a socket read would hand them). What a
// lane then costs is undici's own API layer (request(), RequestHandler, BodyReadable, the body
// read), a setImmediate per piece, and the fresh Buffer per piece that any dispatcher hands out
// (with the GC it brings): no real dispatcher, node-hyper's or undici's, can cost less. The row
// shows how low the HyperDispatcher targets can go at all.
async function floorDispatcher () {
  const undici = await import('undici')
  const { EventEmitter } = await import('node:events')
  const agent = new undici.Agent({ connect: secure ? { ca } : undefined })
  const captured = await new Promise((resolve, reject) => {
    const chunks = []
    let head = null
    agent.dispatch({ origin, path: cfg.path, method }, {
      onConnect () {},
      onHeaders (status, rawHeaders, resume, statusText) { head = { status, rawHeaders: rawHeaders.map((b) => Buffer.from(b)), statusText }; return true },
      onData (chunk) { chunks.push(Buffer.from(chunk)); return true },
      onComplete () {
        const whole = Buffer.concat(chunks)
        const pieces = []
        for (let at = 0; at < whole.length; at += 65536) pieces.push(whole.subarray(at, at + 65536))
        resolve({ ...head, pieces })
      },
      onError: reject,
    })
  })
  await agent.close()
  // Each piece arrives as a socket read would hand it: a fresh Buffer, in a macrotask of its own.
  // (Handed over all at once, the pieces would pile up in the body stream, and its reader would
  // join them into one new Buffer per response: a cost no real dispatcher's reader pays.)
  const deliver = (handler, at) => {
    handler.onData(Buffer.from(captured.pieces[at]))
    if (at + 1 < captured.pieces.length) setImmediate(deliver, handler, at + 1)
    else handler.onComplete([])
  }
  class FloorDispatcher extends EventEmitter {
    dispatch (opts, handler) {
      setImmediate(() => {
        handler.onConnect(() => {})
        handler.onHeaders(captured.status, captured.rawHeaders.map((b) => Buffer.from(b)), () => {}, captured.statusText)
        if (captured.pieces.length === 0) handler.onComplete([])
        else deliver(handler, 0)
      })
      return true
    }

    close () { return Promise.resolve() }
    destroy () { return Promise.resolve() }
  }
  return new FloorDispatcher()
}

// undici.request() / undici.fetch() on a dispatcher.
async function undiciRequest (dispatcher) {
  const undici = await import('undici')
  const send = async () => {
    const res = await undici.request(origin + cfg.path, { method, body: payload, dispatcher })
    return readBody(res.statusCode, res.body, async () => Buffer.from(await res.body.arrayBuffer()).length)
  }
  return { lanes: Array.from({ length: cfg.conns * cfg.inflight }, () => send), close: () => dispatcher.close() }
}
async function undiciFetch (dispatcher) {
  const undici = await import('undici')
  const send = async () => {
    const res = await undici.fetch(origin + cfg.path, { method, body: payload, dispatcher })
    return readBody(res.status, res.body, async () => (await res.arrayBuffer()).byteLength)
  }
  return { lanes: Array.from({ length: cfg.conns * cfg.inflight }, () => send), close: () => dispatcher.close() }
}

// Each client returns lanes: functions that send one request and resolve { status, length }.
// The harness runs every lane in its own loop.
const clients = {
  // ClientConn directly: one connection per lane (HTTP/1.1), or one connection with `inflight`
  // lanes (HTTP/2).
  async 'node-hyper' () {
    const { ClientConn } = await loadHyper()
    const options = { tls: secure ? { ca } : undefined, http2: h2 ? true : (secure ? false : undefined) }
    if (!secure) delete options.tls
    const conns = await Promise.all(Array.from({ length: h2 ? 1 : cfg.conns }, () => ClientConn.connect(origin, options)))
    const send = async (conn) => {
      const res = await conn.request({ method, path: cfg.path, body: payload })
      return readBody(res.status, res.body, async () => (await res.body.bytes()).length)
    }
    const lanes = h2 ? Array.from({ length: cfg.inflight }, () => () => send(conns[0])) : conns.map((c) => () => send(c))
    return { lanes, close: () => Promise.all(conns.map((c) => c.close())) }
  },
  async 'node-hyper Pool' () {
    const { Pool } = await loadHyper()
    const pool = new Pool(origin, { connections: cfg.conns, ...(secure ? { tls: { ca } } : {}), http2: h2 ? true : (secure ? false : undefined) })
    const send = async () => {
      const res = await pool.request({ method, path: cfg.path, body: payload })
      return readBody(res.status, res.body, async () => (await res.body.bytes()).length)
    }
    return { lanes: Array.from({ length: cfg.conns * cfg.inflight }, () => send), close: () => pool.close() }
  },
  // undici's own API running on node-hyper through the Dispatcher adapter: request() and fetch().
  async 'node-hyper via undici' () {
    return undiciRequest(await hyperDispatcher())
  },
  async 'node-hyper via undici fetch' () {
    return undiciFetch(await hyperDispatcher())
  },
  // The same, reading each body whole (the library's own call): node-hyper's bytes() lets the
  // addon fill one buffer of the content-length; undici's arrayBuffer() joins its chunks.
  async 'node-hyper bytes()' () {
    return clients['node-hyper']()
  },
  async 'undici arrayBuffer()' () {
    return clients.undici()
  },
  async undici () {
    const { Pool } = await import('undici')
    const pool = new Pool(origin, { connections: h2 ? 1 : cfg.conns, pipelining: h2 ? cfg.inflight : 1, allowH2: h2, maxConcurrentStreams: cfg.inflight, connect: secure ? { ca } : undefined })
    const send = async () => {
      const res = await pool.request({ method, path: cfg.path, body: payload })
      return readBody(res.statusCode, res.body, async () => Buffer.from(await res.body.arrayBuffer()).length)
    }
    return { lanes: Array.from({ length: cfg.conns * cfg.inflight }, () => send), close: () => pool.close() }
  },
  // undici's top-level request() and fetch() on its own Agent: the same API paths as
  // 'node-hyper via undici' and 'node-hyper via undici fetch'.
  async 'undici request()' () {
    return undiciRequest(await undiciAgent())
  },
  async 'undici fetch' () {
    return undiciFetch(await undiciAgent())
  },
  // undici's request() on a dispatcher that answers from memory: undici's own API layer alone.
  async 'undici request() floor' () {
    return undiciRequest(await floorDispatcher())
  },
  async 'node:http' () {
    const mod = secure ? https : http
    const agent = new mod.Agent({ keepAlive: true, maxSockets: cfg.conns, ca })
    const send = () => new Promise((resolve, reject) => {
      const req = mod.request({ host, port: cfg.port, path: cfg.path, method, agent, headers: payload ? { 'content-length': payload.length } : {} }, (res) => {
        let length = 0
        const chunks = []
        res.on('data', (c) => {
          length += c.length
          if (!streamBody) chunks.push(c)
          else if (measuring) { streamedBytes += c.length; streamedChunks++ }
        })
        res.on('end', () => resolve({ status: res.statusCode, length: streamBody ? length : Buffer.concat(chunks).length }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(payload)
    })
    return { lanes: Array.from({ length: cfg.conns }, () => send), close: async () => agent.destroy() }
  },
  async 'node:http2' () {
    const session = http2.connect(origin, { ca })
    await new Promise((resolve, reject) => { session.once('connect', resolve); session.once('error', reject) })
    const send = () => new Promise((resolve, reject) => {
      const req = session.request({ ':path': cfg.path, ':method': method }, { endStream: !payload })
      let status = 0
      let length = 0
      const chunks = []
      req.on('response', (h) => { status = h[':status'] })
      req.on('data', (c) => {
        length += c.length
        if (!streamBody) chunks.push(c)
        else if (measuring) { streamedBytes += c.length; streamedChunks++ }
      })
      req.on('end', () => resolve({ status, length: streamBody ? length : Buffer.concat(chunks).length }))
      req.on('error', reject)
      if (payload) req.end(payload)
    })
    return { lanes: Array.from({ length: cfg.inflight }, () => send), close: async () => session.close() }
  },
}

// Idle mode: open cfg.conns keep-alive connections (each completes one request), then report the
// RSS they cost.
const idleClients = {
  async 'node-hyper' (n) {
    const { ClientConn } = await loadHyper()
    const conns = []
    for (let i = 0; i < n; i += 500) {
      conns.push(...await Promise.all(Array.from({ length: Math.min(500, n - i) }, async () => {
        const c = await ClientConn.connect(origin)
        await (await c.request({ path: cfg.path })).body.bytes()
        return c
      })))
    }
    return { open: () => conns.filter((c) => !c.closed).length, close: () => Promise.all(conns.map((c) => c.close())) }
  },
  async undici (n) {
    const { Client } = await import('undici')
    const cs = []
    for (let i = 0; i < n; i += 500) {
      cs.push(...await Promise.all(Array.from({ length: Math.min(500, n - i) }, async () => {
        const c = new Client(origin, { keepAliveTimeout: 600_000 })
        await (await c.request({ method: 'GET', path: cfg.path })).body.arrayBuffer()
        return c
      })))
    }
    return { open: () => cs.filter((c) => !c.closed).length, close: () => Promise.all(cs.map((c) => c.close())) }
  },
  async 'node:http' (n) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: n, timeout: 600_000 })
    const get = () => new Promise((resolve, reject) => {
      http.get({ host, port: cfg.port, path: cfg.path, agent }, (res) => { res.resume(); res.on('end', resolve) }).on('error', reject)
    })
    // All at once: requests made one batch after another would reuse the free sockets.
    await Promise.all(Array.from({ length: n }, get))
    return { open: () => Object.values(agent.freeSockets).reduce((a, l) => a + l.length, 0), close: async () => agent.destroy() }
  },
}

// Read syscalls of this process (all threads) over the measured window, counted in the kernel by
// `perf stat` on the syscall tracepoints: started before the warm-up with counting disabled, then
// enabled and disabled through its control pipe (each acknowledged) around the window. Counts
// every read/readv/recvfrom/recvmsg (node-hyper reads with recv, Node's net with read), including
// the ones that find the socket empty. Null if perf or the tracepoints are unavailable.
function syscallCounter () {
  const events = ['read', 'readv', 'recvfrom', 'recvmsg', 'epoll_wait', 'epoll_pwait']
  if (spawnSync('perf', ['--version']).status !== 0) return null
  const perf = spawn('perf', ['stat', '-x', ',', '-e', events.map((e) => `syscalls:sys_enter_${e}`).join(','), '-D', '-1', '--control', 'fd:3,4', '-p', String(process.pid)],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] })
  let err = ''
  let failed = false
  perf.stderr.on('data', (d) => { err += d })
  perf.on('error', () => { failed = true })
  const exited = new Promise((resolve) => perf.on('close', resolve))
  const command = (cmd) => new Promise((resolve) => {
    if (failed || perf.exitCode !== null) return resolve(false)
    const timer = setTimeout(() => resolve(false), 2000)
    perf.stdio[4].once('data', () => { clearTimeout(timer); resolve(true) })
    perf.stdio[3].write(cmd + '\n')
  })
  return {
    enable: () => command('enable'),
    async stop () {
      const ok = await command('disable')
      perf.kill('SIGINT')
      await exited
      if (!ok) return null
      const count = {}
      for (const line of err.split('\n')) {
        const f = line.split(',')
        const m = /syscalls:sys_enter_(\w+)/.exec(f[2] ?? '')
        if (m && /^\d+$/.test(f[0])) count[m[1]] = Number(f[0])
      }
      if (!('recvfrom' in count)) return null
      return {
        reads: (count.read ?? 0) + (count.readv ?? 0) + (count.recvfrom ?? 0) + (count.recvmsg ?? 0),
        epollWaits: (count.epoll_wait ?? 0) + (count.epoll_pwait ?? 0),
      }
    },
  }
}

// TCP data segments this process's connections to the server received so far (`ss -ti`
// data_segs_in, summed): how the server's writes arrived. Null if ss is unavailable.
function tcpSegmentsIn () {
  const r = spawnSync('ss', ['-tinH', 'state', 'established', `( dport = :${cfg.port} )`], { encoding: 'utf8' })
  if (r.status !== 0) return null
  let n = 0
  for (const m of r.stdout.matchAll(/\bdata_segs_in:(\d+)/g)) n += Number(m[1])
  return n
}

const settle = async () => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.()
    await new Promise((r) => setTimeout(r, 100))
  }
}

if (cfg.mode === 'idle') {
  const impl = idleClients[cfg.client]
  if (!impl) throw new Error('unknown idle client ' + cfg.client)
  // Baseline: the library loaded and one connection used, so only per-connection cost remains.
  const warm = await impl(1)
  await warm.close()
  await settle()
  const rss0 = process.memoryUsage().rss
  const t0 = Date.now()
  const { open, close } = await impl(cfg.conns)
  await new Promise((r) => setTimeout(r, 1000))
  await settle()
  const rss1 = process.memoryUsage().rss
  const n = open()
  process.stdout.write(JSON.stringify({ client: cfg.client, open: n, rssBase: rss0, rss: rss1, rssPerConn: (rss1 - rss0) / Math.max(1, n), openMs: Date.now() - t0, errors: cfg.conns - n }) + '\n')
  await close()
  process.exit(0)
}

const impl = clients[cfg.client]
if (!impl) throw new Error('unknown client ' + cfg.client)
// Every Node lane carries the same heap: both libraries loaded, whichever one it measures. V8's
// GC policy depends on the size of the old generation. With a small old generation (node-hyper
// alone, ~5 MB), the external memory of downloaded Buffers is reclaimed by scavenges. Past
// ~8 MB (undici loaded, or any real application), each ~25 MiB of Buffers starts a full
// mark-compact instead: ~500 µs per MiB on top of a ~700 µs/MiB streamed download (PROFILE.md,
// ninth round). Without this line, a node-hyper lane would escape a cost that undici's lanes and
// every real host pay.
await Promise.all([loadHyper(), import('undici')])
const { lanes, close } = await impl()
const loop = async (send) => {
  while (!stop) {
    const t0 = process.hrtime.bigint()
    try {
      const r = await send()
      record(t0, r.status === 200 && r.length === cfg.expectLen, r.length)
    } catch (e) {
      if (process.env.BENCH_DEBUG) console.error(e)
      record(t0, false, 0)
    }
  }
}
const reads = cfg.countReads ? syscallCounter() : null
const loops = lanes.map(loop)
await new Promise((r) => setTimeout(r, cfg.warmupMs))
await reads?.enable()
const segs0 = cfg.countReads ? tcpSegmentsIn() : null
measuring = true
const cpu0 = process.cpuUsage()
const t0 = process.hrtime.bigint()
await new Promise((r) => setTimeout(r, cfg.durationMs))
measuring = false
const cpu = process.cpuUsage(cpu0)
const elapsed = Number(process.hrtime.bigint() - t0) / 1e9
const segs1 = cfg.countReads ? tcpSegmentsIn() : null
const syscalls = await reads?.stop()
stop = true
await Promise.all(loops)
await close()
latencies.sort((a, b) => a - b)
const pct = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] : 0
process.stdout.write(JSON.stringify({
  client: cfg.client, requests, errors, elapsed,
  // Streamed bodies: bytes received in the window (plus request bodies of completed requests).
  bytes: streamBody ? streamedBytes + requests * (payload?.length ?? 0) : bytes,
  chunks: streamedChunks,
  cpuMicros: cpu.user + cpu.system,
  reads: syscalls ? syscalls.reads : null,
  epollWaits: syscalls ? syscalls.epollWaits : null,
  segmentsIn: segs0 !== null && segs1 !== null ? segs1 - segs0 : null,
  p50: pct(0.5), p99: pct(0.99),
  rss: process.memoryUsage().rss,
}) + '\n')
process.exit(0)
