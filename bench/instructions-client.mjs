// One client path of `instructions.mjs`, run under callgrind: `node instructions-client.mjs PATH N
// ORIGIN` sends N GET requests one at a time and reads each body whole. With GC_EVERY set it runs
// a full GC every that many requests (node --expose-gc), so that V8's own GC thresholds do not
// fall inside the difference of two runs. NODE_HYPER_DIR: the node-hyper checkout to load.
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [which, countArg, origin] = process.argv.slice(2)
const N = Number(countArg)
const GC_EVERY = Number(process.env.GC_EVERY ?? 0)
const dir = process.env.NODE_HYPER_DIR
const hyper = dir ? await import(pathToFileURL(path.join(dir, 'dist/esm/index.mjs')).href) : await import('node-hyper')
const undici = await import('undici')
const url = origin + '/1k'

async function loop (send) {
  for (let i = 1; i <= N; i++) {
    if (GC_EVERY && i % GC_EVERY === 0) globalThis.gc()
    await send()
  }
}

// A dispatch with a bare old-style handler: what a dispatcher costs without undici's API on top.
function dispatchOnce (dispatcher) {
  return new Promise((resolve, reject) => {
    const chunks = []
    dispatcher.dispatch({ origin, path: '/1k', method: 'GET' }, {
      onConnect () {},
      onHeaders () { return true },
      onData (chunk) { chunks.push(chunk); return true },
      onComplete () { resolve(Buffer.concat(chunks)) },
      onError: reject,
    })
  })
}

const paths = {
  // The loop, the forced GCs and the loaded modules without any request: subtracted from every
  // path (the full GCs cost the same whichever path runs, and would otherwise compress the ratios).
  async 'empty loop' () {
    await loop(() => Promise.resolve())
  },
  async 'ClientConn.request' () {
    const conn = await hyper.ClientConn.connect(origin)
    await loop(async () => { const res = await conn.request({ path: '/1k' }); await res.body.bytes() })
    await conn.close()
  },
  async 'Pool.request' () {
    const pool = new hyper.Pool(origin)
    await loop(async () => { const res = await pool.request({ path: '/1k' }); await res.body.bytes() })
    await pool.close()
  },
  async 'HyperDispatcher.dispatch' () {
    const d = new hyper.HyperDispatcher()
    await loop(() => dispatchOnce(d))
    await d.close()
  },
  async 'request() on HyperDispatcher' () {
    const d = new hyper.HyperDispatcher()
    await loop(async () => { const res = await undici.request(url, { dispatcher: d }); await res.body.arrayBuffer() })
    await d.close()
  },
  async 'undici Pool.request' () {
    const pool = new undici.Pool(origin)
    await loop(async () => { const res = await pool.request({ path: '/1k', method: 'GET' }); await res.body.arrayBuffer() })
    await pool.close()
  },
  async 'undici Agent.dispatch' () {
    const a = new undici.Agent()
    await loop(() => dispatchOnce(a))
    await a.close()
  },
  async 'request() on undici Agent' () {
    const a = new undici.Agent()
    await loop(async () => { const res = await undici.request(url, { dispatcher: a }); await res.body.arrayBuffer() })
    await a.close()
  },
}

if (!paths[which]) throw new Error(`unknown path ${which}; one of: ${Object.keys(paths).join(', ')}`)
await paths[which]()
