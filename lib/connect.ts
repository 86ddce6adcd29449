/**
 * How a TCP connection is made: the socket options (`localAddress`, TCP keep-alive, `noDelay`),
 * and happy eyeballs (`autoSelectFamily`): every address of the host is looked up, the families
 * are interleaved the way Node's `net` does it, and the addon races staggered connects to them
 * (native/src/connector.h). When every attempt fails, the error lists each of them (`errors`).
 * @internal
 */
import * as dns from 'node:dns'
import * as net from 'node:net'
import { Attempt, AttemptOutcome, Err, type NativeAttempt, type NativeErrorInfo } from './protocol.js'
import { HyperError, InvalidArgumentError, SocketError, TimeoutError, errorFromNative } from './errors.js'

/** A `dns.lookup`-compatible function. */
export type LookupFunction = (
  hostname: string,
  options: dns.LookupOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void,
) => void

/** How the socket is found and set up: the part of {@link ConnectOptions} that the connect race reads. */
export interface NetConnectOptions {
  /**
   * Custom DNS lookup (default `dns.lookup`), called as Node's `net` calls it: with
   * `{ family, all: true }` under `autoSelectFamily` (answer with every address), else `{ family }`.
   */
  lookup?: LookupFunction
  /** Address family for the lookup: 0 (any), 4 or 6. */
  family?: 0 | 4 | 6
  /**
   * Happy eyeballs (default true, as Node's `net`): every address of the host is looked up, IPv6
   * and IPv4 interleaved, and connects to them are raced natively: one more starts each
   * {@link NetConnectOptions.autoSelectFamilyAttemptTimeout} (or as soon as one fails), earlier ones
   * keep going, the first to connect wins and the others are closed. When all fail, the error's
   * `errors` lists each attempt. false: only the first address is tried.
   */
  autoSelectFamily?: boolean
  /** ms to wait for an attempt before starting the next (default 250, at least 10; Node's default). */
  autoSelectFamilyAttemptTimeout?: number
  /** Local IP address to connect from (bound before connecting); only addresses of its family are tried. */
  localAddress?: string
  /** TCP keep-alive probes on the socket (default true). Not HTTP keep-alive: see `keepAliveTimeout` on Pool. */
  keepAlive?: boolean
  /** Idle time before the first TCP keep-alive probe, ms (default 60,000, as Node's sockets under undici; rounded down to seconds; 0 = the system's). */
  keepAliveInitialDelay?: number
  /** `TCP_NODELAY`: send small writes at once (default true). */
  noDelay?: boolean
}

/** One address to connect to. */
export interface Candidate {
  address: string
  family: 4 | 6
}

/** Node's default (`net.getDefaultAutoSelectFamilyAttemptTimeout()`) and its lower bound. */
const ATTEMPT_TIMEOUT_DEFAULT = 250
const ATTEMPT_TIMEOUT_MIN = 10
/** Node's default initial delay of the TCP keep-alive probes of undici's sockets (ms). */
const KEEPALIVE_DELAY_DEFAULT = 60_000

/** Checks the socket and happy-eyeballs options. Throws InvalidArgumentError. */
export function validateNetOptions (options: NetConnectOptions): void {
  for (const b of ['autoSelectFamily', 'keepAlive', 'noDelay'] as const) {
    if (options[b] !== undefined && typeof options[b] !== 'boolean') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', b, `${b} must be a boolean`)
  }
  const t = options.autoSelectFamilyAttemptTimeout
  if (t !== undefined && (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > 0x7fffffff)) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'autoSelectFamilyAttemptTimeout', 'autoSelectFamilyAttemptTimeout must be a positive integer (ms)')
  }
  const d = options.keepAliveInitialDelay
  if (d !== undefined && (typeof d !== 'number' || !Number.isFinite(d) || d < 0 || d > 0x7fffffff)) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'keepAliveInitialDelay', 'keepAliveInitialDelay must be a non-negative number of milliseconds')
  }
  const la = options.localAddress
  if (la !== undefined) {
    if (typeof la !== 'string' || net.isIP(la) === 0) throw new InvalidArgumentError('ERR_INVALID_IP_ADDRESS', 'localAddress', `localAddress must be an IP address, got ${JSON.stringify(la)}`)
    const fam = net.isIP(la)
    if (options.family !== undefined && options.family !== 0 && options.family !== fam) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'family', `family ${options.family} does not match localAddress ${la} (IPv${fam})`)
    }
  }
}

/** The attempt delay in force (ms). */
export function attemptTimeout (options: NetConnectOptions): number {
  const t = options.autoSelectFamilyAttemptTimeout ?? ATTEMPT_TIMEOUT_DEFAULT
  return Math.max(t, ATTEMPT_TIMEOUT_MIN)
}

/** The native Connection's `socket` option. */
export function nativeSocketOptions (options: NetConnectOptions): object | undefined {
  const { localAddress, keepAlive, keepAliveInitialDelay, noDelay } = options
  const delay = keepAliveInitialDelay ?? KEEPALIVE_DELAY_DEFAULT
  return {
    localAddress: localAddress ?? '',
    keepAlive: keepAlive ?? true,
    // Node (libuv) rounds down to whole seconds; 0 keeps the system's idle time.
    keepAliveDelay: Math.floor(delay / 1000),
    noDelay: noDelay ?? true,
  }
}

/**
 * Node's ordering for happy eyeballs: addresses grouped by family, the family of the first
 * address first, then alternating (IPv6, IPv4, IPv6, ...); duplicates dropped.
 */
