// A small forward proxy for the tests, on 127.0.0.1: absolute-form requests are forwarded with
// Node's http client, CONNECT opens a TCP tunnel; both are counted. Optional credentials (a 407
// with Proxy-Authenticate without them), a mode that refuses everything with a fixed status,
// and TLS to the proxy itself (an https: proxy). It forwards to loopback targets only: anything
// else gets a 403, so no test can reach outside the machine through it.
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'

export interface ForwardProxy {
  port: number
  /** `http://127.0.0.1:port` (or https:). */
  url: string
  /** CONNECT targets, in order. */
  connects: string[]
  /** Absolute-form request targets, in order. */
  requests: string[]
  /** Proxy-Authorization of each CONNECT or request (undefined when absent). */
  authorizations: (string | undefined)[]
  /** Other header names the proxy saw on CONNECTs (lower-cased), for the custom-header test. */
  connectHeaders: Record<string, string | string[] | undefined>[]
  /** TCP connections accepted. */
  connections: () => number
  close: () => Promise<void>
}

export interface ForwardProxyOptions {
  /** The Proxy-Authorization value required (else 407). */
  auth?: string
  /** Answer every request and CONNECT with this status. */
  refuse?: number
  /** TLS certificate for an https: proxy. */
  tls?: { cert: string, key: string }
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]'])

function loopback (host: string): boolean {
  return LOOPBACK.has(host.toLowerCase()) || host.startsWith('127.')
}

function splitAuthority (authority: string): { host: string, port: number } | null {
  const m = authority.match(/^(\[[^\]]+\]|[^:]+):(\d+)$/)
  if (!m) return null
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) }
}

export async function forwardProxy (options: ForwardProxyOptions = {}): Promise<ForwardProxy> {
  const sockets = new Set<net.Socket>()
  let connections = 0
  const state = { connects: [] as string[], requests: [] as string[], authorizations: [] as (string | undefined)[], connectHeaders: [] as Record<string, string | string[] | undefined>[] }
  const refusal = (status: number): string => {
    const extra = status === 407 ? 'Proxy-Authenticate: Basic realm="test proxy"\r\n' : ''
    return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Refused'}\r\n${extra}Content-Length: 0\r\nConnection: close\r\n\r\n`
  }
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const auth = req.headers['proxy-authorization']
    state.authorizations.push(auth)
    let url: URL
    try {
      url = new URL(req.url ?? '')
    } catch {
      res.writeHead(400).end('absolute-form request target expected')
      return
    }
    state.requests.push(req.url!)
    if (options.refuse) {
      res.writeHead(options.refuse, options.refuse === 407 ? { 'proxy-authenticate': 'Basic realm="test proxy"' } : {}).end()
      return
    }
    if (options.auth !== undefined && auth !== options.auth) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test proxy"' }).end()
      return
    }
    if (url.protocol !== 'http:' || !loopback(url.hostname.replace(/^\[|\]$/g, ''))) {
      res.writeHead(403).end('loopback http: targets only')
      return
    }
    const headers = { ...req.headers }
    delete headers['proxy-authorization']
    delete headers['proxy-connection']
    const upstream = http.request({ host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || 80, method: req.method, path: url.pathname + url.search, headers, agent: false }, (up) => {
      // Hop-by-hop fields stay on their hop (the upstream connection closes after each request).
      const raw: string[] = []
      for (let i = 0; i < up.rawHeaders.length; i += 2) {
        if (!/^(connection|keep-alive)$/i.test(up.rawHeaders[i]!)) raw.push(up.rawHeaders[i]!, up.rawHeaders[i + 1]!)
      }
      res.writeHead(up.statusCode ?? 502, raw)
      up.pipe(res)
    })
    upstream.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end() })
    req.pipe(upstream)
  }
  const onConnect = (req: http.IncomingMessage, socket: net.Socket, head: Buffer): void => {
    socket.on('error', () => {})
    const auth = req.headers['proxy-authorization']
    state.authorizations.push(auth)
    state.connects.push(req.url ?? '')
    state.connectHeaders.push({ ...req.headers })
    if (options.refuse) {
      socket.end(refusal(options.refuse))
      return
    }
    if (options.auth !== undefined && auth !== options.auth) {
      socket.end(refusal(407))
      return
    }
    const target = splitAuthority(req.url ?? '')
    if (!target || !loopback(target.host)) {
      socket.end(refusal(403))
      return
    }
    const upstream = net.connect({ host: target.host, port: target.port })
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    upstream.on('error', () => {
      if (!socket.destroyed) socket.end(refusal(502))
    })
    upstream.once('connect', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length) upstream.write(head)
      upstream.pipe(socket)
      socket.pipe(upstream)
      socket.on('close', () => upstream.destroy())
      upstream.on('close', () => socket.destroy())
    })
  }
  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, onRequest) : http.createServer(onRequest)
  server.keepAliveTimeout = 60_000
  server.on('connect', onConnect)
  server.on(options.tls ? 'secureConnection' : 'connection', (s: net.Socket) => {
    connections++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    ...state,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy()
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
