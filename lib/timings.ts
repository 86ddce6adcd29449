/**
 * Per-response timings and connection information (`res.timings`, `res.connection`,
 * `conn.timings`, `conn.info`). The core only stores raw numbers as it goes (a few fields on the
 * exchange, two native timestamps in each response head, the connection's setup times kept
 * natively); the objects here are built when someone reads them.
 *
 * Every time is a `performance.now()` value (monotonic ms since the process started), so it can
 * be compared with the caller's own `performance.now()`. Native timestamps come from
 * `uv_hrtime()`, the clock under `performance.now()`, and are shifted onto its timeline once.
 */
import { performance } from 'node:perf_hooks'
import { ConnInfo, type NativeConnInfo } from './protocol.js'
import type { TlsConnectionInfo } from './tls.js'

/**
 * `performance.now()`, bound once: the per-request stamps (a request's start and end) skip the
 * global's lazy accessor and the method lookup.
 */
export const now: () => number = performance.now.bind(performance)

/**
 * uv_hrtime milliseconds → performance.now() milliseconds: a constant, measured once as the
 * midpoint of two `performance.now()` reads around one `process.hrtime` read, so it is off by at
 * most half that window. The first window of a process is wide (~50 µs here: both calls are still
 * cold), wide enough to put a native stamp taken after a request started before its start; of 32
 * windows, the narrowest (~1 µs) is kept.
 */
const HR_TO_PERF = ((): number => {
  let best = Infinity
  let offset = 0
  for (let i = 0; i < 32; i++) {
    const a = now()
    const hr = Number(process.hrtime.bigint()) / 1e6
    const b = now()
    if (b - a < best) {
      best = b - a
      offset = (a + b) / 2 - hr
    }
  }
  return offset
})()

/** A native (uv_hrtime ms) timestamp on the performance.now() timeline; undefined for 0 (never reached). */
export function fromHr (ms: number): number | undefined {
  return ms > 0 ? ms + HR_TO_PERF : undefined
}

/** How a connection was set up, as `performance.now()` times (ms). */
export interface ConnectionTimings {
  /** The DNS lookup started (undefined without one: a Unix socket; for an IP literal it is near-instant). */
  lookupStart: number | undefined
  /** The lookup answered. */
  lookupEnd: number | undefined
  /** The socket connect started (the first attempt of a happy-eyeballs race). */
  connectStart: number | undefined
  /** The socket connected (TCP, or the Unix socket). Through a proxy: the connection to the proxy. */
  connectEnd: number | undefined
  /** TLS (and, through a proxy, the CONNECT tunnel) was set up; undefined without either. */
  secureEnd: number | undefined
  /** hyper's handshake finished: the connection took requests from here on. */
  ready: number | undefined
}

/** What a connection is: its peer, its own address, protocol and TLS. */
export interface ConnectionInfo {
  /** `'1.1'` or `'2'`. */
  protocol: '1.1' | '2'
  /** The peer's IP address (through a forward proxy: the proxy's). Undefined over a Unix socket. */
  remoteAddress: string | undefined
  remotePort: number | undefined
  /** `'IPv4'` or `'IPv6'` (as `net.Socket#remoteFamily`); undefined over a Unix socket. */
  remoteFamily: 'IPv4' | 'IPv6' | undefined
  /** The local end of the socket. Undefined over a Unix socket. */
  localAddress: string | undefined
  localPort: number | undefined
  /** The Unix domain socket path, when connected through one. */
  socketPath: string | undefined
  /** The forward proxy's origin (`http://proxy:3128`), when connected through one. */
  proxy: string | undefined
  /** What the TLS handshake negotiated (undefined for cleartext). */
  tls: TlsConnectionInfo | undefined
}

/** {@link ConnectionInfo} for one response: and whether its connection had served a request before. */
export interface ResponseConnection extends ConnectionInfo {
  /**
   * true when the connection had carried an earlier request (keep-alive reuse, or another stream
   * of the same HTTP/2 connection); false when this request was the connection's first.
   */
  reused: boolean
}

/** Durations (ms) of one request's phases; they add up to `total`. */
export interface TimingPhases {
  /**
   * Waiting: in the pool's queue for a free connection, behind earlier requests on an HTTP/1.1
   * connection, or for a new connection's hyper handshake. Excludes `dns`, `tcp`, `tls`. (A
   * request that failed before it was sent: all its time until then.)
   */
  queued: number
  /** DNS lookup of the connection opened for this request (0 on a reused connection). */
  dns: number
  /** Socket connect of that connection (0 on a reused connection). */
  tcp: number
  /** TLS handshake (and proxy tunnel) of that connection (0 on a reused connection or cleartext). */
  tls: number
  /** From sending the request to its response head (time to first byte after sending; a request that failed waiting for it: until then). */
  firstByte: number
  /** From the response head to the end of the body (undefined while the body streams; 0 without a head). */
  download: number | undefined
  /** From `start` to `end` (undefined while the body streams). */
  total: number | undefined
}

/**
 * When each step of one request happened (`performance.now()` ms) and how long each phase took,
 * for a request that may have failed (`node-hyper:request:done`): `firstByte` is undefined without
 * a response head, and `sent` when the request never reached a connection (for a request that
 * failed without a head, `sent` is when it was handed to its connection).
 */
export interface RequestTimings extends Omit<ResponseTimings, 'sent' | 'firstByte'> {
  sent: number | undefined
  firstByte: number | undefined
}

