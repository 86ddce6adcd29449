// One request handler served on 127.0.0.1 over every transport the client speaks: HTTP/1.1, h2c
// (prior knowledge), and TLS offering both by ALPN. For tests that run the same cases on each.
import http from 'node:http'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { makePki, type TestPki } from './tls-certs'

export type Req = http.IncomingMessage | http2.Http2ServerRequest
export type Res = http.ServerResponse | http2.Http2ServerResponse
export type Handler = (req: Req, res: Res) => void

/** A transport to the handler: its origin is known once `start()` resolved. */
export interface Transport { name: string, origin: () => string, http2: boolean }

export interface EveryProtocol {
  /** HTTP/1.1, h2c, TLS HTTP/1.1, TLS HTTP/2 (for `describe.each`). */
  transports: Transport[]
  /** `ClientConn`/`Pool`/`HyperDispatcher` options for a transport (protocol, the test CA). */
  options: (t: Transport) => { http2: boolean, tls?: { ca: string } }
  start: () => Promise<void>
  close: () => void
}

export function everyProtocol (handler: Handler): EveryProtocol {
  const origins: Record<string, string> = {}
  const servers: { close: () => void }[] = []
  let pki: TestPki | undefined
  const listen = async (server: http.Server | http2.Http2Server | http2.Http2SecureServer): Promise<number> => {
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return (server.address() as AddressInfo).port
  }
  const origin = (key: string) => () => origins[key]!
  return {
    transports: [
      { name: 'HTTP/1.1', origin: origin('h1'), http2: false },
      { name: 'h2c', origin: origin('h2c'), http2: true },
      { name: 'TLS HTTP/1.1', origin: origin('tls'), http2: false },
      { name: 'TLS HTTP/2', origin: origin('tls'), http2: true },
    ],
    options: (t) => ({ http2: t.http2, ...(t.origin().startsWith('https:') ? { tls: { ca: pki!.ca } } : {}) }),
    async start () {
      pki = makePki()
      origins.h1 = `http://127.0.0.1:${await listen(http.createServer(handler))}`
      origins.h2c = `http://127.0.0.1:${await listen(http2.createServer(handler))}`
      origins.tls = `https://localhost:${await listen(http2.createSecureServer({ ...pki.good, allowHTTP1: true }, handler))}`
    },
    close () {
      for (const s of servers) s.close()
    },
  }
}
