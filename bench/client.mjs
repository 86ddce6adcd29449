// One benchmark client, run in its own process: node client.mjs <kind> <port> <conns> <warmupMs> <durationMs>
// Prints one JSON line: requests, errors, cpu µs (user+sys over the measured window), latency
// percentiles, rss.
import http from 'node:http'

const [kind, portArg, connsArg, warmArg, durArg, pathArg] = process.argv.slice(2)
const port = Number(portArg)
const conns = Number(connsArg)
const warmupMs = Number(warmArg)
const durationMs = Number(durArg)
const path = pathArg ?? '/1k'
const expectedLength = path === '/0' ? 0 : 1024
const origin = `http://127.0.0.1:${port}`

let measuring = false
let stop = false
let requests = 0
let errors = 0
const latencies = []

function record (t0, ok) {
  if (!measuring) return
  if (ok) {
    requests++
    latencies.push(Number(process.hrtime.bigint() - t0) / 1000)
  } else {
    errors++
  }
}

async function nodeHyper () {
  const { ClientConn } = await import('node-hyper')
  const pool = await Promise.all(Array.from({ length: conns }, () => ClientConn.connect(origin)))
  const loop = async (conn) => {
    while (!stop) {
      const t0 = process.hrtime.bigint()
      try {
        const res = await conn.request({ path })
        const body = await res.body.bytes()
        record(t0, res.status === 200 && body.length === expectedLength)
      } catch { record(t0, false) }
    }
  }
  return { loops: pool.map(loop), close: () => Promise.all(pool.map((c) => c.close())) }
}

async function undiciPool () {
  const { Pool } = await import('undici')
  const pool = new Pool(origin, { connections: conns, pipelining: 1 })
  const loop = async () => {
    while (!stop) {
      const t0 = process.hrtime.bigint()
      try {
        const res = await pool.request({ method: 'GET', path })
        const body = Buffer.from(await res.body.arrayBuffer())
        record(t0, res.statusCode === 200 && body.length === expectedLength)
      } catch { record(t0, false) }
    }
  }
  return { loops: Array.from({ length: conns }, loop), close: () => pool.close() }
}

async function nodeHttp () {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns })
  const get = () => new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, length: Buffer.concat(chunks).length }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
  const loop = async () => {
    while (!stop) {
      const t0 = process.hrtime.bigint()
      try {
        const r = await get()
        record(t0, r.status === 200 && r.length === expectedLength)
      } catch { record(t0, false) }
    }
  }
  return { loops: Array.from({ length: conns }, loop), close: async () => agent.destroy() }
}

const impl = { 'node-hyper': nodeHyper, 'undici': undiciPool, 'node:http': nodeHttp }[kind]
if (!impl) throw new Error('unknown client ' + kind)
const { loops, close } = await impl()
await new Promise((r) => setTimeout(r, warmupMs))
measuring = true
const cpu0 = process.cpuUsage()
const t0 = process.hrtime.bigint()
await new Promise((r) => setTimeout(r, durationMs))
measuring = false
const cpu = process.cpuUsage(cpu0)
const elapsed = Number(process.hrtime.bigint() - t0) / 1e9
stop = true
await Promise.all(loops)
await close()
latencies.sort((a, b) => a - b)
const pct = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] : 0
process.stdout.write(JSON.stringify({
  kind, requests, errors, elapsed,
  cpuMicros: cpu.user + cpu.system,
  p50: pct(0.5), p99: pct(0.99),
  rss: process.memoryUsage().rss,
}) + '\n')
