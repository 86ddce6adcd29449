// Real servers on 127.0.0.1 for the tests: node:http servers and raw net servers that write
// exact bytes.
import http from 'node:http'
import net from 'node:net'

export interface Running<T> {
  server: T
  port: number
  close: () => Promise<void>
}

export async function httpServer (handler: http.RequestListener, setup?: (s: http.Server) => void): Promise<Running<http.Server> & { connections: () => number }> {
  const server = http.createServer(handler)
  server.keepAliveTimeout = 60_000
  let connections = 0
  server.on('connection', () => { connections++ })
  setup?.(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}

/** A raw TCP server: `onRequest` gets the socket and the bytes of each request head received. */
export async function rawServer (onRequest: (socket: net.Socket, head: string) => void): Promise<Running<net.Server> & { requests: () => number }> {
  let requests = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let buf = ''
    socket.on('data', (d) => {
      buf += d.toString('latin1')
      let i
      while ((i = buf.indexOf('\r\n\r\n')) !== -1) {
        const head = buf.slice(0, i + 4)
        buf = buf.slice(i + 4)
        requests++
        onRequest(socket, head)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()) }),
  }
}

/** A port nothing listens on (bound, then closed). */
export async function deadPort (): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as net.AddressInfo).port
  await new Promise((resolve) => s.close(resolve))
  return port
}

/** Deterministic bytes: a pattern that differs at every offset modulo 251. */
export function pattern (size: number, seed = 7): Buffer {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed) % 251
  return b
}

export async function readAll (req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/** RSS bound for leak checks; none under AddressSanitizer, whose quarantine retains freed memory. */
export function rssBound (bytes: number): number {
  return process.env.NODE_HYPER_SANITIZER ? Number.POSITIVE_INFINITY : bytes
}
