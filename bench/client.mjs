// One benchmark client, run in its own process: node client.mjs '<json config>'
// Config: { client, proto: 'h1'|'h2c'|'tls-h1'|'tls-h2', port, path, method, bodySize, expectLen,
//           conns, inflight, warmupMs, durationMs, ca, mode: 'load'|'idle' }
// Prints one JSON line: requests, errors, bytes, cpu µs (user+sys over the measured window),
// latency percentiles (µs), rss. In idle mode: rss per open keep-alive connection.
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import http2 from 'node:http2'

const cfg = JSON.parse(process.argv[2])
const secure = cfg.proto.startsWith('tls')
const h2 = cfg.proto === 'h2c' || cfg.proto === 'tls-h2'
const host = secure ? 'localhost' : '127.0.0.1'
const origin = `${secure ? 'https' : 'http'}://${host}:${cfg.port}`
const ca = cfg.ca ? fs.readFileSync(cfg.ca, 'latin1') : undefined
const method = cfg.method ?? 'GET'
const payload = cfg.bodySize ? Buffer.alloc(cfg.bodySize, 120) : undefined
const streamBody = cfg.expectLen >= 65536 // large bodies are counted chunk by chunk, never joined

let measuring = false
let stop = false
let requests = 0
let errors = 0
let bytes = 0
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

async function countBody (iterable) {
  let n = 0
  for await (const c of iterable) n += c.length
  return n
}

// Each client returns lanes: functions that send one request and resolve { status, length }.
// The harness runs every lane in its own loop.
const clients = {
  // ClientConn directly: one connection per lane (HTTP/1.1), or one connection with `inflight`
  // lanes (HTTP/2).
  async 'node-hyper' () {
    const { ClientConn } = await import('node-hyper')
    const options = { tls: secure ? { ca } : undefined, http2: h2 ? true : (secure ? false : undefined) }
    if (!secure) delete options.tls
    const conns = await Promise.all(Array.from({ length: h2 ? 1 : cfg.conns }, () => ClientConn.connect(origin, options)))
    const send = async (conn) => {
      const res = await conn.request({ method, path: cfg.path, body: payload })
      const length = streamBody ? await countBody(res.body) : (await res.body.bytes()).length
      return { status: res.status, length }
    }
    const lanes = h2 ? Array.from({ length: cfg.inflight }, () => () => send(conns[0])) : conns.map((c) => () => send(c))
    return { lanes, close: () => Promise.all(conns.map((c) => c.close())) }
  },
  async 'node-hyper Pool' () {
    const { Pool } = await import('node-hyper')
    const pool = new Pool(origin, { connections: cfg.conns, ...(secure ? { tls: { ca } } : {}), http2: h2 ? true : (secure ? false : undefined) })
    const send = async () => {
      const res = await pool.request({ method, path: cfg.path, body: payload })
      const length = streamBody ? await countBody(res.body) : (await res.body.bytes()).length
      return { status: res.status, length }
    }
    return { lanes: Array.from({ length: cfg.conns * cfg.inflight }, () => send), close: () => pool.close() }
  },
  // undici's own API running on node-hyper through the Dispatcher adapter.
  async 'node-hyper via undici' () {
    const undici = await import('undici')
    const { HyperDispatcher } = await import('node-hyper')
    const dispatcher = new HyperDispatcher({ connections: cfg.conns, ...(secure ? { tls: { ca } } : {}), http2: h2 ? true : (secure ? false : undefined) })
    const send = async () => {
      const res = await undici.request(origin + cfg.path, { method, body: payload, dispatcher })
      const length = streamBody ? await countBody(res.body) : Buffer.from(await res.body.arrayBuffer()).length
      return { status: res.statusCode, length }
    }
    return { lanes: Array.from({ length: cfg.conns * cfg.inflight }, () => send), close: () => dispatcher.close() }
  },
  async undici () {
    const { Pool } = await import('undici')
    const pool = new Pool(origin, { connections: h2 ? 1 : cfg.conns, pipelining: h2 ? cfg.inflight : 1, allowH2: h2, maxConcurrentStreams: cfg.inflight, connect: secure ? { ca } : undefined })
    const send = async () => {
      const res = await pool.request({ method, path: cfg.path, body: payload })
      const length = streamBody ? await countBody(res.body) : Buffer.from(await res.body.arrayBuffer()).length
      return { status: res.statusCode, length }
    }
    return { lanes: Array.from({ length: cfg.conns * cfg.inflight }, () => send), close: () => pool.close() }
  },
  // undici's top-level request() on its own Agent: the same API path as 'node-hyper via undici'.
  async 'undici request()' () {
    const undici = await import('undici')
    const dispatcher = new undici.Agent({ connections: cfg.conns, connect: secure ? { ca } : undefined })
    const send = async () => {
      const res = await undici.request(origin + cfg.path, { method, body: payload, dispatcher })
      const length = streamBody ? await countBody(res.body) : Buffer.from(await res.body.arrayBuffer()).length
      return { status: res.statusCode, length }
    }
    return { lanes: Array.from({ length: cfg.conns * cfg.inflight }, () => send), close: () => dispatcher.close() }
  },
  async 'undici fetch' () {
    const { Agent, fetch } = await import('undici')
    const agent = new Agent({ connections: cfg.conns, connect: secure ? { ca } : undefined })
    const send = async () => {
      const res = await fetch(origin + cfg.path, { method, body: payload, dispatcher: agent })
      const length = streamBody ? await countBody(res.body) : (await res.arrayBuffer()).byteLength
      return { status: res.status, length }
    }
    return { lanes: Array.from({ length: cfg.conns * cfg.inflight }, () => send), close: () => agent.close() }
  },
  async 'node:http' () {
    const mod = secure ? https : http
    const agent = new mod.Agent({ keepAlive: true, maxSockets: cfg.conns, ca })
    const send = () => new Promise((resolve, reject) => {
      const req = mod.request({ host, port: cfg.port, path: cfg.path, method, agent, headers: payload ? { 'content-length': payload.length } : {} }, (res) => {
        let length = 0
        const chunks = []
        res.on('data', (c) => { length += c.length; if (!streamBody) chunks.push(c) })
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
      req.on('data', (c) => { length += c.length; if (!streamBody) chunks.push(c) })
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
    const { ClientConn } = await import('node-hyper')
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
const loops = lanes.map(loop)
await new Promise((r) => setTimeout(r, cfg.warmupMs))
measuring = true
const cpu0 = process.cpuUsage()
const t0 = process.hrtime.bigint()
await new Promise((r) => setTimeout(r, cfg.durationMs))
measuring = false
const cpu = process.cpuUsage(cpu0)
const elapsed = Number(process.hrtime.bigint() - t0) / 1e9
stop = true
await Promise.all(loops)
await close()
latencies.sort((a, b) => a - b)
const pct = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] : 0
process.stdout.write(JSON.stringify({
  client: cfg.client, requests, errors, bytes, elapsed,
  cpuMicros: cpu.user + cpu.system,
  p50: pct(0.5), p99: pct(0.99),
  rss: process.memoryUsage().rss,
}) + '\n')
process.exit(0)
