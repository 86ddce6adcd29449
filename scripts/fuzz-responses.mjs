// Response-parsing fuzzer: a raw loopback server answers each request with a mutated HTTP/1.1
// or HTTP/2 (h2c) response (bit flips, truncations, header splicing, chunk-size garbage, huge
// values, frame-level damage, split writes, resets), and checks that every request settles
// within a bound, resolving or rejecting with a typed error that has a `code`, and that the
// process neither crashes nor leaks native connections.
//
//   npm run fuzz:responses                          # 2,000 iterations, random seed
//   npm run fuzz:responses -- --asan                # the same against the AddressSanitizer build
//   FUZZ_ITERATIONS=20000 FUZZ_SEED=42 npm run fuzz:responses
//
// Knobs, as environment variables or flags (FUZZ_SEED=42 or --seed=42): FUZZ_ITERATIONS (2000),
// FUZZ_SEED (random, printed), FUZZ_CONCURRENCY (8), FUZZ_SETTLE_MS (5000: bound for one
// exchange to settle), FUZZ_PROTOCOLS ("h1,h2"). With --asan the ASan addon is built (skip with --no-build when
// build/Debug is current) and the fuzzer re-runs itself with libasan preloaded.
// A finding prints the seed, the iteration and the exact bytes, and the exit status is 1.
import { spawnSync } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { createRequire } from 'node:module'
import { asanEnv, asanBinary, buildAsan, root } from './asan.mjs'

const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a)
  return m ? [m[1], m[2] ?? true] : [a, true]
}))

if (args.asan && !process.env.NODE_HYPER_SANITIZER) {
  const binary = args['no-build'] ? asanBinary : buildAsan()
  const rest = process.argv.slice(2).filter((a) => a !== '--asan' && a !== '--no-build')
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(root, 'scripts', 'fuzz-responses.mjs'), ...rest], { cwd: root, env: asanEnv(binary), stdio: 'inherit' })
  process.exit(r.status ?? 1)
}

const knob = (name, dflt) => args[name.toLowerCase().replace(/^fuzz_/, '')] ?? process.env[name] ?? dflt
const ITERATIONS = Number(knob('FUZZ_ITERATIONS', 2000))
const SEED = Number(knob('FUZZ_SEED', Math.floor(Math.random() * 2 ** 31)))
const CONCURRENCY = Number(knob('FUZZ_CONCURRENCY', 8))
const SETTLE_MS = Number(knob('FUZZ_SETTLE_MS', 5000))
const PROTOCOLS = String(knob('FUZZ_PROTOCOLS', 'h1,h2')).split(',')

const require = createRequire(import.meta.url)
const hyper = require(path.join(root, 'dist', 'cjs', 'index.js'))
const { binding } = require(path.join(root, 'dist', 'cjs', 'native.js'))
const { ClientConn, HyperError, InvalidArgumentError } = hyper

// ---------------------------------------------------------------- deterministic randomness

function rng (seed) {
  let s = seed >>> 0 || 1
  const next = () => { // mulberry32
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n) => Math.floor(next() * n)
  return { next, int, pick: (a) => a[int(a.length)], chance: (p) => next() < p }
}

// ---------------------------------------------------------------- HTTP/1.1 responses

const H1_CORPUS = [
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-t\r\n\r\n3;ext=1\r\nabc\r\n0\r\nx-t: 1\r\n\r\n',
  'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nclose-delimited body',
  'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  'HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nnot found',
  'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye',
  'HTTP/1.1 301 Moved Permanently\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n',
]

const SPLICE_LINES = [
  'Content-Length: 0', 'Content-Length: 1', 'Content-Length: 99999999999999999999', 'Content-Length: -1',
  'Content-Length: 5, 5', 'Content-Length: 5\r\nContent-Length: 6', 'Transfer-Encoding: chunked',
  'Transfer-Encoding: gzip, chunked', 'Transfer-Encoding: identity', 'Transfer-Encoding: chunked, chunked',
  ' folded continuation', '\tfolded tab', 'NoColonHere', 'Bad Name: x', 'X-Empty:', ': no-name',
  'X-Ctl: a\x01b', 'X-High: \xff\xfe', 'Connection: close', 'Connection: upgrade', 'Upgrade: h2c',
  'Keep-Alive: timeout=0', 'Keep-Alive: timeout=99999999999', 'Trailer: Content-Length', 'X-Nul: a\x00b',
  'HTTP/1.1 200 OK', '\r', '\n', '',
]

