// The project's C declarations (native/include/hyper_ffi.h) must match the hyper archive:
// native/hyper/build.rs checks signatures and constants at compile time; this file checks that
// every declared function is defined in the built archive, and nothing hyper exports is missing.
import { describe, it, expect } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { hyperVersion } from '../dist/esm/index.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const header = fs.readFileSync(path.join(root, 'native', 'include', 'hyper_ffi.h'), 'utf8')
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, 'build', 'cargo')
const archive = path.join(targetDir, 'release', 'libnode_hyper_ffi.a')

function declaredFunctions (): string[] {
  const noComments = header.replace(/\/\*[\s\S]*?\*\//g, '')
  const names = new Set<string>()
  for (const m of noComments.matchAll(/^[^#\n(]*?\b(hyper_[a-z0-9_]+)\s*\(/gm)) {
    if (!/^\s*typedef/.test(m[0])) names.add(m[1]!)
  }
  return [...names].sort()
}

describe('C declarations', () => {
  it('declares the 60 functions of hyper\'s C API', () => {
    expect(declaredFunctions()).toHaveLength(60)
  })

  it('cargo build (which runs the compile-time signature and constant checks) succeeds', () => {
    const r = spawnSync('cargo', ['build', '--release', '--locked', '--target-dir', targetDir], {
      cwd: path.join(root, 'native', 'hyper'), encoding: 'utf8',
    })
    expect(r.status, r.stderr).toBe(0)
  }, 300_000)

  it('the archive\'s allocator keeps a block\'s bytes when it grows or shrinks across its size split (cargo test, both allocators)', () => {
    for (const allocator of ['mimalloc', 'system']) {
      const r = spawnSync('cargo', ['test', '--release', '--locked', '--lib', '--target-dir', targetDir], {
        cwd: path.join(root, 'native', 'hyper'), encoding: 'utf8', env: { ...process.env, NODE_HYPER_ALLOCATOR: allocator },
      })
      expect(r.status, r.stderr).toBe(0)
      expect(r.stdout).toContain('test alloc::tests::realloc_across_large_keeps_the_bytes ... ok')
    }
  }, 300_000)

  it('every declared function is defined in the archive, and every exported hyper_* is declared', () => {
    if (!fs.existsSync(archive)) execFileSync(process.execPath, [path.join(root, 'scripts', 'cargo-build.js')], { stdio: 'ignore' })
    const nm = execFileSync('nm', ['-g', '--defined-only', archive], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] })
    const defined = new Set([...nm.matchAll(/^[0-9a-f]+ T (hyper_[a-z0-9_]+)$/gm)].map((m) => m[1]!))
    const declared = declaredFunctions()
    const missing = declared.filter((n) => !defined.has(n))
    const undeclared = [...defined].filter((n) => !declared.includes(n))
    expect({ missing, undeclared }).toEqual({ missing: [], undeclared: [] })
  })

  it('the addon links the pinned hyper release', () => {
    const cargoToml = fs.readFileSync(path.join(root, 'native', 'hyper', 'Cargo.toml'), 'utf8')
    const pinned = /hyper = \{ version = "=([0-9.]+)"/.exec(cargoToml)?.[1]
    expect(pinned).toBeDefined()
    expect(hyperVersion).toBe(pinned)
  })
})
