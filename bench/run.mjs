// npm run bench: GET 1 KiB over 32 keep-alive connections against nginx on loopback; node-hyper
// vs undici vs node:http vs wrk (the C ceiling), each client in its own process, interleaved,
// median of 3 runs. Server pinned to core 0, clients to core 1 (when taskset exists).
import { spawn, spawnSync, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { chartSvg } from './chart.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const DURATION = Number(process.env.BENCH_DURATION ?? 5000)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1000)
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const CONNS = Number(process.env.BENCH_CONNS ?? 32)
const PATH = process.env.BENCH_PATH ?? '/1k'
const CLIENTS = (process.env.BENCH_CLIENTS ?? 'node-hyper,undici,node:http,wrk').split(',')
const HZ = 100 // USER_HZ for /proc/<pid>/stat

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0
const pin = (core, argv) => (has('taskset') ? ['taskset', '-c', String(core), ...argv] : argv)

async function freePort () {
  const s = net.createServer()
  await new Promise((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address()
  await new Promise((r) => s.close(r))
  return port
}

function cpuTicks (pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12]) // utime + stime (fields 14, 15)
}

async function startNginx () {
  if (!has('nginx')) return null
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-bench-'))
  fs.mkdirSync(path.join(dir, 'www'))
  fs.mkdirSync(path.join(dir, 'tmp'))
  fs.writeFileSync(path.join(dir, 'www', '1k'), 'x'.repeat(1024))
  fs.writeFileSync(path.join(dir, 'www', '0'), '')
  const port = await freePort()
  const root = process.getuid?.() === 0
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `
${root ? 'user root;' : ''}
worker_processes 1;
master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path ${dir}/tmp;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    root ${dir}/www;
    location / { }
  }
}
`)
  const argv = pin(0, ['nginx', '-p', dir, '-c', path.join(dir, 'nginx.conf')])
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' })
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true) })
      s.on('error', () => r(false))
    })
    if (ok) break
    await new Promise((r) => setTimeout(r, 50))
  }
  return { kind: 'nginx 1 worker', port, pid: child.pid, stop: () => { child.kill('SIGQUIT'); fs.rmSync(dir, { recursive: true, force: true }) } }
}

async function startNodeServer () {
  console.warn('WARNING: nginx not found (run `npm run setup` in bench/); using a node:http server, which is likely the bottleneck.')
  const port = await freePort()
  const code = `require('http').createServer((q, s) => s.end(q.url === '/0' ? '' : 'x'.repeat(1024))).listen(${port}, '127.0.0.1', () => console.log('ready'))`
  const argv = pin(0, [process.execPath, '-e', code])
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((r) => child.stdout.once('data', r))
  return { kind: 'node:http (fallback)', port, pid: child.pid, stop: () => child.kill() }
}

function runNodeClient (kind, port) {
  return new Promise((resolve, reject) => {
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)
    const wrap = (process.env.BENCH_WRAP ?? '').split(' ').filter(Boolean) // e.g. a profiler command
    const argv = pin(1, [...wrap, process.execPath, ...nodeArgs, path.join(here, 'client.mjs'), kind, String(port), String(CONNS), String(WARMUP), String(DURATION), PATH])
    const child = spawn(argv[0], argv.slice(1), { cwd: here, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.on('exit', (code) => code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`${kind} exited ${code}`)))
  })
}

