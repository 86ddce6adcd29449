// hyper's Rust allocations go to mimalloc (native/hyper/src/alloc.rs) unless the process sets
// NODE_HYPER_ALLOCATOR=system, which the sanitizer runs use so that valgrind and ASan check every
// hyper block. Both modes run real requests, in the main thread and in a worker.
import { describe, it, expect } from 'vitest'
import { createRequire } from 'node:module'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const { binding } = createRequire(import.meta.url)('../dist/cjs/native.js')
const execFileP = promisify(execFile)

// A child process: a local server, 200 requests on one connection (1 KiB and 256 KiB bodies),
// the same again in a worker thread, then the allocator the addon reports.
const child = `
const http = require('node:http')
const { Worker } = require('node:worker_threads')
const { ClientConn } = require(${JSON.stringify(root)})
const { binding } = require(${JSON.stringify(root + 'dist/cjs/native.js')})
const big = Buffer.alloc(256 * 1024, 7)
const server = http.createServer((req, res) => res.end(req.url === '/big' ? big : 'x'.repeat(1024)))
const work = async (origin) => {
  const conn = await ClientConn.connect(origin)
  let n = 0
  for (let i = 0; i < 200; i++) n += (await (await conn.request({ path: i % 10 ? '/' : '/big' })).body.bytes()).length
  await conn.close()
  return n
}
server.listen(0, '127.0.0.1', async () => {
  const origin = 'http://127.0.0.1:' + server.address().port
  const main = await work(origin)
  const inWorker = await new Promise((resolve, reject) => {
    const src = 'const { ClientConn } = require(' + JSON.stringify(${JSON.stringify(root)}) + ');' +
      'const { parentPort, workerData } = require("node:worker_threads");' +
      '(' + work.toString() + ')(workerData).then((n) => parentPort.postMessage(n))'
    const w = new Worker(src, { eval: true, workerData: origin })
    w.once('message', resolve)
    w.once('error', reject)
  })
  server.close()
  console.log(JSON.stringify({ allocator: binding.allocator(), main, inWorker }))
})
`
const expected = 20 * 256 * 1024 + 180 * 1024

async function run (env: Record<string, string | undefined>) {
  const { stdout } = await execFileP(process.execPath, ['-e', child], { env: { ...process.env, ...env }, encoding: 'utf8' })
  return JSON.parse(stdout.trim().split('\n').pop()!)
}

describe('the Rust allocator', () => {
  it('this process uses the one NODE_HYPER_ALLOCATOR asks for (mimalloc by default)', () => {
    expect(binding.allocator()).toBe(process.env.NODE_HYPER_ALLOCATOR === 'system' ? 'system' : 'mimalloc')
  })

  it('mimalloc: requests in the main thread and in a worker', async () => {
    const r = await run({ NODE_HYPER_ALLOCATOR: undefined })
    expect(r).toEqual({ allocator: 'mimalloc', main: expected, inWorker: expected })
  })

  it('NODE_HYPER_ALLOCATOR=system: the C library\'s malloc, same results', async () => {
    const r = await run({ NODE_HYPER_ALLOCATOR: 'system' })
    expect(r).toEqual({ allocator: 'system', main: expected, inWorker: expected })
  })

  it('an unknown NODE_HYPER_ALLOCATOR is a load error with a code, not a silent default', async () => {
    const err = await execFileP(process.execPath, ['-e', `require(${JSON.stringify(root)})`], {
      env: { ...process.env, NODE_HYPER_ALLOCATOR: 'jemalloc' }, encoding: 'utf8',
    }).then(() => null, (e: { stderr: string }) => e)
    expect(err?.stderr).toContain('ERR_NODE_HYPER_ALLOCATOR')
    expect(err?.stderr).toContain('"jemalloc"')
  })
})
