// The npm tarball: right contents, installs into a fresh project with no Rust toolchain (the
// prebuild is used, nothing is compiled), node-gyp-build picks this machine's binary among the
// packed ones, and it works from both ESM and CommonJS.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const platformDir = `${process.platform}-${process.arch}`
// prebuildify --tag-libc names binaries for the C library; node-gyp-build matches musl on Alpine
// and the like (no glibc at runtime), glibc everywhere else.
const glibcRuntime = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime
const libc = process.platform === 'linux' && !glibcRuntime ? 'musl' : 'glibc'
const expectedPrebuild = `prebuilds/${platformDir}/node-hyper.${libc}.node`
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
let tmp: string
let tarball: string
let files: string[]
/** Binaries in the repository's prebuilds/ (from `npm run prebuild:linux` or `npm run prebuild:host`). */
const repoPrebuilds = fs.existsSync(path.join(root, 'prebuilds'))
  ? fs.readdirSync(path.join(root, 'prebuilds'), { withFileTypes: true }).filter((d) => d.isDirectory())
    .flatMap((d) => fs.readdirSync(path.join(root, 'prebuilds', d.name)).filter((f) => f.endsWith('.node')).map((f) => `prebuilds/${d.name}/${f}`))
  : []
/** True when this platform had no prebuild and the tarball got a copy of the local build instead. */
let localCopy = false

/** A fresh clone has no prebuild: add a stripped copy of the local build to the packed tarball
 *  (not to prebuilds/, which holds only release binaries; test/prebuild-floor.test.ts checks them). */
function addLocalBuild (): void {
  const built = path.join(root, 'build', 'Release', 'node_hyper.node')
  const unpacked = path.join(tmp, 'unpacked')
  fs.mkdirSync(unpacked)
  execFileSync('tar', ['-xzf', tarball, '-C', unpacked])
  const target = path.join(unpacked, 'package', expectedPrebuild)
  fs.mkdirSync(path.dirname(target), { recursive: true })
  fs.copyFileSync(built, target)
  if (process.platform === 'linux') execFileSync('strip', ['--strip-unneeded', target])
  execFileSync('tar', ['-czf', tarball, '-C', unpacked, 'package'])
  files.push(expectedPrebuild)
  localCopy = true
}

/** PATH without cargo and rustc. A directory that holds them (~/.cargo/bin, or /usr/bin with Debian's
 *  rustc) is replaced, at the same place in PATH, by a folder of links to everything else in it:
 *  node, npm and the system tools stay reachable. (Windows: such a directory is just dropped.) */
function pathWithoutRust (base: string): string {
  const rust = /^(cargo|rust)/i
  return (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).flatMap((dir, i) => {
    if (!fs.existsSync(path.join(dir, 'cargo')) && !fs.existsSync(path.join(dir, 'rustc')) &&
      !fs.existsSync(path.join(dir, 'cargo.exe'))) return [dir]
    if (process.platform === 'win32') return []
    const shadow = path.join(base, String(i))
    fs.mkdirSync(shadow, { recursive: true })
    for (const name of fs.readdirSync(dir)) if (!rust.test(name)) fs.symlinkSync(path.join(dir, name), path.join(shadow, name))
    return [shadow]
  }).join(path.delimiter)
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-pack-'))
  const out = execFileSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const info = JSON.parse(out)[0]
  tarball = path.join(tmp, info.filename)
  files = info.files.map((f: { path: string }) => f.path)
  if (!files.includes(expectedPrebuild)) addLocalBuild()
}, 120_000)
afterAll(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }) })

describe('npm package', () => {
  it('holds the compiled JS and types, every prebuild, what a source build needs, and nothing else', () => {
    for (const f of ['dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/esm/index.mjs', 'dist/esm/index.d.mts', 'dist/cjs/cli.js',
      ...repoPrebuilds, expectedPrebuild, 'binding.gyp', 'native/src/connection.cc',
      'native/include/hyper_ffi.h', 'native/hyper/Cargo.toml', 'native/hyper/Cargo.lock', 'native/hyper/build.rs',
      'scripts/cargo-build.js', 'LICENSE', 'THIRD_PARTY_NOTICES.md', 'README.md', 'CHANGELOG.md', 'package.json']) {
      expect(files).toContain(f)
    }
    const unexpected = files.filter((f) => /^(test|bench|build|lib|\.ci|node_modules)\//.test(f) || f.includes('target/'))
    expect(unexpected).toEqual([])
  })

  it(`installs without Rust into a fresh project, picks ${expectedPrebuild}, and runs from ESM and CommonJS`, () => {
    const project = path.join(tmp, 'consumer')
    const home = path.join(tmp, 'home')
    fs.mkdirSync(project)
    fs.mkdirSync(home)
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '1.0.0' }))
    // No cargo or rustc anywhere: PATH without them, and a HOME without ~/.cargo.
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: pathWithoutRust(path.join(tmp, 'path')), HOME: home }
    delete env.npm_config_build_from_source
    delete env.NODE_HYPER_BINARY
    delete env.CARGO
    delete env.RUSTUP_HOME
    delete env.CARGO_HOME
    env.npm_config_cache = process.env.npm_config_cache ?? path.join(os.homedir(), '.npm')
    const userrc = path.join(os.homedir(), '.npmrc')
    if (fs.existsSync(userrc)) env.npm_config_userconfig = userrc
    expect(() => execFileSync('cargo', ['--version'], { env, stdio: 'ignore' })).toThrow()

    execFileSync(npm, ['install', '--no-audit', '--no-fund', tarball], { cwd: project, env, stdio: 'pipe' })
    const installed = path.join(project, 'node_modules', 'node-hyper')
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false) // nothing compiled
    // The binary node-gyp-build chooses here, among all the packed ones (e.g. glibc and musl).
    const chosen = execFileSync(process.execPath, ['-p', "require('node-gyp-build').path(require('path').dirname(require.resolve('node-hyper/package.json')))"],
      { cwd: project, env, encoding: 'utf8' }).trim()
    expect(path.relative(installed, chosen).split(path.sep).join('/')).toBe(expectedPrebuild)
    if (!localCopy) expect(fs.readFileSync(chosen).equals(fs.readFileSync(path.join(root, expectedPrebuild)))).toBe(true)

    const program = (kind: 'esm' | 'cjs') => `
      const http = require('node:http')
      ${kind === 'esm' ? '' : "const { ClientConn, hyperVersion } = require('node-hyper')"}
      async function main () {
        ${kind === 'esm' ? "const { ClientConn, hyperVersion } = await import('node-hyper')" : ''}
        const server = http.createServer((req, res) => res.end('hello ${kind}'))
        await new Promise((r) => server.listen(0, '127.0.0.1', r))
        const conn = await ClientConn.connect('http://127.0.0.1:' + server.address().port)
        const res = await conn.request({ path: '/' })
        console.log(JSON.stringify({ status: res.status, body: await res.body.text(), hyperVersion }))
        await conn.close()
        server.close()
      }
      main()`
    fs.writeFileSync(path.join(project, 'app.cjs'), program('cjs'))
    fs.writeFileSync(path.join(project, 'app.mjs'), program('esm')
      .replace("const http = require('node:http')", "import http from 'node:http'"))
    for (const [file, kind] of [['app.cjs', 'cjs'], ['app.mjs', 'esm']] as const) {
      const out = execFileSync(process.execPath, [file], { cwd: project, env, encoding: 'utf8' })
      expect(JSON.parse(out)).toEqual({ status: 200, body: `hello ${kind}`, hyperVersion: '1.12.0' })
    }
  }, 180_000)
})
