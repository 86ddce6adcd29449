// Small SVG writer for the benchmark summary: two horizontal bar groups (req/s and client CPU
// µs per request), one bar per client.
export function chartSvg (summary, title) {
  const W = 720
  const rowH = 26
  const left = 110
  const barMax = 420
  const panels = [
    { label: 'requests/s (higher is better)', key: 'rps', fmt: (v) => v.toFixed(0) },
    { label: 'client CPU µs per request (lower is better)', key: 'cpuPerReq', fmt: (v) => v.toFixed(1) },
  ]
  const colors = { 'node-hyper': '#2f6fdf', undici: '#e0892b', 'node:http': '#5a9e4b', wrk: '#888888' }
  let y = 40
  const parts = [`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escape(title)}</text>`]
  for (const p of panels) {
    parts.push(`<text x="10" y="${y + 12}" font-size="13" font-weight="bold">${escape(p.label)}</text>`)
    y += 20
    const max = Math.max(...summary.map((s) => s[p.key]))
    for (const s of summary) {
      const w = max > 0 ? (s[p.key] / max) * barMax : 0
      parts.push(`<text x="${left - 8}" y="${y + 16}" text-anchor="end" font-size="12">${escape(s.client)}</text>`)
      parts.push(`<rect x="${left}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${colors[s.client] ?? '#999'}"/>`)
      parts.push(`<text x="${left + w + 6}" y="${y + 16}" font-size="12">${p.fmt(s[p.key])}</text>`)
      y += rowH
    }
    y += 14
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`
}

function escape (s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
