// Small SVG writer for the benchmark results: one panel per scenario with its key metric
// (client CPU µs per request for request-rate scenarios, MiB/s for transfers, client CPU ms per
// MiB for the chunked stream, KiB per connection for idle connections), one horizontal bar per client.
const METRIC = {
  rps: { key: 'cpuPerReq', label: 'client CPU µs per request (lower is better)', fmt: (v) => v.toFixed(1) },
  transfer: { key: 'mibps', label: 'MiB/s (higher is better)', fmt: (v) => v.toFixed(0) },
  stream: { key: 'cpuMsPerMiB', label: 'client CPU ms per MiB (lower is better)', fmt: (v) => v.toFixed(1) },
  proxy: { key: 'cpuPerReq', label: 'proxy CPU µs per request (lower is better)', fmt: (v) => v.toFixed(1) },
  idle: { key: 'rssPerConnKiB', label: 'RSS KiB per idle connection (lower is better)', fmt: (v) => v.toFixed(1) },
}
const COLORS = {
  'node-hyper': '#2f6fdf', 'node-hyper Pool': '#5b8ff0', 'node-hyper via undici': '#8fb2f5', 'node-hyper via undici fetch': '#b3cbf8',
  undici: '#e0892b', 'http-proxy': '#a05fb0', 'undici fetch': '#f0b070', 'undici request()': '#e8a050', 'node:http': '#5a9e4b', 'node:http2': '#5a9e4b', wrk: '#888888', h2load: '#888888',
}

export function chartSvg (scenarios, title) {
  const W = 800
  const rowH = 22
  const left = 200
  const barMax = 480
  let y = 40
  const parts = [`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escape(title)}</text>`]
  for (const sc of scenarios) {
    const m = METRIC[sc.kind]
    const rows = sc.summary.filter((s) => Number.isFinite(s[m.key]) && s[m.key] > 0)
    if (rows.length === 0) continue
    parts.push(`<text x="10" y="${y + 12}" font-size="13" font-weight="bold">${escape(sc.title)}</text>`)
    parts.push(`<text x="10" y="${y + 27}" font-size="11" fill="#555">${escape(m.label)}</text>`)
    y += 32
    const max = Math.max(...rows.map((s) => s[m.key]))
    for (const s of rows) {
      const w = max > 0 ? (s[m.key] / max) * barMax : 0
      const bad = s.errors > 0 || s.serverCpu > 0.9
      parts.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end" font-size="12">${escape(s.client)}</text>`)
      parts.push(`<rect x="${left}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 7}" fill="${COLORS[s.client] ?? '#999'}"${bad ? ' fill-opacity="0.45"' : ''}/>`)
      parts.push(`<text x="${left + w + 6}" y="${y + 15}" font-size="12">${m.fmt(s[m.key])}${bad ? (s.errors > 0 ? ' (errors)' : ' (server saturated)') : ''}</text>`)
      y += rowH
    }
    y += 14
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`
}

function escape (s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
