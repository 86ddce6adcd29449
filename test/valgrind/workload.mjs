// Exercises the native paths (connect, keep-alive reuse, uploads, dump, close, destroy
// mid-request, GC of idle connections, refused connect) for valgrind: npm run test:valgrind.
import http from 'node:http'
import net from 'node:net'
import { ClientConn } from '../../dist/esm/index.mjs'
const server = http.createServer((req, res) => { let n=0; req.on('data', c => n += c.length); req.on('end', () => res.end('x'.repeat(n || 1000))) })
await new Promise(r => server.listen(0, '127.0.0.1', r))
const port = server.address().port
for (let i = 0; i < 20; i++) {
  const conn = await ClientConn.connect({ host: '127.0.0.1', port })
  const r = await conn.request({ method: 'POST', path: '/', body: Buffer.alloc(100000) })
  await r.body.text()
  const r2 = conn.request({ path: '/' }); const r3 = conn.request({ path: '/' })
  await (await r2).body.dump(); await (await r3).body.text()
  if (i % 2) conn.destroy(); else await conn.close()
}
// mid-request destroy and GC'd connections
for (let i = 0; i < 10; i++) {
  const conn = await ClientConn.connect({ host: '127.0.0.1', port })
  const p = conn.request({ path: '/' }).catch(e => e.code)
  conn.destroy()
  await p
}
for (let i = 0; i < 10; i++) { const c = await ClientConn.connect({ host: '127.0.0.1', port }); await (await c.request({})).body.text() }
gc()
// refused
const s = net.createServer(); await new Promise(r => s.listen(0, '127.0.0.1', r)); const dead = s.address().port; s.close()
await ClientConn.connect({ host: '127.0.0.1', port: dead }).catch(e => console.log(e.code))
server.closeAllConnections(); server.close()
console.log('done')