const INTERESTING_BYTES = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x3a, 0x3b, 0x30, 0x39, 0x41, 0x66, 0x7f, 0x80, 0xff]

function h1Response (r) {
  let b = Buffer.from(r.pick(H1_CORPUS), 'latin1')
  const ops = 1 + r.int(3)
  for (let i = 0; i < ops; i++) b = h1Mutate(r, b)
  return b
}

function h1Mutate (r, b) {
  switch (r.int(11)) {
    case 0: { // bit flips
      b = Buffer.from(b)
      for (let k = 1 + r.int(8); k > 0; k--) if (b.length) b[r.int(b.length)] ^= 1 << r.int(8)
      return b
    }
    case 1: { // interesting bytes
      b = Buffer.from(b)
      for (let k = 1 + r.int(4); k > 0; k--) if (b.length) b[r.int(b.length)] = r.pick(INTERESTING_BYTES)
      return b
    }
    case 2: // truncation
      return b.subarray(0, r.int(b.length + 1))
    case 3: { // splice a header line after the status line
      const at = b.indexOf('\r\n')
      if (at === -1) return b
      return Buffer.concat([b.subarray(0, at + 2), Buffer.from(r.pick(SPLICE_LINES) + '\r\n', 'latin1'), b.subarray(at + 2)])
    }
    case 4: { // chunk-size garbage
      const sizes = ['ffffffffffffffffffff', '-1', '0x10', 'g', '5 ', ' 5', '5;' + 'e'.repeat(r.int(5000)), '', '00000000000000000005', '1\n', '7fffffffffffffff']
      const s = b.toString('latin1').replace(/\r\n([0-9a-fA-F]+)(;[^\r]*)?\r\n/, () => `\r\n${r.pick(sizes)}\r\n`)
      return Buffer.from(s, 'latin1')
    }
    case 5: { // a huge header value or a huge number of headers
      const at = b.indexOf('\r\n')
      if (at === -1) return b
      const extra = r.chance(0.5)
        ? `X-Huge: ${'v'.repeat(1 << (10 + r.int(11)))}\r\n`
        : Array.from({ length: 90 + r.int(30) }, (_, i) => `X-H${i}: ${i}\r\n`).join('')
      return Buffer.concat([b.subarray(0, at + 2), Buffer.from(extra, 'latin1'), b.subarray(at + 2)])
    }
    case 6: { // status line damage
      const lines = ['HTTP/1.1 999 X', 'HTTP/1.1 000 X', 'HTTP/1.1 20 OK', 'HTTP/9.9 200 OK', 'HTTP/1.1 200', 'HTTP/1.1  200 OK',
        'HTTP/1.1 200 Gr\xfc\xdfe', 'HTTP/1.1 200 ' + 'r'.repeat(70000), 'ICY 200 OK', 'HTTP/1.1 101 Switching Protocols', 'HTTP/1.1 199 X']
      const at = b.indexOf('\r\n')
      return Buffer.concat([Buffer.from(r.pick(lines), 'latin1'), at === -1 ? Buffer.from('\r\n') : b.subarray(at)])
    }
    case 7: // two responses back to back (an unsolicited second one)
      return Buffer.concat([b, Buffer.from(r.pick(H1_CORPUS), 'latin1')])
    case 8: { // duplicate a random slice
      if (b.length < 2) return b
      const s = r.int(b.length - 1)
      const e = s + 1 + r.int(Math.min(64, b.length - s))
      return Buffer.concat([b.subarray(0, e), b.subarray(s, e), b.subarray(e)])
    }
    case 9: { // CRLF -> LF, or bare CR
      const s = b.toString('latin1')
      return Buffer.from(r.chance(0.5) ? s.replace(/\r\n/g, '\n') : s.replace('\r\n', '\r'), 'latin1')
    }
    default: // random garbage appended
      return Buffer.concat([b, Buffer.from(Array.from({ length: r.int(64) }, () => r.int(256)))])
  }
}

// ---------------------------------------------------------------- HTTP/2 responses

const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 }

function frame (type, flags, id, payload = Buffer.alloc(0)) {
  const h = Buffer.alloc(9)
  h.writeUIntBE(payload.length, 0, 3)
  h[3] = type
  h[4] = flags
  h.writeUInt32BE(id >>> 0 & 0x7fffffff, 5)
  return Buffer.concat([h, payload])
}