function runWrk (port) {
  const secs = Math.max(1, Math.round(DURATION / 1000))
  const cmd = `TIMEFORMAT='%U %S'; time ${pin(1, ['wrk', '-t1', `-c${CONNS}`, `-d${secs}s`, '--latency', `http://127.0.0.1:${port}${PATH}`]).join(' ')}`
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error('wrk failed: ' + r.stderr)
  const total = Number(/(\d+) requests in/.exec(r.stdout)[1])
  const elapsed = Number(/requests in ([\d.]+)s/.exec(r.stdout)[1])
  const errs = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)
  const sockErrs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.stdout)
  const [user, sys] = r.stderr.trim().split('\n').pop().split(' ').map(Number)
  const ms = (label) => {
    const m = new RegExp(`${label}%\\s+([\\d.]+)(us|ms|s)`).exec(r.stdout)
    if (!m) return 0
    return Number(m[1]) * (m[2] === 'us' ? 1 : m[2] === 'ms' ? 1000 : 1e6)
  }
  return {
    kind: 'wrk', requests: total, elapsed, cpuMicros: (user + sys) * 1e6,
    errors: (errs ? Number(errs[1]) : 0) + (sockErrs ? sockErrs.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
    p50: ms('50'), p99: ms('99'), rss: 0,
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }

const server = (await startNginx()) ?? (await startNodeServer())
const clients = CLIENTS.filter((c) => c !== 'wrk' || has('wrk'))
const runs = Object.fromEntries(clients.map((c) => [c, []]))
console.log(`GET ${PATH} (${PATH === '/0' ? '0 B' : '1 KiB'}), ${CONNS} connections, ${DURATION} ms x ${RUNS} runs, server: ${server.kind} (core 0), clients on core 1`)
for (let run = 0; run < RUNS; run++) {
  for (const c of clients) {
    const s0 = cpuTicks(server.pid)
    const t0 = Date.now()
    const r = c === 'wrk' ? runWrk(server.port) : await runNodeClient(c, server.port)
    const serverShare = (cpuTicks(server.pid) - s0) / HZ / ((Date.now() - t0) / 1000)
    r.serverCpuShare = serverShare
    runs[c].push(r)
    console.log(`  run ${run + 1} ${c.padEnd(10)} ${(r.requests / r.elapsed).toFixed(0).padStart(7)} req/s  ${(r.cpuMicros / r.requests).toFixed(1).padStart(6)} µs/req  errors ${r.errors}  server ${(serverShare * 100).toFixed(0)}%`)
  }
}
server.stop()

const summary = clients.map((c) => {
  const rs = runs[c]
  return {
    client: c,
    rps: median(rs.map((r) => r.requests / r.elapsed)),
    cpuPerReq: median(rs.map((r) => r.cpuMicros / r.requests)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    rssMiB: median(rs.map((r) => r.rss)) / 1048576,
    serverCpu: median(rs.map((r) => r.serverCpuShare)),
    errors: rs.reduce((a, r) => a + r.errors, 0),
  }
})
const base = summary.find((s) => s.client === 'undici')
const fmt = (n, d = 1) => n.toFixed(d)
const lines = [
  '| client | req/s | client CPU µs/req | CPU/req vs undici | p50 ms | p99 ms | RSS MiB | server CPU | valid |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---|',
]
for (const s of summary) {
  const valid = s.errors > 0 ? `no (${s.errors} errors)` : s.serverCpu > 0.9 ? 'no (server saturated)' : 'yes'
  lines.push(`| ${s.client} | ${fmt(s.rps, 0)} | ${fmt(s.cpuPerReq)} | ${base ? fmt(s.cpuPerReq / base.cpuPerReq, 2) + 'x' : '-'} | ${fmt(s.p50 / 1000, 3)} | ${fmt(s.p99 / 1000, 3)} | ${s.client === 'wrk' ? '-' : fmt(s.rssMiB)} | ${fmt(s.serverCpu * 100, 0)}% | ${valid} |`)
}
console.log('\n' + lines.join('\n'))

const cpuModel = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model
const nodeHyperPkg = require('node-hyper/package.json')
const { hyperVersion } = await import('node-hyper')
const result = {
  date: new Date().toISOString(),
  scenario: { path: PATH, connections: CONNS, durationMs: DURATION, warmupMs: WARMUP, runs: RUNS },
  machine: { cpu: cpuModel, cores: os.cpus().length, kernel: os.release(), node: process.version },
  versions: { nodeHyper: nodeHyperPkg.version, hyper: hyperVersion, undici: require('undici/package.json').version, server: server.kind },
  summary, runs,
}
fs.mkdirSync(path.join(here, 'results'), { recursive: true })
const file = path.join(here, 'results', `${result.date.slice(0, 19).replace(/:/g, '-')}.json`)
fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n')
fs.writeFileSync(path.join(here, 'results', 'latest.md'), `${result.date} — ${cpuModel}, Node ${process.version}, hyper ${hyperVersion}, undici ${result.versions.undici}\n\n` + lines.join('\n') + '\n')
fs.writeFileSync(path.join(here, 'results', 'latest.svg'), chartSvg(summary, `GET 1 KiB, ${CONNS} keep-alive connections, nginx (median of ${RUNS})`))
console.log(`\nwrote ${path.relative(process.cwd(), file)}, results/latest.md, results/latest.svg`)
