// The AddressSanitizer build of the addon and the environment that loads it, shared by
// test-asan.mjs (the whole suite) and fuzz-responses.mjs (--asan).
// The addon (C++) is instrumented; hyper's Rust archive and Node itself are not, but hyper's
// allocations go through libasan's malloc (NODE_HYPER_ALLOCATOR=system). libasan is
// preloaded into every Node process started with asanEnv(); leak detection is left to valgrind
// (npm run test:valgrind) because LSan cannot tell Node's intentional exit-time leaks apart.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const asanBinary = path.join(root, 'build', 'Debug', 'node_hyper.node')

/** Debug + ASan build into build/Debug, then restore the Release configuration. */
export function buildAsan () {
  const nodeGyp = process.env.npm_config_node_gyp || path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
  const nodedir = process.env.npm_config_nodedir || path.resolve(path.dirname(process.execPath), '..')
  const gyp = (args, gypArgs = []) => execFileSync(process.execPath, [nodeGyp, ...args, `--nodedir=${nodedir}`, ...gypArgs], { cwd: root, stdio: 'inherit' })
  gyp(['configure', '--debug'], ['--', '-Dsanitize=address'])
  gyp(['build', '--debug', '-j', '2'])
  gyp(['configure'])
  if (!fs.existsSync(asanBinary)) throw new Error('ASan build missing: ' + asanBinary)
  return asanBinary
}

/** The environment that makes a Node process load the ASan addon with libasan preloaded. */
export function asanEnv (binary = asanBinary) {
  const libasan = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim()
  return {
    ...process.env,
    NODE_HYPER_BINARY: binary,
    // ASan's quarantine keeps freed memory: the suite skips its RSS bounds (not its flows).
    NODE_HYPER_SANITIZER: 'address',
    // hyper's Rust allocations through malloc, which libasan replaces, instead of mimalloc
    // (native/hyper/src/alloc.rs): ASan then checks each of hyper's blocks too.
    NODE_HYPER_ALLOCATOR: 'system',
    LD_PRELOAD: libasan,
    ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:halt_on_error=1:allow_user_segv_handler=1',
  }
}
