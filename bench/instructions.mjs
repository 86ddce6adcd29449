// Instructions per request (valgrind's callgrind), node-hyper's paths against their undici peers
// in one run. CPU time on a shared VM moves by 15-25% from run to run; instruction counts made
// this way move by about 0.1%, so small changes can be compared (not a substitute for the CPU
// figures of `npm run bench`: instructions leave out the kernel, cache misses and atomics).
//
// Each path runs twice in its own process (N1 and N2 requests, one at a time, GET 1 KiB from a
// node:http server in a child process); the difference of the two totals divided by N2 - N1 is
// the cost of one request without startup, connection setup and JIT warm-up. Deterministic:
// `--predictable` (no concurrent GC or compiler threads), fixed hash and random seeds, one request
// in flight (no batching that depends on timing), a full GC every GC_EVERY requests.
//
//   npm run bench:instructions                          all paths (about 20 minutes)
//   INSTR_PATHS="ClientConn.request,undici Pool.request"  only these
//   INSTR_N1=4000 INSTR_N2=9000 INSTR_GC_EVERY=500      the counts (these are the defaults)
//   BENCH_BASELINE=/path/to/another/checkout            node-hyper's paths also from that (built) tree
//
// N1 is 4,000, not less: with one request at a time V8 is still compiling the request path with
// TurboFan after 1,000 requests, and a change that adds a function (the exchange table) then
// showed +1.7k per request in a 1,000-6,000 window and -1.0k in a 4,000-14,000 one.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const N1 = Number(process.env.INSTR_N1 ?? 4000)
const N2 = Number(process.env.INSTR_N2 ?? 9000)
const GC_EVERY = process.env.INSTR_GC_EVERY ?? '500'
const BASELINE = process.env.BENCH_BASELINE ? path.resolve(process.env.BENCH_BASELINE) : undefined
const ONLY = process.env.INSTR_PATHS?.split(',')

try {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' })
} catch {
  console.error('valgrind not found (Debian: apt-get install valgrind)')
  process.exit(1)
}

// [path, its peer (the ratio's denominator)]: node-hyper's paths have a peer, undici's do not.
const PATHS = [
  ['ClientConn.request', 'undici Pool.request'],
  ['Pool.request', 'ClientConn.request'],
  ['HyperDispatcher.dispatch', 'undici Agent.dispatch'],
  ['request() on HyperDispatcher', 'request() on undici Agent'],
  ['undici Pool.request'],
  ['undici Agent.dispatch'],
  ['request() on undici Agent'],
].filter(([p]) => !ONLY || ONLY.includes(p))

// The server: node:http in its own process, answering 1 KiB with a fixed set of headers.
const SERVER = `
  const body = Buffer.alloc(1024, 120)
  const headers = { 'content-type': 'application/octet-stream', 'content-length': body.length, etag: '"400-1"', 'last-modified': 'Mon, 30 Nov 2026 08:00:00 GMT' }
  const srv = require('node:http').createServer((req, res) => { res.writeHead(200, headers); res.end(body) })
  srv.keepAliveTimeout = 600000
  srv.listen(0, '127.0.0.1', () => console.log(srv.address().port))
`
const server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] })
const [portLine] = await once(server.stdout, 'data')
const origin = `http://127.0.0.1:${String(portLine).trim()}`

// Total instructions of one process running `which` for `n` requests (callgrind's summary line).
function total (which, n, dir) {
  const r = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null',
    process.execPath, '--predictable', '--hash-seed=1', '--random-seed=1', '--expose-gc',
    path.join(here, 'instructions-client.mjs'), which, String(n), origin],
  { env: { ...process.env, GC_EVERY, NODE_HYPER_DIR: dir ?? '' }, encoding: 'utf8', maxBuffer: 64 << 20 })
  const m = /Collected : (\d+)/.exec(r.stderr ?? '')
  if (r.status !== 0 || !m) throw new Error(`${which} (${n} requests) failed (exit ${r.status}):\n${String(r.stderr).slice(-2000)}`)
  return Number(m[1])
}

const perRequest = (which, dir) => (total(which, N2, dir) - total(which, N1, dir)) / (N2 - N1)

const results = new Map()
const baseline = new Map()
let empty = 0
try {
  empty = perRequest('empty loop')
  console.log(`empty loop (loop, forced GCs, loaded modules; subtracted below): ${Math.round(empty)} instructions/request`)
  for (const [p, peer] of PATHS) {
    results.set(p, perRequest(p))
    console.log(`${p}: ${Math.round(results.get(p))} instructions/request`)
    if (BASELINE && peer !== undefined) {
      baseline.set(p, perRequest(p, BASELINE))
      console.log(`${p} (baseline): ${Math.round(baseline.get(p))} instructions/request`)
    }
  }
} finally {
  server.kill()
}

const k = (v) => (v / 1000).toFixed(1) + 'k'
const lines = ['', `Instructions per request (callgrind; ${N2} - ${N1} requests, one at a time, GET 1 KiB from node:http; Node ${process.version}),`,
  `net of the empty loop (${k(empty)}: the loop, a full GC every ${GC_EVERY} requests, the loaded modules).`,
  'One request in flight: compare trees with the change column; the ratios are not the bench\'s (bench/README.md).', '',
  `| path | instructions | peer | ratio |${BASELINE ? ' baseline | change |' : ''}`,
  `|---|---:|---|---:|${BASELINE ? '---:|---:|' : ''}`]
for (const [p, peer] of PATHS) {
  const v = results.get(p) - empty
  const pv = peer && results.has(peer) ? results.get(peer) - empty : undefined
  const b = baseline.has(p) ? baseline.get(p) - empty : undefined
  lines.push(`| ${p} | ${k(v)} | ${pv !== undefined ? `${peer} ${k(pv)}` : '-'} | ${pv !== undefined ? (v / pv).toFixed(2) + 'x' : '-'} |${BASELINE ? ` ${b !== undefined ? k(b) : '-'} | ${b !== undefined ? (v - b >= 0 ? '+' : '') + Math.round(v - b) : '-'} |` : ''}`)
}
console.log(lines.join('\n'))
