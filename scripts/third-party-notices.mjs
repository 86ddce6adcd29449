// Writes THIRD_PARTY_NOTICES.md: every crate statically linked into the addon (from cargo
// metadata of native/hyper, resolved by Cargo.lock) with its license and license text.
// Run after changing native/hyper/Cargo.lock: node scripts/third-party-notices.mjs
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const meta = JSON.parse(execFileSync('cargo', ['metadata', '--format-version', '1', '--locked',
  '--manifest-path', path.join(root, 'native', 'hyper', 'Cargo.toml'), '--filter-platform', 'x86_64-unknown-linux-gnu'],
{ cwd: path.join(root, 'native', 'hyper'), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }))
// Only what is linked: the resolve graph's normal dependencies from our crate.
const nodes = new Map(meta.resolve.nodes.map((n) => [n.id, n]))
const keep = new Set()
const walk = (id) => {
  if (keep.has(id)) return
  keep.add(id)
  for (const d of nodes.get(id).deps) if (d.dep_kinds.some((k) => k.kind === null)) walk(d.pkg)
}
walk(meta.resolve.root)
const pkgs = meta.packages.filter((p) => keep.has(p.id) && p.name !== 'node-hyper-ffi').sort((a, b) => a.name.localeCompare(b.name))
let out = '# Third-party notices\n\nThe node-hyper addon statically links the following Rust crates (built from crates.io sources\npinned by `native/hyper/Cargo.lock`), and the Rust standard library (MIT OR Apache-2.0,\nhttps://github.com/rust-lang/rust).\n\nThe Linux prebuilds (`npm run prebuild:linux`) also link, as zig builds them, LLVM\'s libc++,\nlibc++abi and libunwind (Apache-2.0 WITH LLVM-exception, which waives attribution for compiled\nforms), and on glibc targets the few static glibc helpers that the chosen glibc version needs\n(LGPL-2.1-or-later with glibc\'s exception for linking these files into any program).\n\n| crate | version | license |\n|---|---|---|\n'
for (const p of pkgs) out += `| ${p.name} | ${p.version} | ${p.license} |\n`
// Crates that compile bundled C sources into the archive: those sources' own license files too
// (the ones the build uses).
const bundled = {
  'libmimalloc-sys': ['c_src/mimalloc/v2/LICENSE'], // mimalloc itself (Microsoft), built by cc
}
for (const p of pkgs) {
  const dir = path.dirname(p.manifest_path)
  const files = fs.readdirSync(dir).filter((f) => /^(LICENSE|LICENCE|COPYING)/i.test(f)).sort()
  for (const f of bundled[p.name] ?? []) {
    if (!fs.existsSync(path.join(dir, f))) throw new Error(`${p.name} ${p.version}: bundled license ${f} not found (crate layout changed?)`)
    files.push(f)
  }
  out += `\n## ${p.name} ${p.version} (${p.license})\n`
  if (p.repository) out += `\n${p.repository}\n`
  for (const f of files) out += `\n### ${f}\n\n\`\`\`\n${fs.readFileSync(path.join(dir, f), 'utf8').trim()}\n\`\`\`\n`
  if (!files.length) out += '\n(no license file in the crate package; license per its manifest: ' + p.license + ')\n'
}
fs.writeFileSync(path.join(root, 'THIRD_PARTY_NOTICES.md'), out)
console.log(`wrote THIRD_PARTY_NOTICES.md (${pkgs.length} crates)`)