function hpackInt (value, prefixBits, first) {
  const max = (1 << prefixBits) - 1
  if (value < max) return [first | value]
  const out = [first | max]
  value -= max
  while (value >= 128) { out.push((value % 128) + 128); value = Math.floor(value / 128) }
  out.push(value)
  return out
}
const hpackStr = (s) => { const b = Buffer.from(s, 'latin1'); return Buffer.concat([Buffer.from(hpackInt(b.length, 7, 0)), b]) }
function hpack (status, fields) {
  const parts = [status === 200 ? Buffer.from([0x88]) : Buffer.concat([Buffer.from([0x08]), hpackStr(String(status))])]
  for (const [n, v] of fields) parts.push(Buffer.from([0x00]), hpackStr(n), hpackStr(v))
  return Buffer.concat(parts)
}

function h2Response (r, id) {
  const frames = []
  const fields = [['content-type', 'text/plain']]
  if (r.chance(0.5)) fields.push(['content-length', r.pick(['5', '0', '6', '99999999999999999999', '-1', 'x'])])
  if (r.chance(0.2)) fields.push([r.pick(['Upper-Case', 'connection', 'transfer-encoding', ':path', ':status', 'te', 'x\x00y', '']), r.pick(['1', 'chunked', 'trailers', '\r\n'])])
  if (r.chance(0.1)) fields.push(['x-huge', 'v'.repeat(1 << (10 + r.int(8)))])
  const status = r.chance(0.85) ? 200 : r.pick([100, 103, 101, 204, 304, 0, 999, 20])
  let block = hpack(status, fields)
  if (r.chance(0.15)) { // damaged HPACK
    block = Buffer.from(block)
    for (let k = 1 + r.int(4); k > 0; k--) block[r.int(block.length)] = r.int(256)
  }
  if (r.chance(0.15) && block.length > 2) { // HEADERS + CONTINUATION split
    const cut = 1 + r.int(block.length - 1)
    frames.push(frame(T.HEADERS, 0, id, block.subarray(0, cut)))
    frames.push(frame(T.CONTINUATION, r.chance(0.8) ? 0x4 : 0, r.chance(0.9) ? id : id + 2, block.subarray(cut)))
  } else {
    frames.push(frame(T.HEADERS, 0x4 | (r.chance(0.1) ? 0x1 : 0), id, block))
  }
  const body = Buffer.from('hello')
  const nData = r.int(4)
  for (let i = 0; i < nData; i++) frames.push(frame(T.DATA, 0, id, body))
  frames.push(frame(T.DATA, 0x1, id, body))
  // Frame-level damage.
  const extra = r.int(3)
  for (let i = 0; i < extra; i++) {
    switch (r.int(11)) {
      case 0: frames.splice(r.int(frames.length + 1), 0, frame(T.RST_STREAM, 0, id, u32(r.int(14)))); break
      case 1: frames.splice(r.int(frames.length + 1), 0, frame(T.GOAWAY, 0, 0, Buffer.concat([u32(r.chance(0.5) ? 0 : id), u32(r.int(14))]))); break
      case 2: frames.splice(r.int(frames.length + 1), 0, frame(T.WINDOW_UPDATE, 0, r.chance(0.5) ? 0 : id, u32(r.pick([0, 1, 0x7fffffff, 0x80000000])))); break
      case 3: frames.splice(r.int(frames.length + 1), 0, frame(T.SETTINGS, 0, 0, Buffer.concat([u16(r.int(10)), u32(r.pick([0, 1, 16384, 16777216, 0xffffffff]))]))); break
      case 4: frames.splice(r.int(frames.length + 1), 0, frame(T.PING, 0, r.chance(0.8) ? 0 : id, Buffer.alloc(r.chance(0.8) ? 8 : 7))); break
      case 5: frames.splice(r.int(frames.length + 1), 0, frame(T.DATA, 0x8, id, Buffer.concat([Buffer.from([r.int(256)]), body]))); break // padded, maybe bad pad length
      case 6: frames.splice(r.int(frames.length + 1), 0, frame(r.int(256), r.int(256), r.int(8), Buffer.alloc(r.int(32)))); break // unknown / random frame
      case 7: frames.splice(r.int(frames.length + 1), 0, frame(T.PUSH_PROMISE, 0x4, id, Buffer.concat([u32(id + 1), hpack(200, [])]))); break
      case 8: frames.splice(r.int(frames.length + 1), 0, frame(T.DATA, 0, 0, body)); break // DATA on stream 0
      case 9: { // a frame whose length field lies
        const f = Buffer.from(frames[r.int(frames.length)])
        f.writeUIntBE(r.int(1 << 24), 0, 3)
        frames[r.int(frames.length)] = f
        break
      }
      default: { // bit flips anywhere in the frames
        const i2 = r.int(frames.length)
        const f = Buffer.from(frames[i2])
        for (let k = 1 + r.int(6); k > 0; k--) f[r.int(f.length)] ^= 1 << r.int(8)
        frames[i2] = f
      }
    }
  }
  let out = Buffer.concat(frames)
  if (r.chance(0.1)) out = out.subarray(0, r.int(out.length + 1)) // truncation
  return out
}

