// An address that never answers, on loopback: a listener whose accept queue is full and that
// never accepts, so further SYNs are dropped and a connect to it hangs (as one to an unreachable
// IPv6 route does). A worker thread listens, then blocks its event loop (Atomics.wait), so
// nothing accepts; the queue is filled with connections until one does not complete.
import net from 'node:net'
import { Worker } from 'node:worker_threads'

export interface BlackHole {
  host: string
  port: number
  close: () => Promise<void>
}

const WORKER = `
const { workerData, parentPort } = require('node:worker_threads')
const net = require('node:net')
const server = net.createServer()
server.on('error', (err) => parentPort.postMessage({ error: err.code || String(err) }))
server.listen({ host: workerData.host, port: workerData.port, backlog: 1 }, () => {
  parentPort.postMessage({ port: server.address().port })
  // Block this thread's loop: the listener never accepts until the main thread says so.
  Atomics.wait(new Int32Array(workerData.flag), 0, 0)
  server.close()
})
`

/** Whether `host` can be listened on here (e.g. ::1 where IPv6 is disabled: false). */
export async function canListen (host: string): Promise<boolean> {
  const s = net.createServer()
  return new Promise((resolve) => {
    s.once('error', () => resolve(false))
    s.listen(0, host, () => s.close(() => resolve(true)))
  })
}

/**
 * A black hole on `host` (port 0: any). Resolves once a connect to it hangs, or rejects when the
 * environment does not drop SYNs to a full queue (then the caller should skip).
 */
export async function blackHole (host: string, port = 0): Promise<BlackHole> {
  const flag = new SharedArrayBuffer(4)
  const worker = new Worker(WORKER, { eval: true, workerData: { host, port, flag } })
  const fillers: net.Socket[] = []
  const close = async (): Promise<void> => {
    for (const f of fillers) f.destroy()
    Atomics.store(new Int32Array(flag), 0, 1)
    Atomics.notify(new Int32Array(flag), 0)
    await worker.terminate()
  }
  const msg = await new Promise<{ port?: number, error?: string }>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  if (msg.port === undefined) {
    await close()
    throw new Error(`black hole: cannot listen on ${host}:${port}: ${msg.error}`)
  }
  const bound = msg.port
  // Fill the accept queue: connect until a connect does not complete (bounded).
  for (let i = 0; i < 64; i++) {
    const s = net.connect({ host, port: bound })
    s.on('error', () => {})
    fillers.push(s)
    const connected = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 300)
      s.once('connect', () => { clearTimeout(t); resolve(true) })
      s.once('error', () => { clearTimeout(t); resolve(true) })
    })
    if (!connected) return { host, port: bound, close }
  }
  await close()
  throw new Error(`black hole: ${host} kept accepting connections (SYNs to a full queue are not dropped here)`)
}
