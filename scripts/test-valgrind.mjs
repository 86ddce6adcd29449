// Runs test/valgrind/workload.mjs under valgrind memcheck with the normal Release addon.
// Fails on any memory error (invalid read/write, use of uninitialised memory, bad free) and on
// any "definitely lost" block. V8's own conservative stack scan is suppressed.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = [
  '--leak-check=full', '--errors-for-leak-kinds=definite', '--show-leak-kinds=definite',
  `--suppressions=${path.join(root, 'test', 'valgrind', 'node.supp')}`,
  '--error-exitcode=9',
  process.execPath, '--expose-gc', path.join(root, 'test', 'valgrind', 'workload.mjs'),
]
const r = spawnSync('valgrind', args, { cwd: root, stdio: 'inherit' })
if (r.error) {
  console.error('valgrind not available: ' + r.error.message + ' (apt-get install valgrind)')
  process.exit(1)
}
process.exit(r.status ?? 1)