const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b }
const u16 = (n) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b }

// ---------------------------------------------------------------- the server

/** How the server delivers `bytes`: one write or pieces, then end, reset or leave open. */
function deliver (r, socket, bytes, last) {
  const pieces = []
  if (r.chance(0.6)) pieces.push(bytes)
  else {
    let at = 0
    while (at < bytes.length) {
      const n = 1 + r.int(Math.max(1, Math.min(bytes.length - at, 1 + r.int(4096))))
      pieces.push(bytes.subarray(at, at + n))
      at += n
    }
  }
  const ending = last ? r.pick(['end', 'end', 'open', 'reset']) : 'open'
  let i = 0
  const step = () => {
    if (socket.destroyed) return
    if (i < pieces.length) {
      socket.write(pieces[i++])
      if (r.chance(0.3)) setTimeout(step, r.int(5))
      else step()
      return
    }
    if (ending === 'end') socket.end()
    else if (ending === 'reset') socket.resetAndDestroy()
  }
  step()
}

// ---------------------------------------------------------------- one iteration

const outcomes = new Map()
const findings = []
const count = (k) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1)

function withBound (p, ms) {
  let t
  return Promise.race([p.finally(() => clearTimeout(t)), new Promise((resolve) => { t = setTimeout(() => resolve({ hang: true }), ms) })])
}

function checkError (err) {
  if (!(err instanceof HyperError) && !(err instanceof InvalidArgumentError)) return `untyped ${err?.name}: ${err?.message}`
  if (typeof err.code !== 'string' || err.code.length === 0) return `no code: ${err.message}`
  return null
}

