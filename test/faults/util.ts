// Shared pieces of the fault-injection suite: bounded waits (a hang becomes a failure with a
// message, never a stuck suite), settle-or-timeout probes, misbehaving loopback servers, and
// cleanup of everything a test opened.
import http2 from 'node:http2'
import net from 'node:net'
import { spawn } from 'node:child_process'
import path from 'node:path'

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Root of the package (the built `dist/` lives there). */
export const ROOT = path.resolve(__dirname, '..', '..')

/** Thrown by {@link within} when the promise did not settle in time. */
export class Hang extends Error {
  constructor (label: string, ms: number) {
    super(`HANG: ${label} did not settle within ${ms} ms`)
    this.name = 'Hang'
  }
}

/** `p`, or a {@link Hang} failure after `ms` (the timer never keeps the process alive). */
export function within<T> (p: Promise<T>, ms: number, label: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Hang(label, ms)), ms)
    t.unref()
    p.then((v) => { clearTimeout(t); resolve(v) }, (e) => { clearTimeout(t); reject(e) })
  })
}

export type Outcome<T> =
  | { state: 'resolved', value: T }
  | { state: 'rejected', error: any }
  | { state: 'pending' }

/** How `p` settled within `ms`: resolved, rejected, or still pending (a hang). */
export async function outcome<T> (p: Promise<T>, ms: number): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined
  const pending = new Promise<Outcome<T>>((resolve) => { timer = setTimeout(() => resolve({ state: 'pending' }), ms); timer.unref() })
  const settled = p.then((value) => ({ state: 'resolved' as const, value }), (error) => ({ state: 'rejected' as const, error }))
  try {
    return await Promise.race([settled, pending])
  } finally {
    clearTimeout(timer)
  }
}

/** Things to close after a test, in reverse order of registration; errors are ignored. */
export class Cleanup {
  #fns: Array<() => unknown> = []
  add<T> (fn: () => unknown, value?: T): T {
    this.#fns.push(fn)
    return value as T
  }

  async run (): Promise<void> {
    const fns = this.#fns.splice(0).reverse()
    for (const fn of fns) {
      try {
        await within(Promise.resolve().then(fn), 3000, 'cleanup step')
      } catch {}
    }
  }
}

/** A raw TCP server; `onConnection` gets every socket. Closing destroys every socket. */
export async function tcpServer (onConnection: (socket: net.Socket) => void): Promise<{ server: net.Server, port: number, sockets: Set<net.Socket>, connections: () => number, close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  let connections = 0
  const server = net.createServer((socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    onConnection(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    sockets,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()) }),
  }
}

/** An h2c server (node:http2); closing destroys every session. */
export async function h2cServer (onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, session: http2.ServerHttp2Session) => void,
  options: http2.ServerOptions = {}): Promise<{ server: http2.Http2Server, port: number, sessions: Set<http2.ServerHttp2Session>, close: () => Promise<void> }> {
  const sessions = new Set<http2.ServerHttp2Session>()
  const server = http2.createServer(options)
  server.on('session', (s) => {
    sessions.add(s)
    s.on('close', () => sessions.delete(s))
    s.on('error', () => {})
  })
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {})
    onStream(stream, headers, stream.session as http2.ServerHttp2Session)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    sessions,
    close: () => new Promise<void>((resolve) => {
      for (const s of sessions) s.destroy()
      server.close(() => resolve())
    }),
  }
}

/** Runs `node` with `args` in a child process; resolves with its exit status, signal and output. */
export function runNode (args: string[], options: { timeoutMs: number, env?: NodeJS.ProcessEnv, shell?: string }): Promise<{ code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string, timedOut: boolean }> {
  return new Promise((resolve) => {
    const env = { ...process.env, ...options.env }
    const child = options.shell
      ? spawn('bash', ['-c', options.shell], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout!.on('data', (d) => { stdout += d })
    child.stderr!.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, options.timeoutMs)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, timedOut })
    })
  })
}

/** Heap used after full collections. */
export async function heapUsed (): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc
  for (let i = 0; i < 4; i++) {
    gc?.()
    await sleep(10)
  }
  return process.memoryUsage().heapUsed
}

/** An outcome as one line, for readable assertion failures: `resolved`, `pending`, `rejected CODE: message`. */
export function show (o: Outcome<unknown>): string {
  if (o.state !== 'rejected') return o.state
  const e = o.error
  return `rejected ${e?.name ?? typeof e} ${e?.code ?? ''}: ${e?.message ?? String(e)}`
}
