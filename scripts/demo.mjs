// npm run demo: starts a local server and shows requests going through node-hyper.
import http from 'node:http'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ClientConn, hyperVersion } from '../dist/esm/index.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const server = http.createServer(async (req, res) => {
  const chunks = []
  for await (const c of req) chunks.push(c)
  const body = Buffer.concat(chunks)
  switch (req.url) {
    case '/hello': res.end('Hello from a local node:http server\n'); break
    case '/json': res.setHeader('Content-Type', 'application/json'); res.end(JSON.stringify({ ok: true, via: 'hyper' })); break
    case '/echo': res.end(body); break
    case '/headers':
      res.setHeader('X-MiXeD-CaSe', 'kept as sent')
      res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; Path=/'])
      res.end('see the headers\n')
      break
    default: res.statusCode = 404; res.end('not found\n')
  }
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const origin = `http://127.0.0.1:${server.address().port}`
const line = (s = '') => console.log(s)

line(`node-hyper demo — hyper ${hyperVersion}, Node ${process.version}, server at ${origin}`)
const conn = await ClientConn.connect(origin)

line('\n1. GET /hello')
let res = await conn.request({ path: '/hello' })
line(`   ${res.status} ${res.statusText} HTTP/${res.httpVersion}  body: ${JSON.stringify(await res.body.text())}`)

line('\n2. GET /json, parsed')
res = await conn.request({ path: '/json', headers: { accept: 'application/json' } })
line(`   content-type: ${res.headers['content-type']}  json: ${JSON.stringify(await res.body.json())}`)

line('\n3. POST /echo with a body')
res = await conn.request({ method: 'POST', path: '/echo', body: 'sent through hyper' })
line(`   echoed: ${JSON.stringify(await res.body.text())}`)

line('\n4. GET /headers: rawHeaders keep wire case and order; headers are Node-style')
res = await conn.request({ path: '/headers' })
await res.body.dump()
line(`   rawHeaders: ${JSON.stringify(res.rawHeaders.slice(0, 6))} ...`)
line(`   headers['set-cookie']: ${JSON.stringify(res.headers['set-cookie'])}`)

line('\n5. 1,000 sequential keep-alive requests on this one connection')
const t = process.hrtime.bigint()
for (let i = 0; i < 1000; i++) await (await conn.request({ path: '/hello' })).body.text()
const ms = Number(process.hrtime.bigint() - t) / 1e6
line(`   ${ms.toFixed(1)} ms (${(1000 / (ms / 1000)).toFixed(0)} req/s, server in the same process)`)

line('\n6. Three requests issued at once on one HTTP/1.1 connection are queued in order')
const texts = await Promise.all(['/hello', '/json', '/nope'].map(async (p) => {
  const r = await conn.request({ path: p })
  await r.body.dump() // each body must be consumed or dumped before the next request goes out
  return `${p} -> ${r.status}`
}))
line(`   ${texts.join(', ')}`)
await conn.close()

line('\n7. A refused connection is a typed error')
const err = await ClientConn.connect('http://127.0.0.1:1/').catch((e) => e)
line(`   ${err.name} ${err.code}: ${err.message}`)

line('\n8. The CLI: node-hyper -i ' + origin + '/hello')
const { stdout: out } = await promisify(execFile)(process.execPath, [path.join(root, 'dist', 'cjs', 'cli.js'), '-i', origin + '/hello'])
line(out.split('\r\n').map((l) => '   ' + l).join('\n'))

server.close()
line('done.')
