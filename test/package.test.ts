// The npm tarball: right contents, installs into a fresh project with no Rust toolchain (the
// prebuild is used, nothing is compiled), and works from both ESM and CommonJS.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const prebuildDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`)
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
let tmp: string
let tarball: string
let files: string[]

/** The prebuild for this platform: the one `npm run prebuild` wrote, or (when missing or older
 *  than the local build, as on a fresh clone) a stripped copy of the local Release build. */
function ensurePrebuild (): void {
  const built = path.join(root, 'build', 'Release', 'node_hyper.node')
  const existing = fs.existsSync(prebuildDir) ? fs.readdirSync(prebuildDir).filter((f) => f.endsWith('.node')) : []
  const fresh = existing.length > 0 && (!fs.existsSync(built) ||
    fs.statSync(path.join(prebuildDir, existing[0]!)).mtimeMs >= fs.statSync(built).mtimeMs)
  if (fresh) return
  fs.mkdirSync(prebuildDir, { recursive: true })
  for (const f of existing) fs.rmSync(path.join(prebuildDir, f))
  const target = path.join(prebuildDir, 'node-hyper.glibc.node')
  fs.copyFileSync(built, target)
  execFileSync('strip', ['--strip-unneeded', target])
}

beforeAll(() => {
  ensurePrebuild()
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-pack-'))
  const out = execFileSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const info = JSON.parse(out)[0]
  tarball = path.join(tmp, info.filename)
  files = info.files.map((f: { path: string }) => f.path)
}, 120_000)
afterAll(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }) })

describe('npm package', () => {
  it('holds the compiled JS and types, the prebuild, what a source build needs, and nothing else', () => {
    for (const f of ['dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/esm/index.mjs', 'dist/esm/index.d.mts', 'dist/cjs/cli.js',
      `prebuilds/${process.platform}-${process.arch}/node-hyper.glibc.node`, 'binding.gyp', 'native/src/connection.cc',
      'native/include/hyper_ffi.h', 'native/hyper/Cargo.toml', 'native/hyper/Cargo.lock', 'native/hyper/build.rs',
      'scripts/cargo-build.js', 'LICENSE', 'THIRD_PARTY_NOTICES.md', 'README.md', 'CHANGELOG.md', 'package.json']) {
      expect(files).toContain(f)
    }
    const unexpected = files.filter((f) => /^(test|bench|build|lib|\.ci|node_modules)\//.test(f) || f.includes('target/'))
    expect(unexpected).toEqual([])
  })

  it('installs without Rust into a fresh project and runs from ESM and CommonJS', () => {
    const project = path.join(tmp, 'consumer')
    const home = path.join(tmp, 'home')
    fs.mkdirSync(project)
    fs.mkdirSync(home)
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, version: '1.0.0' }))
    // No cargo or rustc anywhere: a PATH holding only node, npm and a shell (cargo may live in
    // /usr/bin next to them), and a HOME without ~/.cargo.
    const bin = path.join(tmp, 'bin')
    fs.mkdirSync(bin)
    const which = (tool: string): string => execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim()
    fs.symlinkSync(process.execPath, path.join(bin, 'node'))
    fs.symlinkSync(fs.realpathSync(which('npm')), path.join(bin, 'npm'))
    fs.symlinkSync(fs.realpathSync(which('sh')), path.join(bin, 'sh'))
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: bin, HOME: home }
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
