// A hand-written HTTP/2 (h2c, prior knowledge) server for faults node:http2 will not produce:
// exact frames, a TCP reset right after a DATA frame, garbage on cue. It answers the client's
// preface and SETTINGS, and calls `onRequest` with each new stream id the client opens.
import net from 'node:net'

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const
const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'

export function frame (type: number, flags: number, streamId: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload
  const h = Buffer.alloc(9)
  h.writeUIntBE(p.length, 0, 3)
  h[3] = type
  h[4] = flags
  h.writeUInt32BE(streamId & 0x7fffffff, 5)
  return Buffer.concat([h, p])
}

function hpackInt (value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1
  if (value < max) return [first | value]
  const out = [first | max]
  value -= max
  while (value >= 128) {
    out.push((value % 128) + 128)
    value = Math.floor(value / 128)
  }
  out.push(value)
  return out
}

function hpackString (s: string): Buffer {
  const b = Buffer.from(s, 'latin1')
  return Buffer.concat([Buffer.from(hpackInt(b.length, 7, 0)), b])
}

/** An HPACK block (no Huffman, no indexing): `:status` then the given fields. */
export function hpackResponse (status: number, fields: Array<[string, string]> = []): Buffer {
  const parts: Buffer[] = []
  if (status === 200) parts.push(Buffer.from([0x88]))
  else parts.push(Buffer.from([0x08]), hpackString(String(status))) // literal, indexed name 8 (:status)
  for (const [n, v] of fields) parts.push(Buffer.from([0x00]), hpackString(n), hpackString(v))
  return Buffer.concat(parts)
}

export interface H2Stream {
  socket: net.Socket
  streamId: number
  /** Writes frames for this connection. */
  send: (...frames: Buffer[]) => void
}

/**
 * A raw h2c server. Sends an empty SETTINGS first, ACKs the client's SETTINGS and PINGs, and
 * calls `onRequest` once per HEADERS frame that opens a stream.
 */
export async function rawH2Server (onRequest: (s: H2Stream) => void): Promise<{ port: number, sockets: Set<net.Socket>, connections: () => number, close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  let connections = 0
  const server = net.createServer((socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let buf = Buffer.alloc(0)
    let prefaceSeen = false
    const send = (...frames: Buffer[]): void => { if (!socket.destroyed) socket.write(Buffer.concat(frames)) }
    send(frame(FRAME.SETTINGS, 0, 0))
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (!prefaceSeen) {
        if (buf.length < PREFACE.length) return
        prefaceSeen = true
        buf = buf.subarray(PREFACE.length)
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3)
        if (buf.length < 9 + len) break
        const type = buf[3]!
        const flags = buf[4]!
        const id = buf.readUInt32BE(5) & 0x7fffffff
        buf = buf.subarray(9 + len)
        if (type === FRAME.SETTINGS && !(flags & FLAG.ACK)) send(frame(FRAME.SETTINGS, FLAG.ACK, 0))
        else if (type === FRAME.PING && !(flags & FLAG.ACK)) send(frame(FRAME.PING, FLAG.ACK, 0, Buffer.alloc(8)))
        else if (type === FRAME.HEADERS) onRequest({ socket, streamId: id, send })
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()) }),
  }
}
