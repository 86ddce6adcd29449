// A reverse proxy: a node:http server in front, a node-hyper Pool to one upstream behind.
//
// - Both bodies stream (with backpressure): the client's upload is the upstream request body,
//   the upstream response body is piped to the client. Nothing is buffered whole.
// - Headers follow RFC 9110 section 7.6: hop-by-hop fields (Connection, Keep-Alive,
//   Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, and every field the Connection
//   header names) are dropped in both directions; `Via: 1.1 node-hyper` is appended (7.6.3), and
//   the client's address is appended to `X-Forwarded-For`.
// - Upstream failures become 502 Bad Gateway, upstream timeouts 504 Gateway Timeout.
// - A client that goes away aborts its upstream request (the upstream sees the connection close).
//
// Run it (Node >= 22.18 runs TypeScript directly; on Node 20 compile it first):
//   node examples/proxy.ts http://127.0.0.1:3000 8080
//   npx tsc -p examples && node build/examples/proxy.js http://127.0.0.1:3000 8080
import http from 'node:http'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Pool, type PoolOptions, type RequestOptions } from 'node-hyper'

/** What the proxy needs from an upstream response (a node-hyper `ClientResponse` is one). */
export interface UpstreamResponse {
  status: number
  statusText: string
  httpVersion: string
  rawHeaders: string[]
  body: Readable
}

/**
 * The upstream client. By default a node-hyper `Pool`; the benchmark plugs in undici through
 * this to compare the very same proxy on both clients.
 */
export interface UpstreamClient {
  request (options: RequestOptions): Promise<UpstreamResponse>
  close (): Promise<void>
}

export interface ProxyOptions {
  /** The upstream origin, e.g. `http://127.0.0.1:3000`. */
  upstream: string | URL
  /** Options for the upstream Pool (connections, keepAliveTimeout, connectTimeout, ...). */
  pool?: PoolOptions
  /** ms to wait for the upstream response head before answering 504 (default 30,000). */
  headersTimeout?: number
  /** ms the upstream body may stall while the client is reading (default 30,000). */
  bodyTimeout?: number
  /** The pseudonym in `Via` (default `node-hyper`). */
  via?: string
  /** Forward the client's Host header instead of the upstream's (default false; the original goes in X-Forwarded-Host). */
  preserveHost?: boolean
  /** Use this upstream client instead of a node-hyper Pool (`pool` options are then ignored). */
  client?: UpstreamClient
  /** Called for every upstream failure (after the 502/504 was sent, or the response was cut). */
  onError?: (err: Error, req: http.IncomingMessage) => void
}

/** Hop-by-hop fields (RFC 9110 7.6.1, plus the legacy Proxy-Connection and Keep-Alive). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'])

/** Names listed in the Connection header(s) of a raw [name, value, ...] list. */
function connectionTokens (raw: readonly string[]): Set<string> {
  const out = new Set<string>()
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'connection') continue
    for (const t of raw[i + 1]!.split(',')) {
      const name = t.trim().toLowerCase()
      if (name) out.add(name)
    }
  }
  return out
}

/**
 * The end-to-end fields of a raw header list: hop-by-hop fields and the fields named in
 * Connection removed, `drop` removed too. Names keep their case, repeats their order.
 */
export function endToEnd (raw: readonly string[], drop: readonly string[] = []): string[] {
  const named = connectionTokens(raw)
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase()
    if (HOP_BY_HOP.has(lower) || named.has(lower) || drop.includes(lower)) continue
    out.push(raw[i]!, raw[i + 1]!)
  }
  return out
}

/** Appends `value` to a comma-separated field (combining repeats into one line). */
function appendField (headers: string[], name: string, value: string): void {
  const prior: string[] = []
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === name) {
      prior.push(headers[i + 1]!)
      headers.splice(i, 2)
      i -= 2
    }
  }
  headers.push(name, [...prior, value].join(', '))
}

function protocolVersion (v: string): string {
  return v === '2.0' ? '2' : v
}

function statusFor (err: unknown): number {
  const code = (err as { code?: string } | null)?.code ?? ''
  if (code.endsWith('_TIMEOUT')) return 504
  if (code === 'ERR_POOL_QUEUE_FULL') return 503
  return 502
}

/** Creates the proxy server (not listening yet). Closing the server closes the upstream pool. */
export function createProxy (options: ProxyOptions): http.Server {
  const pool: UpstreamClient = options.client ?? new Pool(options.upstream, {
    headersTimeout: options.headersTimeout ?? 30_000,
    bodyTimeout: options.bodyTimeout ?? 30_000,
    ...options.pool,
  })
  const pseudonym = options.via ?? 'node-hyper'

  const server = http.createServer((req, res) => {
    void handle(req, res)
  })
  server.on('close', () => { void pool.close() })

  async function handle (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const ac = new AbortController()
    // The client went away (or the response failed) before the response was complete: stop
    // the upstream exchange. On HTTP/1 node-hyper closes that upstream connection.
    res.on('close', () => {
      if (!res.writableFinished) ac.abort(new Error('client disconnected'))
    })

    if (!req.url?.startsWith('/')) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('origin-form request target expected\n')
      return
    }

    // Expect was answered by this server already (node:http sends 100 Continue).
    const headers = endToEnd(req.rawHeaders, options.preserveHost ? ['expect'] : ['expect', 'host'])
    if (!options.preserveHost && req.headers.host) appendField(headers, 'x-forwarded-host', req.headers.host)
    appendField(headers, 'via', `${protocolVersion(req.httpVersion)} ${pseudonym}`)
    appendField(headers, 'x-forwarded-for', req.socket.remoteAddress ?? 'unknown')
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0

    let upstream: UpstreamResponse
    try {
      upstream = await pool.request({
        method: req.method!,
        path: req.url,
        headers,
        body: hasBody ? req : null,
        signal: ac.signal,
      })
    } catch (err) {
      if (ac.signal.aborted) return
      options.onError?.(err as Error, req)
      if (!res.headersSent) {
        const status = statusFor(err)
        res.writeHead(status, { 'content-type': 'text/plain', via: `1.1 ${pseudonym}`, connection: 'close' })
        res.end(`${http.STATUS_CODES[status]}: ${(err as { code?: string }).code ?? (err as Error).message}\n`)
      } else {
        res.destroy()
      }
      // The upload may still be running: stop reading it.
      if (hasBody && !req.readableEnded) req.resume()
      return
    }

    const out = endToEnd(upstream.rawHeaders)
    appendField(out, 'via', `${protocolVersion(upstream.httpVersion)} ${pseudonym}`)
    res.writeHead(upstream.status, upstream.statusText, out)
    try {
      await pipeline(upstream.body, res)
    } catch (err) {
      // Upstream body failed mid-way (the client gets a cut response: the framing tells it so),
      // or the client went away (already aborted above).
      if (!ac.signal.aborted) options.onError?.(err as Error, req)
      ac.abort(err)
      res.destroy()
    }
  }

  return server
}

// node examples/proxy.ts <upstream> [port]
if (/proxy\.[cm]?[jt]s$/.test(process.argv[1] ?? '') && !process.env.VITEST) {
  const [upstream, port = '8080'] = process.argv.slice(2)
  if (!upstream) {
    console.error('usage: proxy <upstream origin> [port]')
    process.exit(2)
  }
  const server = createProxy({ upstream, onError: (err, req) => console.error(`${req.method} ${req.url}: ${(err as { code?: string }).code ?? ''} ${err.message}`) })
  server.listen(Number(port), () => console.log(`proxy on http://127.0.0.1:${port} -> ${upstream}`))
}
