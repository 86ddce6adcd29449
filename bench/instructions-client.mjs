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

async function loop (step) {
  for (let i = 1; i <= N; i++) {
    if (GC_EVERY && i % GC_EVERY === 0) globalThis.gc()
    await step()
  }
}

// One request in each API, given the client or dispatcher it goes through: node-hyper's path and
// its undici peer run the same function where the API is the same (dispatch, request()).
const send = {
  conn: async (c) => { const res = await c.request({ path: '/1k' }); await res.body.bytes() },
  undiciPool: async (p) => { const res = await p.request({ path: '/1k', method: 'GET' }); await res.body.arrayBuffer() },
  // A dispatch with a bare old-style handler: what a dispatcher costs without undici's API on top.
  dispatch: (d) => new Promise((resolve, reject) => {
    const chunks = []
    d.dispatch({ origin, path: '/1k', method: 'GET' }, {
      onConnect () {},
      onHeaders () { return true },
      onData (chunk) { chunks.push(chunk); return true },
      onComplete () { resolve(Buffer.concat(chunks)) },
      onError: reject,
    })
  }),
  request: async (d) => { const res = await undici.request(url, { dispatcher: d }); await res.body.arrayBuffer() },
}

// N requests through `client` (made once), then it is closed.
async function through (client, one) {
  const c = await client
  await loop(() => one(c))
  await c.close()
}

const paths = {
  // The loop, the forced GCs and the loaded modules without any request: subtracted from every
  // path (otherwise the GCs' share would compress the ratios; they cost somewhat more on a heap
  // holding undici's objects, which the subtraction leaves in).
  'empty loop': () => loop(() => Promise.resolve()),
  'ClientConn.request': () => through(hyper.ClientConn.connect(origin), send.conn),
  'Pool.request': () => through(new hyper.Pool(origin), send.conn),
  'HyperDispatcher.dispatch': () => through(new hyper.HyperDispatcher(), send.dispatch),
  'request() on HyperDispatcher': () => through(new hyper.HyperDispatcher(), send.request),
  'undici Pool.request': () => through(new undici.Pool(origin), send.undiciPool),
  'undici Agent.dispatch': () => through(new undici.Agent(), send.dispatch),
  'request() on undici Agent': () => through(new undici.Agent(), send.request),
}

if (!paths[which]) throw new Error(`unknown path ${which}; one of: ${Object.keys(paths).join(', ')}`)
await paths[which]()
