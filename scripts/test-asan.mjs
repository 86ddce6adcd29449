// Runs the whole test suite against an AddressSanitizer build of the addon (see asan.mjs for
// what is instrumented and how it is loaded).
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { asanEnv, buildAsan, root } from './asan.mjs'

const binary = buildAsan()
const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs')
const r = spawnSync(process.execPath, [vitest, 'run', ...process.argv.slice(2)], { cwd: root, env: asanEnv(binary), stdio: 'inherit' })
process.exit(r.status ?? 1)
