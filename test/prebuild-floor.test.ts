// Every Linux binary in prebuilds/ meets the floor of its target (scripts/prebuild/targets.mjs):
// the ELF machine of its folder, glibc symbol versions <= 2.28 (the floor of Node's own Linux
// builds) or none at all (musl), no libstdc++/libgcc_s, and only the Node-API entry points
// exported. `npm run prebuild:linux` writes those binaries (a fresh clone has none: the per-binary
// tests are then absent); the checker itself is tested on the local build, which the host's
// compiler links against the host's libstdc++ and glibc.
import { describe, it, expect } from 'vitest'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkPrebuild, GLIBC_FLOOR } from '../scripts/prebuild/targets.mjs'
import { readElf, compareVersions } from '../scripts/prebuild/elf.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const prebuilds = path.join(root, 'prebuilds')
const linux: [string, string, string | undefined][] = fs.existsSync(prebuilds)
  ? fs.readdirSync(prebuilds).filter((d) => d.startsWith('linux-')).flatMap((d) =>
    fs.readdirSync(path.join(prebuilds, d)).filter((f) => f.endsWith('.node'))
      .map((f) => [`prebuilds/${d}/${f}`, d.slice('linux-'.length), /\.(glibc|musl)\.node$/.exec(f)?.[1]] as [string, string, string | undefined]))
  : []
const localBuild = path.join(root, 'build', 'Release', 'node_hyper.node')
const hasReadelf = (() => { try { execFileSync('readelf', ['--version'], { stdio: 'ignore' }); return true } catch { return false } })()

describe('Linux prebuild floors', () => {
  it.each(linux)('%s (%s, %s) meets its floor', (rel, arch, libc) => {
    const r = checkPrebuild(path.join(root, rel), arch, libc)
    expect(r.problems).toEqual([])
    if (libc === 'glibc') expect(compareVersions(r.maxGlibc!, GLIBC_FLOOR)).toBeLessThanOrEqual(0)
  })

  it('compares versions numerically', () => {
    expect(compareVersions('2.28', '2.28')).toBe(0)
    expect(compareVersions('2.3.4', '2.28')).toBeLessThan(0)
    expect(compareVersions('2.34', '2.28')).toBeGreaterThan(0)
    expect(compareVersions('2.28', '2.2.5')).toBeGreaterThan(0)
  })

  it.runIf(process.platform === 'linux' && fs.existsSync(localBuild))('rejects a binary linked by the host toolchain', () => {
    const r = checkPrebuild(localBuild, process.arch, 'glibc')
    expect(r.problems).toContain('needs libstdc++.so.6 (the C++ runtime must be linked in)')
    if (r.maxGlibc && compareVersions(r.maxGlibc, GLIBC_FLOOR) > 0) {
      expect(r.problems.some((p) => p.startsWith(`needs GLIBC_${r.maxGlibc} > ${GLIBC_FLOOR}: `))).toBe(true)
    }
    expect(checkPrebuild(localBuild, process.arch === 'x64' ? 'arm64' : 'x64', 'glibc').problems[0]).toMatch(/^ELF machine /)
    expect(checkPrebuild(localBuild, process.arch, 'musl').problems).toContain('needs libc.so.6')
  })

  it.runIf(process.platform === 'linux' && fs.existsSync(localBuild) && hasReadelf)('reads what readelf reads', () => {
    const elf = readElf(localBuild)
    const dynamic = execFileSync('readelf', ['-d', '-W', localBuild], { encoding: 'utf8' })
    expect(elf.needed).toEqual([...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[(.+?)\]/g)].map((m) => m[1]))
    const versions = execFileSync('readelf', ['-V', '-W', localBuild], { encoding: 'utf8' })
    const needs = versions.slice(versions.indexOf('.gnu.version_r'))
    const names = [...needs.matchAll(/Name: (\S+)\s+Flags:/g)].map((m) => m[1]).sort()
    expect(elf.versionNeeds.flatMap((n) => n.versions.map((v) => v.name)).sort()).toEqual(names)
    const undef = execFileSync('readelf', ['--dyn-syms', '-W', localBuild], { encoding: 'utf8' })
      .split('\n').filter((l) => /\sUND\s+\S/.test(l)).length
    expect(elf.symbols.filter((s) => !s.defined).length).toBe(undef)
  })
})
