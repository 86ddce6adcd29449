// Runs test/valgrind/workload.mjs under valgrind memcheck with the normal Release addon, hyper's
// allocations on the system malloc.
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
// NODE_HYPER_ALLOCATOR=system: hyper's Rust allocations go through malloc, which valgrind
// replaces, instead of mimalloc (native/hyper/src/alloc.rs), so each of hyper's blocks is checked
// and a leaked hyper object shows as "definitely lost".
const r = spawnSync('valgrind', args, { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_HYPER_ALLOCATOR: 'system' } })
if (r.error) {
  console.error('valgrind not available: ' + r.error.message + ' (apt-get install valgrind)')
  process.exit(1)
}
process.exit(r.status ?? 1)
