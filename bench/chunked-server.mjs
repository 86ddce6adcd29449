// The upstream for the chunked-16 scenario: node chunked-server.mjs <pieces per write>
// A raw `net` server (keep-alive, HTTP/1.1) that answers every request with 1 MiB as 65,536 chunks
// of 16 bytes (`10\r\n` + 16 bytes + `\r\n`, then `0\r\n\r\n`). The framing is built once; each
// socket.write carries <pieces per write> whole chunks (default 16: 352 bytes, 4,096 writes per
// MiB) with Nagle off, and the next write only starts once the previous one reached the kernel, so
// every write is flushed on its own (nothing piles up in user space to leave as one big writev).
// Prints its port once listening. Requests are read up to the blank line; bodies are not expected.
import net from 'node:net'

const PER_WRITE = Math.max(1, Math.min(65536, Number(process.argv[2] ?? 16) | 0))
const CHUNKS = 65536
const CHUNK = 16
const piece = Buffer.from(`${CHUNK.toString(16)}\r\n${'y'.repeat(CHUNK)}\r\n`, 'latin1')
const head = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n', 'latin1')
const tail = Buffer.from('0\r\n\r\n', 'latin1')
// Every write gets its own Buffer view of one pre-built group, so the writes never merge.
const group = Buffer.concat(Array(PER_WRITE).fill(piece))
const last = Buffer.concat(Array(CHUNKS % PER_WRITE).fill(piece))

const server = net.createServer({ noDelay: true }, (socket) => {
  let pending = ''
  let queued = 0 // requests received while a response is being written (pipelined)
  let sending = false
  let resume = null
  // Write callbacks: continue once nothing is left in user space. (The callback of an earlier
  // write that completed synchronously runs a tick later, possibly while a later write waits.)
  const written = () => {
    if (resume !== null && socket.writableLength === 0) { const r = resume; resume = null; r() }
  }
  const respond = () => {
    sending = true
    let sent = 0
    socket.write(head)
    const pump = () => {
      while (sent < CHUNKS) {
        const buf = CHUNKS - sent >= PER_WRITE ? group : last
        sent += buf.length / piece.length
        socket.write(buf, written)
        if (socket.destroyed) return
        // Still in user space: the kernel's buffer is full; wait for this write to go out.
        if (socket.writableLength > 0) { resume = pump; return }
      }
      socket.write(tail)
      sending = false
      if (queued > 0) { queued--; respond() }
    }
    pump()
  }
  socket.on('data', (d) => {
    pending += d.toString('latin1')
    let i
    while ((i = pending.indexOf('\r\n\r\n')) >= 0) {
      pending = pending.slice(i + 4)
      if (sending) queued++
      else respond()
    }
    if (pending.length > 65536) socket.destroy() // not a request this server understands
  })
  socket.on('error', () => {})
})
server.listen(0, '127.0.0.1', () => console.log(server.address().port))
process.on('SIGTERM', () => process.exit(0))
