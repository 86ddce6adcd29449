// Reads what the dynamic loader will ask of an ELF shared object: machine, DT_NEEDED libraries,
// required symbol versions (.gnu.version_r) and the dynamic symbol table with each symbol's
// version. 64-bit little-endian only (x86-64 and aarch64, the Linux prebuild targets). Works on
// stripped files (the dynamic sections stay) and on any host, whatever binutils it has.
import fs from 'node:fs'

export const EM_X86_64 = 62
export const EM_AARCH64 = 183
const SHT_DYNSYM = 11
const SHT_DYNAMIC = 6
const SHT_GNU_VERSYM = 0x6fffffff
const SHT_GNU_VERNEED = 0x6ffffffe
const SHT_GNU_VERDEF = 0x6ffffffd
const DT_NEEDED = 1
const DT_SONAME = 14
const VER_FLG_WEAK = 0x2

/**
 * @typedef {{ name: string, bind: 'local' | 'global' | 'weak' | 'unique' | number, type: number,
 *   defined: boolean, hidden: boolean, version?: string }} ElfSymbol
 * @typedef {{ machine: number, type: number, needed: string[], soname?: string,
 *   versionNeeds: { file: string, versions: { name: string, weak: boolean }[] }[],
 *   symbols: ElfSymbol[] }} ElfInfo
 */

/** @returns {ElfInfo} */
export function readElf (file) {
  const buf = fs.readFileSync(file)
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file}: not an ELF file`)
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error(`${file}: not a 64-bit little-endian ELF file`)
  const u16 = (o) => buf.readUInt16LE(o)
  const u32 = (o) => buf.readUInt32LE(o)
  const u64 = (o) => {
    const v = buf.readBigUInt64LE(o)
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${file}: offset out of range`)
    return Number(v)
  }
  const type = u16(16)
  const machine = u16(18)
  const shoff = u64(40)
  const shentsize = u16(58)
  const shnum = u16(60)
  if (shoff === 0 || shnum === 0) throw new Error(`${file}: no section headers`)
  const sections = []
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize
    if (o + 64 > buf.length) throw new Error(`${file}: truncated section headers`)
    sections.push({ type: u32(o + 4), offset: u64(o + 24), size: u64(o + 32), link: u32(o + 40), info: u32(o + 44), entsize: u64(o + 56) })
  }
  const str = (section, off) => {
    const base = section.offset + off
    const end = buf.indexOf(0, base)
    if (base >= buf.length || end < 0) throw new Error(`${file}: bad string offset`)
    return buf.toString('latin1', base, end)
  }

  const needed = []
  let soname
  const dynamic = sections.find((s) => s.type === SHT_DYNAMIC)
  if (dynamic) {
    const strtab = sections[dynamic.link]
    for (let o = dynamic.offset; o + 16 <= dynamic.offset + dynamic.size; o += 16) {
      const tag = Number(buf.readBigInt64LE(o))
      if (tag === 0) break
      if (tag === DT_NEEDED) needed.push(str(strtab, u64(o + 8)))
      else if (tag === DT_SONAME) soname = str(strtab, u64(o + 8))
    }
  }

  // Version indexes (as used by .gnu.version) to names: from what this file needs and defines.
  const versionNames = new Map()
  const versionNeeds = []
  const verneed = sections.find((s) => s.type === SHT_GNU_VERNEED)
  if (verneed) {
    const strtab = sections[verneed.link]
    let o = verneed.offset
    for (let n = 0; n < verneed.info; n++) {
      const entry = { file: str(strtab, u32(o + 4)), versions: [] }
      let a = o + u32(o + 8)
      for (let k = 0; k < u16(o + 2); k++) {
        const name = str(strtab, u32(a + 8))
        entry.versions.push({ name, weak: (u16(a + 4) & VER_FLG_WEAK) !== 0 })
        versionNames.set(u16(a + 6) & 0x7fff, name)
        a += u32(a + 12)
      }
      versionNeeds.push(entry)
      const next = u32(o + 12)
      if (next === 0) break
      o += next
    }
  }
  const verdef = sections.find((s) => s.type === SHT_GNU_VERDEF)
  if (verdef) {
    const strtab = sections[verdef.link]
    let o = verdef.offset
    for (let n = 0; n < verdef.info; n++) {
      if (u16(o + 6) > 0) versionNames.set(u16(o + 4) & 0x7fff, str(strtab, u32(o + u32(o + 12))))
      const next = u32(o + 16)
      if (next === 0) break
      o += next
    }
  }

  const symbols = []
  const dynsymIndex = sections.findIndex((s) => s.type === SHT_DYNSYM)
  if (dynsymIndex >= 0) {
    const dynsym = sections[dynsymIndex]
    const strtab = sections[dynsym.link]
    const versym = sections.find((s) => s.type === SHT_GNU_VERSYM && s.link === dynsymIndex)
    const count = Math.floor(dynsym.size / 24)
    for (let i = 1; i < count; i++) {
      const o = dynsym.offset + i * 24
      const info = buf[o + 4]
      const bindNum = info >> 4
      const bind = ({ 0: 'local', 1: 'global', 2: 'weak', 10: 'unique' })[bindNum] ?? bindNum
      const ver = versym ? u16(versym.offset + i * 2) : 1
      symbols.push({
        name: str(strtab, u32(o)),
        bind,
        type: info & 0xf,
        defined: u16(o + 6) !== 0,
        hidden: (buf[o + 5] & 0x3) === 2 || (ver & 0x8000) !== 0,
        version: versionNames.get(ver & 0x7fff),
      })
    }
  }
  return { machine, type, needed, soname, versionNeeds, symbols }
}

/** Compares dotted versions numerically: '2.28' < '2.34'. */
export function compareVersions (a, b) {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}