/** When each step of one request happened (`performance.now()` ms) and how long each phase took. */
export interface ResponseTimings {
  /** The request entered node-hyper (`request()`, `pool.request()`, `dispatch()`). */
  start: number
  /** The connection's DNS lookup ended (undefined on a reused connection, or without a lookup). */
  lookup: number | undefined
  /** The connection's socket connected (undefined on a reused connection). */
  connect: number | undefined
  /** The connection's TLS handshake ended (undefined on a reused connection, or cleartext). */
  secureConnect: number | undefined
  /**
   * node-hyper handed the request to hyper on its connection to be written (hyper writes the
   * head within the same turn of the event loop when the socket takes it).
   */
  sent: number
  /** The response head arrived (was parsed): time to first byte is `firstByte - start`. */
  firstByte: number
  /**
   * The body ended (or the request failed midway); undefined while the body still streams. A
   * response whose body came complete with its head (in the same read) ends at `firstByte`.
   */
  end: number | undefined
  phases: TimingPhases
}

/** What the timing and connection builders read from an exchange (its raw numbers). */
export interface TimedExchange {
  startedAt: number
  sentAt: number
  headAt: number
  endAt: number
  reused: boolean
  conn: TimedConnection | null
}

/** @internal A ClientConn's record (its TimedConnection), e.g. for diagnostics' `socket`. */
export const kRecord = Symbol('record')

/** What they read from its connection (a snapshot taken once connected, not the connection itself). */
export interface TimedConnection {
  readonly info: ConnectionInfo
  readonly timings: ConnectionTimings
}

/** A connection's setup times from the native tuple and the JS lookup. */
export function connectionTimings (n: NativeConnInfo, lookupStart: number, lookupEnd: number): ConnectionTimings {
  return {
    lookupStart: lookupStart > 0 ? lookupStart : undefined,
    lookupEnd: lookupEnd > 0 ? lookupEnd : undefined,
    connectStart: fromHr(n[ConnInfo.StartedAt]),
    connectEnd: fromHr(n[ConnInfo.ConnectedAt]),
    secureEnd: fromHr(n[ConnInfo.SecuredAt]),
    ready: fromHr(n[ConnInfo.ReadyAt]),
  }
}

/** A connection's addresses from the native tuple, and what JS knows about it. */
export function connectionInfo (n: NativeConnInfo, protocol: '1.1' | '2', tls: TlsConnectionInfo | undefined,
  socketPath: string | undefined, proxy: string | undefined): ConnectionInfo {
  const family = n[ConnInfo.Family]
  const ip = family === 4 || family === 6
  return {
    protocol,
    remoteAddress: ip ? n[ConnInfo.RemoteAddress] : undefined,
    remotePort: ip ? n[ConnInfo.RemotePort] : undefined,
    remoteFamily: family === 6 ? 'IPv6' : family === 4 ? 'IPv4' : undefined,
    localAddress: ip ? n[ConnInfo.LocalAddress] : undefined,
    localPort: ip ? n[ConnInfo.LocalPort] : undefined,
    socketPath,
    proxy,
    tls,
  }
}

/** `res.connection`: the connection that carried the exchange (undefined if none did). */
export function responseConnection (ex: TimedExchange): ResponseConnection | undefined {
  return ex.conn ? { ...ex.conn.info, reused: ex.reused } : undefined
}

/** The length of [a, b] that lies within [lo, hi] (0 when a bound is unknown). */
function within (a: number | undefined, b: number | undefined, lo: number, hi: number): number {
  if (a === undefined || b === undefined) return 0
  return Math.max(0, Math.min(b, hi) - Math.max(a, lo))
}

/** `res.timings`: a response got at least its head, so `sent` and `firstByte` are known. */
export function responseTimings (ex: TimedExchange): ResponseTimings {
  return requestTimings(ex) as ResponseTimings
}

/**
 * Timings from the exchange's raw numbers. The connection's setup counts for this request only
 * where it overlaps the request's wait (a connection opened earlier for someone else does not
 * make this request's DNS slow). Each phase runs until the next mark, or until the end when the
 * request failed before that mark: the phases add up to `total` either way.
 */
export function requestTimings (ex: TimedExchange, handedOver?: number): RequestTimings {
  const start = ex.startedAt
  const end = ex.endAt > 0 ? ex.endAt : undefined
  const sent = fromHr(ex.sentAt) ?? handedOver
  const firstByte = sent === undefined ? undefined : fromHr(ex.headAt)
  // Where waiting stopped (sent, or it ended first), where the wait for the head stopped.
  const waited = sent ?? end ?? performance.now()
  const answered = firstByte ?? end
  const c = ex.conn && !ex.reused ? ex.conn.timings : undefined
  const dns = c ? within(c.lookupStart, c.lookupEnd, start, waited) : 0
  const tcp = c ? within(c.connectStart, c.connectEnd, start, waited) : 0
  const tls = c ? within(c.connectEnd, c.secureEnd, start, waited) : 0
  return {
    start,
    lookup: c?.lookupEnd,
    connect: c?.connectEnd,
    secureConnect: c?.secureEnd,
    sent,
    firstByte,
    end,
    phases: {
      queued: Math.max(0, waited - start - dns - tcp - tls),
      dns,
      tcp,
      tls,
      firstByte: sent === undefined ? 0 : Math.max(0, (answered ?? performance.now()) - sent),
      download: firstByte === undefined ? (end === undefined ? undefined : 0) : end === undefined ? undefined : Math.max(0, end - firstByte),
      total: end === undefined ? undefined : Math.max(0, end - start),
    },
  }
}
