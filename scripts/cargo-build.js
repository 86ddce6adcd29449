#!/usr/bin/env node
'use strict'
// Builds native/hyper (hyper's C API as a static archive) with cargo and prints, on stdout,
// what the linker needs: the archive path followed by the native libraries cargo reports
// (`--print native-static-libs`). binding.gyp and CMakeLists.txt call this at configure time.
// Everything cargo prints goes to stderr so that stdout stays machine-readable.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const os = require('node:os')

const root = path.resolve(__dirname, '..')
const manifest = path.join(root, 'native', 'hyper', 'Cargo.toml')
const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'build', 'cargo')
// A cross build (scripts/prebuild-linux.mjs) names the Rust target in cargo's own variable; cargo
// then writes to <target-dir>/<triple>/release instead of <target-dir>/release.
const triple = process.env.CARGO_BUILD_TARGET || ''
const outDir = path.join(targetDir, triple, 'release')
const libsFile = path.join(outDir, 'native-static-libs.txt')
const archiveName = process.platform === 'win32' ? 'node_hyper_ffi.lib' : 'libnode_hyper_ffi.a'
const archive = path.join(outDir, archiveName)

function findCargo () {
  if (process.env.CARGO) return process.env.CARGO
  const exe = process.platform === 'win32' ? 'cargo.exe' : 'cargo'
  const candidates = (process.env.PATH || '').split(path.delimiter).map((d) => path.join(d, exe))
  candidates.push(path.join(os.homedir(), '.cargo', 'bin', exe))
  for (const c of candidates) {
    try { fs.accessSync(c, fs.constants.X_OK); return c } catch {}
  }
  return null
}

function fail (msg) {
  process.stderr.write(`\nnode-hyper: ${msg}\n\n`)
  process.exit(1)
}

const cargo = findCargo()
if (!cargo) {
  fail('building from source needs a Rust toolchain (cargo >= 1.75) and none was found on PATH or in ~/.cargo/bin.\n' +
    'Install one from https://rustup.rs, or use a platform with a prebuilt binary (see README, "Install").')
}

function run (extra) {
  const args = ['rustc', '--release', '--locked', '--manifest-path', manifest, '--target-dir', targetDir,
    '--', '--print', 'native-static-libs']
  const r = spawnSync(cargo, args, { cwd: path.dirname(manifest), encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, ...extra } })
  if (r.error) fail(`could not run cargo: ${r.error.message}`)
  process.stderr.write(r.stderr)
  if (r.status !== 0) fail(`cargo build of native/hyper failed (exit ${r.status}); see the output above.`)
  const m = /native-static-libs:\s*(.*)$/m.exec(r.stderr)
  return m ? m[1].trim() : null
}

let libs = run()
if (libs === null) {
  // cargo only prints the note when it links the archive. If it was up to date, reuse the
  // recorded list, or touch the crate root so the (cheap) final link step runs again.
  if (fs.existsSync(libsFile) && fs.existsSync(archive)) {
    libs = fs.readFileSync(libsFile, 'utf8').trim()
  } else {
    const now = new Date()
    fs.utimesSync(path.join(root, 'native', 'hyper', 'src', 'lib.rs'), now, now)
    libs = run()
    if (libs === null) fail('cargo did not report native-static-libs')
  }
}
fs.mkdirSync(outDir, { recursive: true })
fs.writeFileSync(libsFile, libs + '\n')
if (!fs.existsSync(archive)) fail(`expected archive not found: ${archive}`)

// MSVC reports bare library names (kernel32.lib); GNU toolchains report -lfoo flags.
process.stdout.write([archive, ...libs.split(/\s+/).filter(Boolean)].join(' ') + '\n')