export function interleave (addresses: readonly Candidate[]): Candidate[] {
  const groups: [Candidate[], Candidate[]] = [[], []]
  const seen = new Set<string>()
  let first: 4 | 6 | 0 = 0
  for (const a of addresses) {
    if (seen.has(a.address)) continue
    seen.add(a.address)
    first ||= a.family
    groups[a.family === first ? 0 : 1].push(a)
  }
  const out: Candidate[] = []
  for (let i = 0; i < Math.max(groups[0].length, groups[1].length); i++) {
    if (i < groups[0].length) out.push(groups[0][i]!)
    if (i < groups[1].length) out.push(groups[1][i]!)
  }
  return out
}

function lookupError (hostname: string, err: NodeJS.ErrnoException): SocketError {
  const code = typeof err.code === 'string' ? err.code : 'ENOTFOUND'
  return new SocketError(code, `getaddrinfo ${code} ${hostname}`, { syscall: 'getaddrinfo', cause: err })
}

/**
 * The addresses to try for `hostname`: with `autoSelectFamily` (the default) every address the
 * lookup returns, interleaved; without it, the first one. An IP literal is itself. With a
 * `localAddress`, only addresses of its family. The caller's `lookup` is held to account: an
 * invalid answer, a throw, or a second callback are handled, never trusted.
 */
export function lookupCandidates (hostname: string, options: NetConnectOptions): Promise<Candidate[]> {
  const ipFamily = net.isIP(hostname)
  if (ipFamily !== 0) return Promise.resolve([{ address: hostname, family: ipFamily as 4 | 6 }])
  const all = options.autoSelectFamily !== false
  const localFamily = options.localAddress ? net.isIP(options.localAddress) as 4 | 6 : 0
  const family = localFamily || options.family || 0
  const lookup = options.lookup ?? (dns.lookup as unknown as LookupFunction)
  return new Promise((resolve, reject) => {
    let answered = false
    const done = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], fam?: number): void => {
      if (answered) return
      answered = true
      if (err) {
        reject(lookupError(hostname, err))
        return
      }
      const list = Array.isArray(address) ? address : [{ address, family: fam }]
      const found: Candidate[] = []
      for (const a of list) {
        const kind = typeof a?.address === 'string' ? net.isIP(a.address) : 0
        if (kind === 0) {
          reject(new HyperError('ERR_INVALID_IP_ADDRESS', `lookup returned an invalid address for ${hostname}: ${JSON.stringify(a?.address ?? address)}`))
          return
        }
        if (family === 0 || kind === family) found.push({ address: a.address, family: kind as 4 | 6 })
      }
      if (found.length === 0) {
        const why = list.length === 0 ? 'no address' : `no IPv${family} address${localFamily ? ` (localAddress ${options.localAddress} is IPv${family})` : ''}`
        reject(new SocketError('ENOTFOUND', `getaddrinfo ENOTFOUND ${hostname}: ${why}`, { syscall: 'getaddrinfo' }))
        return
      }
      resolve(all ? interleave(found) : [found[0]!])
    }
    try {
      lookup(hostname, all ? { family, all: true } : { family }, done)
    } catch (err) {
      answered = true
      reject(new HyperError('ERR_LOOKUP_FAILED', `lookup threw: ${(err as Error)?.message ?? String(err)}`, { cause: err }))
    }
  })
}

/** `host:port` with IPv6 in brackets. */
export function endpoint (address: string, family: number, port: number): string {
  return `${family === 6 ? `[${address}]` : address}:${port}`
}

/** One error per attempt of a race that tried several addresses (those never started are left out). */
export function attemptErrors (attempts: readonly NativeAttempt[], port: number): Error[] {
  const out: Error[] = []
  for (const a of attempts) {
    const where = endpoint(a[Attempt.Address], a[Attempt.Family], port)
    const outcome = a[Attempt.Outcome]
    if (outcome === AttemptOutcome.Failed) {
      const e = errorFromNative(a[Attempt.Error] as NativeErrorInfo, where)
      if (e instanceof SocketError) {
        e.address = a[Attempt.Address]
        e.port = port
      }
      out.push(e)
    } else if (outcome === AttemptOutcome.Pending) {
      const e = new SocketError('ETIMEDOUT', `connect ETIMEDOUT ${where} (no answer before the connect timeout)`, { syscall: 'connect' })
      e.address = a[Attempt.Address]
      e.port = port
      out.push(e)
    }
  }
  return out
}

/**
 * The error of a connect race that failed (every attempt failed, or the connect timed out with
 * attempts still unanswered): the race's own error (the first failure's code, like Node's
 * AggregateError of `autoSelectFamily`), with `errors` listing each attempt.
 */
export function raceError (info: NativeErrorInfo, attempts: readonly NativeAttempt[], host: string, port: number): HyperError {
  const errors = attemptErrors(attempts, port)
  const list = errors.map((e) => `${endpoint((e as SocketError).address ?? '?', net.isIP((e as SocketError).address ?? '') || 4, port)} (${(e as HyperError).code})`).join(', ')
  const localCode = info[Err.LocalCode]
  let err: HyperError
  if (localCode === 'ERR_CONNECT_TIMEOUT') {
    err = new TimeoutError(localCode, `${info[Err.Message]}; tried ${list || 'no address'}`)
  } else {
    const first = errors[0] as HyperError | undefined
    const code = first?.code ?? 'ECONNREFUSED'
    err = new SocketError(code, `connect ${code}: every address of ${host} failed: ${list}`, { syscall: 'connect', requestSent: false })
    ;(err as SocketError).port = port
  }
  Object.defineProperty(err, 'errors', { value: errors, configurable: true, writable: true, enumerable: false })
  return err
}
