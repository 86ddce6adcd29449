#!/usr/bin/env node
// Builds the four Linux prebuilds on a Debian 12 x64 machine and proves each one:
//
//   npm run prebuild:linux [-- [target ...] [--no-verify] [--no-suite]]
//   targets: linux-x64-glibc linux-x64-musl linux-arm64-glibc linux-arm64-musl (default: all)
//
// How: scripts/prebuild/setup.mjs installs the toolchain (Debian's rustc-web 1.96 with its aarch64
// std and std sources, zig from PyPI, qemu-user, ...). For each target, prebuildify runs node-gyp on
// binding.gyp as usual, in a staging folder of the cache, with zig as the C/C++ compiler and linker
// (scripts/prebuild/zig-cc) and scripts/cargo-build.js building hyper's archive for the target
// (CARGO_BUILD_TARGET; for musl, whose std Debian does not ship, std is built from rust-web-src with
// cargo's build-std). zig links glibc targets against glibc 2.28's symbols and links its libc++
// statically, so the binaries need only libc.
//
// Proofs, per target, before the binary is copied into prebuilds/ (a failing one is removed there):
//  - the floor check (scripts/prebuild/targets.mjs; also run by the test suite): ELF machine,
//    glibc symbol versions <= 2.28 or none (musl), no libstdc++/libgcc_s, only Node-API exports;
//  - every symbol the addon takes from outside libc is exported by each Node it is tested on, and,
//    for musl, every libc symbol exists in Debian 12's musl 1.2.3;
//  - test/smoke/smoke.mjs (connect, HTTP/1.1, h2c, TLS h2 + http/1.1, a TLS verification failure,
//    aborts) under real Node binaries of the target: arm64 through qemu-user, musl under a musl
//    loader;
//  - linux-x64-glibc: then the whole test suite with NODE_HYPER_BINARY set to the prebuild.
// Caches (tools, cargo target dirs, zig's cache, node-gyp staging) live in $NODE_HYPER_CACHE,
// default ~/.cache/node-hyper; nothing but prebuilds/ is written in the repository.
import { spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { TARGETS, GLIBC_FLOOR, MUSL_FLOOR, checkPrebuild, prebuildPath } from './prebuild/targets.mjs'
import { readElf } from './prebuild/elf.mjs'
import { setup, run, ZIG_VERSION } from './prebuild/setup.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const argv = process.argv.slice(2)
const flags = new Set(argv.filter((a) => a.startsWith('--')))
for (const f of flags) if (!['--no-verify', '--no-suite'].includes(f)) usage(`unknown option ${f}`)
const targets = argv.filter((a) => !a.startsWith('--'))
for (const t of targets) if (!TARGETS[t]) usage(`unknown target ${t}`)
if (targets.length === 0) targets.push(...Object.keys(TARGETS))
const verify = !flags.has('--no-verify')

function usage (msg) {
  console.error(`prebuild:linux: ${msg}\nusage: npm run prebuild:linux -- [${Object.keys(TARGETS).join('|')} ...] [--no-verify] [--no-suite]`)
  process.exit(2)
}
function log (msg) { console.log(`\n== ${msg}`) }
const seconds = (t0) => Math.round((performance.now() - t0) / 100) / 10

const cache = path.resolve(process.env.NODE_HYPER_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'node-hyper'))
// One staging area per checkout, so that two clones on one machine do not share node-gyp builds.
const checkoutId = crypto.createHash('sha256').update(root).digest('hex').slice(0, 12)

log(`toolchain (cache: ${cache})`)
let t0 = performance.now()
const tools = setup({ cache, targets, verify })
console.log(`${tools.rustVersion}; zig ${ZIG_VERSION}; setup ${seconds(t0)} s`)

// Node's headers (node_api.h, uv.h, and OpenSSL's for every architecture) from the Node running this.
const nodedir = process.env.npm_config_nodedir || path.resolve(process.execPath, '..', '..')
for (const f of ['include/node/node_api.h', 'include/node/uv.h', 'include/node/openssl/archs/linux-aarch64']) {
  if (!fs.existsSync(path.join(nodedir, f))) throw new Error(`${path.join(nodedir, f)} is missing: set npm_config_nodedir to a Node install with its headers`)
}
const nodeGyp = process.env.npm_config_node_gyp ||
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
const prebuildify = path.join(root, 'node_modules', 'prebuildify', 'bin.js')
for (const f of [nodeGyp, prebuildify]) {
  if (!fs.existsSync(f)) throw new Error(`${f} is missing (run \`npm ci --ignore-scripts\` or \`npm install\` first)`)
}

