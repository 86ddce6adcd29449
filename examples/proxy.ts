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
// - Upgrades (WebSocket) are relayed end to end: the upstream upgrade runs on node-hyper's
//   dedicated connection (`pool.upgrade()`), the 101 goes back to the client, then bytes flow
//   both ways untouched until either side closes. An upstream that refuses the upgrade has its
//   status and headers relayed (without body); other failures are 502/504 as for requests.
//
// Run it (Node >= 22.18 runs TypeScript directly; on Node 20 compile it first):
//   node examples/proxy.ts http://127.0.0.1:3000 8080
//   npx tsc -p examples && node build/examples/proxy.js http://127.0.0.1:3000 8080
import http from 'node:http'
import type { Duplex, Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Pool, UpgradeError, type PoolOptions, type RequestOptions, type UpgradeOptions } from 'node-hyper'

/** What the proxy needs from an upstream response (a node-hyper `ClientResponse` is one). */
export interface UpstreamResponse {
  status: number
  statusText: string
  httpVersion: string
  rawHeaders: string[]
  body: Readable
}

/** What the proxy needs from an upstream upgrade (a node-hyper `UpgradedConnection` is one). */
export interface UpstreamUpgrade {
  statusCode: number
  statusText: string
  rawHeaders: string[]
  /** The upstream connection, now speaking the new protocol. */
  socket: Duplex
  /** Bytes the upstream sent right behind its 101 (relayed first). */
  head: Buffer
}

/**
 * The upstream client. By default a node-hyper `Pool`; the benchmark plugs in undici through
 * this to compare the very same proxy on both clients.
 */
export interface UpstreamClient {
  request (options: RequestOptions): Promise<UpstreamResponse>
  /**
   * Upgrade requests (WebSocket); resolves once the upstream answered 101. A refusal that
   * carries `statusCode`/`statusText`/`rawHeaders` (node-hyper's `UpgradeError`) is relayed to
   * the client. Without this method the proxy answers upgrades with 501.
   */
  upgrade? (options: UpgradeOptions): Promise<UpstreamUpgrade>
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
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    void relayUpgrade(req, socket, head)
  })

  /** Request headers for upstream: end-to-end fields plus Via, X-Forwarded-For and -Host. */
  function upstreamHeaders (req: http.IncomingMessage): string[] {
    // Expect was answered by this server already (node:http sends 100 Continue).
    const headers = endToEnd(req.rawHeaders, options.preserveHost ? ['expect'] : ['expect', 'host'])
    if (!options.preserveHost && req.headers.host) appendField(headers, 'x-forwarded-host', req.headers.host)
    appendField(headers, 'via', `${protocolVersion(req.httpVersion)} ${pseudonym}`)
    appendField(headers, 'x-forwarded-for', req.socket.remoteAddress ?? 'unknown')
    return headers
  }

  /** Writes a response head (and no body) on a raw client socket, then closes it. */
  function refuse (socket: Duplex, status: number, statusText: string, raw: string[], text = ''): void {
    const fields = endToEnd(raw, ['content-length'])
    appendField(fields, 'via', `1.1 ${pseudonym}`)
    fields.push('Content-Length', String(Buffer.byteLength(text)), 'Connection', 'close')
    let out = `HTTP/1.1 ${status} ${statusText}\r\n`
    for (let i = 0; i < fields.length; i += 2) out += `${fields[i]}: ${fields[i + 1]}\r\n`
    socket.end(out + '\r\n' + text)
  }

  async function relayUpgrade (req: http.IncomingMessage, client: Duplex, clientHead: Buffer): Promise<void> {
    const early = (): void => { client.destroy() }
    client.on('error', early)
    if (!req.url?.startsWith('/')) {
      refuse(client, 400, 'Bad Request', ['Content-Type', 'text/plain'], 'origin-form request target expected\n')
      return
    }
    if (!pool.upgrade) {
      refuse(client, 501, 'Not Implemented', ['Content-Type', 'text/plain'], 'upgrades are not supported by this upstream client\n')
      return
    }
    const ac = new AbortController()
    const onGone = (): void => ac.abort(new Error('client disconnected'))
    client.once('close', onGone)
    let upstream: UpstreamUpgrade
    try {
      upstream = await pool.upgrade({
        method: req.method!,
        path: req.url,
        headers: upstreamHeaders(req),
        protocol: req.headers.upgrade ?? 'websocket',
        signal: ac.signal,
      })
    } catch (err) {
      if (ac.signal.aborted) return
      options.onError?.(err as Error, req)
      const e = err as Partial<UpgradeError>
      if (typeof e.statusCode === 'number' && e.statusCode >= 200) {
        // The upstream refused the upgrade: the client gets its answer.
        refuse(client, e.statusCode, e.statusText ?? '', e.rawHeaders ?? [])
      } else {
        const status = statusFor(err)
        refuse(client, status, http.STATUS_CODES[status]!, ['Content-Type', 'text/plain'], `${http.STATUS_CODES[status]}: ${(err as { code?: string }).code ?? (err as Error).message}\n`)
      }
      return
    } finally {
      client.removeListener('close', onGone)
    }
    const up = upstream.socket
    if (client.destroyed) {
      up.destroy()
      return
    }
    // The 101 for the client: the switch itself (Upgrade, Connection) plus the upstream's
    // end-to-end fields (Sec-WebSocket-Accept, -Protocol, -Extensions, ...).
    const fields = endToEnd(upstream.rawHeaders)
    appendField(fields, 'via', `1.1 ${pseudonym}`)
    const protocol = upstream.rawHeaders.find((_v, i, a) => i % 2 === 1 && a[i - 1]!.toLowerCase() === 'upgrade') ?? req.headers.upgrade ?? 'websocket'
    let out = `HTTP/1.1 101 ${upstream.statusText || 'Switching Protocols'}\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n`
    for (let i = 0; i < fields.length; i += 2) out += `${fields[i]}: ${fields[i + 1]}\r\n`
    client.write(out + '\r\n')
    if (upstream.head.length > 0) client.write(upstream.head)
    if (clientHead.length > 0) up.write(clientHead)
    // Bytes both ways until either side goes; then the other is ended once what it still has
    // to write is flushed (an error destroys both at once).
    const fail = (err: Error): void => {
      options.onError?.(err, req)
      client.destroy()
      up.destroy()
    }
    const closeOther = (other: Duplex) => (): void => {
      if (!other.destroyed) other.end(() => other.destroy())
    }
    client.removeListener('error', early)
    up.on('error', fail)
    client.on('error', fail)
    up.on('close', closeOther(client))
    client.on('close', closeOther(up))
    up.pipe(client)
    client.pipe(up)
  }

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

    const headers = upstreamHeaders(req)
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
