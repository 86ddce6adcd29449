// The Linux prebuild targets and the floors each binary must meet. One table, read by the build
// (scripts/prebuild-linux.mjs) and by the floor test (test/prebuild-floor.test.ts).
import path from 'node:path'
import { readElf, compareVersions, EM_X86_64, EM_AARCH64 } from './elf.mjs'

/** Oldest glibc the glibc binaries load on: the floor of Node's own official Linux builds. */
export const GLIBC_FLOOR = '2.28'
/** Oldest musl the musl binaries are checked against (Debian 12's musl, by the build). */
export const MUSL_FLOOR = '1.2.3'
/** What a Node-API addon has to export; everything else (hyper, libc++) stays inside. */
export const EXPORTS = ['napi_register_module_v1', 'node_api_module_get_api_version_v1']

export const TARGETS = {
  'linux-x64-glibc': { arch: 'x64', libc: 'glibc', rust: 'x86_64-unknown-linux-gnu', zig: `x86_64-linux-gnu.${GLIBC_FLOOR}` },
  'linux-x64-musl': { arch: 'x64', libc: 'musl', rust: 'x86_64-unknown-linux-musl', zig: 'x86_64-linux-musl' },
  'linux-arm64-glibc': { arch: 'arm64', libc: 'glibc', rust: 'aarch64-unknown-linux-gnu', zig: `aarch64-linux-gnu.${GLIBC_FLOOR}` },
  'linux-arm64-musl': { arch: 'arm64', libc: 'musl', rust: 'aarch64-unknown-linux-musl', zig: 'aarch64-linux-musl' },
}

const MACHINES = { x64: EM_X86_64, arm64: EM_AARCH64 }
const GLIBC_LIBS = ['libc.so.6', 'libm.so.6', 'libdl.so.2', 'libpthread.so.0', 'librt.so.1', 'libutil.so.1',
  'ld-linux-x86-64.so.2', 'ld-linux-aarch64.so.1']
const MUSL_LIBS = ['libc.so', 'libc.musl-x86_64.so.1', 'libc.musl-aarch64.so.1']

/** The prebuild file name node-gyp-build looks for (prebuildify --napi --tag-libc). */
export function prebuildPath (root, target) {
  const t = TARGETS[target]
  return path.join(root, 'prebuilds', `linux-${t.arch}`, `node-hyper.${t.libc}.node`)
}

/**
 * Checks one Linux prebuild against its floor: ELF machine of its folder's arch, a libc tag in its
 * name, no C++ runtime or libgcc_s needed, glibc symbol versions <= GLIBC_FLOOR (glibc) or no
 * symbol versions at all (musl), and only the two Node-API entry points exported.
 * @returns {{ problems: string[], maxGlibc?: string, needed: string[] }}
 */
export function checkPrebuild (file, arch, libc) {
  const problems = []
  const elf = readElf(file)
  if (elf.type !== 3) problems.push(`not a shared object (e_type ${elf.type})`)
  if (elf.machine !== MACHINES[arch]) problems.push(`ELF machine ${elf.machine}, but ${arch} needs ${MACHINES[arch]}`)
  if (libc !== 'glibc' && libc !== 'musl') problems.push('no libc tag in the file name (prebuildify --tag-libc): node-gyp-build could load it on the wrong libc')
  const allowed = libc === 'musl' ? MUSL_LIBS : GLIBC_LIBS
  for (const lib of elf.needed) {
    if (!allowed.includes(lib)) problems.push(`needs ${lib}` + (/^lib(stdc\+\+|gcc_s)/.test(lib) ? ' (the C++ runtime must be linked in)' : ''))
  }
  let maxGlibc
  for (const { file: from, versions } of elf.versionNeeds) {
    if (!allowed.includes(from)) continue // already reported as a needed library
    for (const { name } of versions) {
      const m = /^GLIBC_(\d+(?:\.\d+)+)$/.exec(name)
      if (libc === 'musl' || !m) problems.push(`needs symbol version ${name} from ${from}`)
      else if (!maxGlibc || compareVersions(m[1], maxGlibc) > 0) maxGlibc = m[1]
    }
  }
  if (libc === 'glibc' && maxGlibc && compareVersions(maxGlibc, GLIBC_FLOOR) > 0) {
    const over = elf.symbols.filter((s) => !s.defined && s.version && /^GLIBC_/.test(s.version) &&
      compareVersions(s.version.slice(6), GLIBC_FLOOR) > 0).map((s) => `${s.name}@${s.version}`)
    problems.push(`needs GLIBC_${maxGlibc} > ${GLIBC_FLOOR}: ${over.slice(0, 8).join(', ')}${over.length > 8 ? ', ...' : ''}`)
  }
  const exported = elf.symbols.filter((s) => s.defined && s.bind !== 'local' && !s.hidden).map((s) => s.name).sort()
  const extra = exported.filter((s) => !EXPORTS.includes(s))
  if (extra.length) problems.push(`exports ${extra.length} symbols besides the Node-API entry points: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`)
  for (const s of EXPORTS) if (!exported.includes(s)) problems.push(`does not export ${s}`)
  return { problems, maxGlibc, needed: elf.needed }
}