/** Builds one target with prebuildify + node-gyp + zig in the staging folder; returns the .node. */
function build (target) {
  const t = TARGETS[target]
  const stage = path.join(cache, 'stage', checkoutId, target)
  fs.mkdirSync(stage, { recursive: true })
  for (const name of ['binding.gyp', 'package.json', 'native', 'scripts', 'node_modules']) {
    const link = path.join(stage, name)
    let current = null
    try { current = fs.readlinkSync(link) } catch {}
    if (current !== path.join(root, name)) {
      fs.rmSync(link, { recursive: true, force: true })
      fs.symlinkSync(path.join(root, name), link)
    }
  }
  fs.rmSync(path.join(stage, 'prebuilds'), { recursive: true, force: true })
  const env = {
    ...process.env,
    npm_config_nodedir: nodedir,
    CC: `${tools.zigCc} cc`,
    CXX: `${tools.zigCc} c++`,
    NODE_HYPER_ZIG: tools.zig,
    NODE_HYPER_ZIG_TARGET: t.zig,
    ZIG_GLOBAL_CACHE_DIR: tools.zigCache,
    ZIG_LOCAL_CACHE_DIR: tools.zigCache,
    CARGO: tools.cargo,
    RUSTC: tools.rustc,
    CARGO_BUILD_TARGET: t.rust,
    CARGO_TARGET_DIR: path.join(cache, 'cargo', target),
  }
  // Flags from the environment would replace native/hyper/.cargo/config.toml's.
  for (const v of ['RUSTFLAGS', 'CARGO_ENCODED_RUSTFLAGS', 'CARGO_BUILD_RUSTFLAGS', 'RUSTC_WRAPPER']) delete env[v]
  if (t.libc === 'musl') {
    // Debian ships no Rust std for musl: build it from rust-web-src (cargo's build-std, which
    // stable cargo only runs with RUSTC_BOOTSTRAP; nothing else here uses unstable features).
    env.RUSTC_BOOTSTRAP = '1'
    env.CARGO_UNSTABLE_BUILD_STD = 'std,panic_unwind'
  }
  run(process.execPath, [prebuildify, '--napi', '--strip', '--tag-libc', '--arch', t.arch, '--libc', t.libc,
    '--strip-bin', tools.strip[t.arch], '--node-gyp', nodeGyp, '--cwd', stage], { cwd: stage, env })
  const out = path.join(stage, 'prebuilds', `linux-${t.arch}`, `node-hyper.${t.libc}.node`)
  if (!fs.existsSync(out)) throw new Error(`prebuildify did not write ${out}`)
  return out
}

const exportsOf = new Map()
function dynamicExports (file) {
  if (!exportsOf.has(file)) {
    exportsOf.set(file, new Set(readElf(file).symbols.filter((s) => s.defined && s.bind !== 'local' && !s.hidden).map((s) => s.name)))
  }
  return exportsOf.get(file)
}

/** Symbols the addon needs from outside libc must come from each Node; musl's from musl 1.2.3. */
function checkSymbols (file, target) {
  const t = TARGETS[target]
  const problems = []
  const strong = readElf(file).symbols.filter((s) => !s.defined && s.bind === 'global')
  // glibc: what has no GLIBC_ version; musl: what Debian 12's musl 1.2.3 does not export.
  const libc = t.libc === 'musl' ? dynamicExports(tools.muslFloorLibc[t.arch]) : null
  const fromNode = strong.filter((s) => libc ? !libc.has(s.name) : !s.version)
  for (const n of tools.nodes[target] ?? []) {
    const missing = fromNode.filter((s) => !dynamicExports(n.node).has(s.name)).map((s) => s.name)
    if (missing.length) {
      problems.push(`${libc ? `neither musl ${MUSL_FLOOR} nor ` : ''}${n.label} exports ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''}`)
    }
  }
  return { problems, fromNode: fromNode.length }
}

function smoke (file, target, node) {
  const t = TARGETS[target]
  const [cmd, ...pre] = node.cmd
  const r = spawnSync(cmd, [...pre, path.join(root, 'test', 'smoke', 'smoke.mjs')], {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, NODE_HYPER_BINARY: file, SMOKE_EXPECT: `${t.arch}-${t.libc}` },
  })
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trimEnd()
  console.log(out.split('\n').map((l) => `    ${l}`).join('\n'))
  const summary = /^(\d+) passed, (\d+) failed$/m.exec(out)
  return { ok: r.status === 0 && summary !== null && summary[2] === '0', summary: summary?.[0] ?? `exit ${r.status ?? r.signal}` }
}

const results = []
function fail (result, err) {
  result.error = err.message
  console.error(`\n${result.target}: FAILED: ${err.message}`)
  fs.rmSync(prebuildPath(root, result.target), { force: true }) // prebuilds/ holds only binaries that passed
}

