// A reverse proxy for the proxy scenario: node proxy-server.mjs <kind> <upstream origin> <port>
//   node-hyper  examples/proxy.ts as shipped (node-hyper Pool upstream)
//   undici      the very same proxy code with an undici Pool as its upstream client
//   http-proxy  the http-proxy package with a keep-alive agent (xfwd on)
// Prints "ready" once listening.
import http from 'node:http'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const [kind, upstream, portArg] = process.argv.slice(2)
const port = Number(portArg)
// Every process the bench measures carries the same heap: node-hyper (through the example proxy)
// and undici loaded, whichever it runs on (client.mjs says why).
const { createProxy } = require('../build/examples/proxy.js')
await import('undici')

let server
if (kind === 'node-hyper' || kind === 'undici') {
  let client
  if (kind === 'undici') {
    const { Pool } = await import('undici')
    const pool = new Pool(upstream, { connections: 128, headersTimeout: 30_000, bodyTimeout: 30_000 })
    const flatten = (headers) => {
      const rawHeaders = []
      for (const [name, value] of Object.entries(headers)) {
        if (Array.isArray(value)) for (const v of value) rawHeaders.push(name, v)
        else if (value !== undefined) rawHeaders.push(name, value)
      }
      return rawHeaders
    }
    client = {
      async request ({ method, path, headers, body, signal }) {
        const r = await pool.request({ method, path, headers, body: body ?? undefined, signal })
        return { status: r.statusCode, statusText: http.STATUS_CODES[r.statusCode] ?? '', httpVersion: '1.1', rawHeaders: flatten(r.headers), body: r.body }
      },
      async upgrade ({ method, path, headers, protocol, signal }) {
        const r = await pool.upgrade({ method, path, headers, protocol, signal })
        // undici pushes the bytes behind the 101 back into the socket: nothing in head.
        return { statusCode: 101, statusText: 'Switching Protocols', rawHeaders: flatten(r.headers), socket: r.socket, head: Buffer.alloc(0) }
      },
      close: () => pool.close(),
    }
  }
  server = createProxy({ upstream, client })
} else if (kind === 'http-proxy') {
  const httpProxy = require('http-proxy')
  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 })
  const proxy = httpProxy.createProxyServer({ target: upstream, agent, xfwd: true })
  server = http.createServer((req, res) => {
    proxy.web(req, res, {}, (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' })
      res.end(`Bad Gateway: ${err.code ?? err.message}\n`)
    })
  })
} else {
  throw new Error('unknown proxy kind ' + kind)
}
server.keepAliveTimeout = 600_000
server.listen(port, '127.0.0.1', () => console.log('ready'))
