// Compiles lib/ (TypeScript) to dist/cjs (CommonJS + .d.ts) and writes the ESM entry
// dist/esm/index.mjs, a thin wrapper over the CommonJS build so that `import` and `require`
// share one module instance (one set of error classes, one default Executor).
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
let tsc
try {
  tsc = require.resolve('typescript/bin/tsc')
} catch {
  // Installed as a dependency without devDependencies: dist/ ships in the package.
  if (fs.existsSync(path.join(root, 'dist', 'cjs', 'index.js'))) process.exit(0)
  console.error('node-hyper: typescript is not installed and dist/ is missing')
  process.exit(1)
}
fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true })
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit', cwd: root })

const cli = path.join(root, 'dist', 'cjs', 'cli.js')
if (fs.existsSync(cli)) {
  const src = fs.readFileSync(cli, 'utf8')
  if (!src.startsWith('#!')) fs.writeFileSync(cli, '#!/usr/bin/env node\n' + src)
  fs.chmodSync(cli, 0o755)
}

// ESM wrapper: named exports taken from the CommonJS build.
const cjs = require(path.join(root, 'dist', 'cjs', 'index.js'))
const names = Object.keys(cjs).filter((n) => n !== 'default' && n !== '__esModule')
fs.mkdirSync(path.join(root, 'dist', 'esm'), { recursive: true })
fs.writeFileSync(path.join(root, 'dist', 'esm', 'index.mjs'),
  `import { createRequire } from 'node:module'\nconst cjs = createRequire(import.meta.url)('../cjs/index.js')\nexport const { ${names.join(', ')} } = cjs\nexport default cjs\n`)
fs.writeFileSync(path.join(root, 'dist', 'esm', 'index.d.mts'),
  `export * from '../cjs/index.js'\nimport * as nodeHyper from '../cjs/index.js'\nexport default nodeHyper\n`)