// 1. Build every target (into the staging folders; nothing is copied to prebuilds/ yet).
for (const target of targets) {
  const t = TARGETS[target]
  const result = { target }
  results.push(result)
  try {
    log(`${target}: build (rust ${t.rust}, zig ${t.zig})`)
    t0 = performance.now()
    result.file = build(target)
    result.buildSeconds = seconds(t0)
    result.size = fs.statSync(result.file).size
    console.log(`built in ${result.buildSeconds} s, ${(result.size / 1048576).toFixed(1)} MiB`)
  } catch (err) { fail(result, err) }
}

// 2. dist/ for the smoke test. build-ts.mjs loads the addon to list the exports: any binary that
// loads on this machine will do (on a fresh clone the one just built is the only one).
if (verify && results.some((r) => r.file)) {
  log('TypeScript (dist/, loaded by the smoke test)')
  const loadable = [results.find((r) => r.target === 'linux-x64-glibc')?.file, prebuildPath(root, 'linux-x64-glibc'),
    path.join(root, 'build', 'Release', 'node_hyper.node')].find((f) => f && fs.existsSync(f))
  if (!loadable) throw new Error('building dist/ needs an addon that loads here: include linux-x64-glibc, or run `npm install` first')
  run(process.execPath, [path.join(root, 'scripts', 'build-ts.mjs')], { cwd: root, env: { ...process.env, NODE_HYPER_BINARY: loadable } })
}

// 3. Prove each binary; only then copy it into prebuilds/.
for (const result of results.filter((r) => r.file)) {
  const { target, file } = result
  const t = TARGETS[target]
  try {
    log(`${target}: floor${verify ? ', symbols, smoke test' : ''}`)
    const floor = checkPrebuild(file, t.arch, t.libc)
    result.floor = t.libc === 'glibc' ? `GLIBC_${floor.maxGlibc}` : 'no symbol versions'
    console.log(`needs ${floor.needed.join(' ')}; ${result.floor}`)
    const problems = [...floor.problems]
    if (verify) {
      const sym = checkSymbols(file, target)
      problems.push(...sym.problems)
      console.log(`${sym.fromNode} symbols from Node (napi, uv, OpenSSL), all exported by ${tools.nodes[target].map((n) => n.label).join(' and ')}${t.libc === 'musl' ? `; the rest is in musl ${MUSL_FLOOR}` : ''}`)
    }
    if (problems.length) throw new Error(`${verify ? 'floor and symbol checks' : 'floor check'} failed:\n  - ${problems.join('\n  - ')}`)
    if (verify) {
      result.smoke = []
      for (const node of tools.nodes[target]) {
        log(`${target}: smoke test on ${node.label} (${node.via})`)
        t0 = performance.now()
        const s = smoke(file, target, node)
        result.smoke.push(`${node.label}: ${s.summary} (${seconds(t0)} s)`)
        if (!s.ok) throw new Error(`smoke test failed on ${node.label}`)
      }
    }
    const dest = prebuildPath(root, target)
    fs.mkdirSync(path.dirname(dest), { recursive: true })
    fs.copyFileSync(file, dest)
    result.ok = true
  } catch (err) { fail(result, err) }
}

let suite = null
if (verify && !flags.has('--no-suite') && results.find((r) => r.target === 'linux-x64-glibc')?.ok) {
  log('linux-x64-glibc: the test suite with the prebuild (NODE_HYPER_BINARY)')
  const report = path.join(root, 'build', 'test-report.json')
  fs.rmSync(report, { force: true })
  t0 = performance.now()
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run'], {
    cwd: root, stdio: 'inherit', env: { ...process.env, NODE_HYPER_BINARY: prebuildPath(root, 'linux-x64-glibc') },
  })
  suite = { ok: r.status === 0, seconds: seconds(t0) }
  if (fs.existsSync(report)) {
    const j = JSON.parse(fs.readFileSync(report, 'utf8'))
    suite.summary = `${j.numPassedTests} passed, ${j.numFailedTests} failed, ${j.numPendingTests + (j.numTodoTests ?? 0)} skipped`
  }
}

log('summary')
for (const r of results) {
  const size = r.size ? `${(r.size / 1048576).toFixed(1)} MiB` : '-'
  console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.target.padEnd(18)} build ${String(r.buildSeconds ?? '-').padStart(6)} s  ${size.padStart(8)}  ${r.floor ?? ''}` +
    `${r.smoke ? `\n     smoke: ${r.smoke.join('; ')}` : ''}${r.error ? `\n     ${r.error.split('\n')[0]}` : ''}`)
}
if (suite) console.log(`${suite.ok ? 'ok  ' : 'FAIL'} test suite on Node ${process.version} with prebuilds/linux-x64/node-hyper.glibc.node: ${suite.summary ?? ''} (${suite.seconds} s)`)
console.log(`glibc floor ${GLIBC_FLOOR}; musl checked against ${MUSL_FLOOR}${verify ? '' : '; --no-verify: no symbol check, no smoke test'}`)
process.exit(results.every((r) => r.ok) && (suite?.ok ?? true) ? 0 : 1)