async function main () {
  console.log(`fuzz-responses: ${ITERATIONS} iterations, seed ${SEED}, concurrency ${CONCURRENCY}, protocols ${PROTOCOLS.join(',')}` +
    (process.env.NODE_HYPER_SANITIZER ? `, sanitizer ${process.env.NODE_HYPER_SANITIZER}` : ''))
  const t0 = Date.now()
  const slots = await Promise.all(Array.from({ length: CONCURRENCY }, () => startSlotServer()))
  let next = 0
  await Promise.all(slots.map(async (slot) => {
    while (next < ITERATIONS) {
      const i = next++
      slot.current = null
      const it = await runIteration(slot, i)
      if (it) findings.push(it)
      if (findings.length >= 10) break
      if (i > 0 && i % 1000 === 0) console.log(`  ${i} iterations, ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    }
  }))
  for (const slot of slots) {
    for (const s of slot.sockets) s.destroy()
    slot.server.close()
  }
  // Every native connection must be gone once nothing references them any more (a destroyed
  // connection's native half lives until its JS wrapper is collected: needs --expose-gc).
  let live = null
  if (typeof globalThis.gc === 'function') {
    for (let k = 0; k < 50; k++) {
      globalThis.gc()
      await new Promise((resolve) => setTimeout(resolve, 20))
      live = binding.liveObjects()
      if (live.connections === 0) break
    }
  } else {
    console.log('note: run node with --expose-gc to check that no native connection outlives its case')
  }
  const secs = ((Date.now() - t0) / 1000).toFixed(1)
  console.log(`outcomes after ${secs} s:`)
  for (const [k, v] of [...outcomes].sort((a, b) => b[1] - a[1])) console.log(`  ${String(v).padStart(6)}  ${k}`)
  // Settled and typed, but known to be misreported (issue #15 item 19: libuv's uv_poll turns
  // POLLERR into UV_EBADF): listed, not counted as findings.
  const suspicious = [...outcomes].filter(([k]) => / rejected EBADF$/.test(k))
  if (suspicious.length) console.log(`note: ${suspicious.map(([k, v]) => `${v} x ${k}`).join(', ')} (a reset reported as EBADF; the errno should be ECONNRESET)`)
  if (live && live.connections !== 0) findings.push({ what: `native connections still alive after every case finished: ${JSON.stringify(live)}` })
  if (findings.length) {
    console.log(`\n${findings.length} finding(s):`)
    for (const f of findings) console.log(JSON.stringify(f, null, 1))
    process.exitCode = 1
  } else {
    console.log('no findings')
  }
}

async function startSlotServer () {
  const slot = { current: null, sockets: new Set() }
  slot.server = net.createServer((socket) => {
    slot.sockets.add(socket)
    socket.on('close', () => slot.sockets.delete(socket))
    socket.on('error', () => {})
    const c = slot.current
    if (!c) { socket.destroy(); return }
    serve(c, socket)
  })
  await new Promise((resolve) => slot.server.listen(0, '127.0.0.1', resolve))
  slot.port = slot.server.address().port
  return slot
}

function serve (c, socket) {
  let buf = Buffer.alloc(0)
  let answered = 0
  let preface = false
  if (c.proto === 'h2') socket.write(frame(T.SETTINGS, 0, 0))
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d])
    if (c.proto === 'h1') {
      let at
      while ((at = buf.indexOf('\r\n\r\n')) !== -1) {
        buf = buf.subarray(at + 4)
        const bytes = c.responses[answered++]
        if (bytes) {
          c.sent.push(bytes)
          deliver(c.r, socket, bytes, answered === c.responses.length)
        }
      }
      return
    }
    if (!preface) {
      if (buf.length < 24) return
      preface = true
      buf = buf.subarray(24)
    }
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3)
      if (buf.length < 9 + len) break
      const type = buf[3]
      const flags = buf[4]
      const id = buf.readUInt32BE(5) & 0x7fffffff
      buf = buf.subarray(9 + len)
      if (type === T.SETTINGS && !(flags & 1)) socket.write(frame(T.SETTINGS, 1, 0))
      else if (type === T.PING && !(flags & 1)) socket.write(frame(T.PING, 1, 0, Buffer.alloc(8)))
      else if (type === T.HEADERS) {
        const make = c.responses[answered++]
        if (make) {
          const bytes = make(id)
          c.sent.push(bytes)
          deliver(c.r, socket, bytes, answered === c.responses.length)
        }
      }
    }
  })
}

async function runIteration (slot, i) {
  const r = rng((SEED ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0)
  const proto = r.pick(PROTOCOLS)
  const requests = r.chance(0.3) ? 2 : 1
  const responses = []
  for (let k = 0; k < requests; k++) {
    if (proto === 'h1') responses.push(h1Response(r))
    else {
      const rr = rng((SEED ^ Math.imul(i + 1, 0x85ebca6b) ^ (k + 1)) >>> 0)
      responses.push((id) => h2Response(rr, id))
    }
  }
  const c = { proto, r, responses, sent: [] }
  slot.current = c
  let conn
  const exchanges = []
  const run = (async () => {
    conn = await ClientConn.connect(`http://127.0.0.1:${slot.port}`, { http2: proto === 'h2', connectTimeout: 2000, headersTimeout: 1500, bodyTimeout: 1500 })
    const one = async () => {
      const method = r.pick(['GET', 'GET', 'HEAD', 'POST'])
      const res = await conn.request({ path: '/', method, body: method === 'POST' ? 'x'.repeat(r.int(100_000)) : undefined })
      void res.headers
      void res.statusText
      await res.body.bytes()
      return `${res.status}`
    }
    // HTTP/1 requests queue behind each other; HTTP/2 ones run at once.
    for (let k = 0; k < requests; k++) exchanges.push(one().then((v) => ({ ok: v }), (e) => ({ err: e })))
    return Promise.all(exchanges)
  })().catch((e) => [{ err: e }])
  const result = await withBound(run, SETTLE_MS)
  const finding = (what) => ({ what, seed: SEED, iteration: i, proto, sent: c.sent.map((b) => b.toString('base64')) })
  try {
    if (result.hang) {
      count('HANG')
      return finding(`an exchange did not settle within ${SETTLE_MS} ms`)
    }
    for (const x of result) {
      if (x.ok) count(`${proto} resolved ${x.ok}`)
      else {
        const bad = checkError(x.err)
        if (bad) {
          count(`${proto} UNTYPED`)
          return finding(bad)
        }
        count(`${proto} rejected ${x.err.code}`)
      }
    }
    return null
  } finally {
    conn?.destroy()
    for (const s of slot.sockets) s.destroy()
    slot.current = null
  }
}

main().catch((e) => { console.error(e); process.exit(1) })
