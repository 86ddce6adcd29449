/**
 * TLS options and the native secure contexts built from them. One native context (an OpenSSL
 * `SSL_CTX` with its trust store and client session cache) is shared by every connection made
 * with equal options on a thread, so the root store is parsed once and sessions resume across
 * pools.
 */
import * as fs from 'node:fs'
import * as tls from 'node:tls'
import { binding, type NativeSecureContext } from './native.js'
import { InvalidArgumentError, TlsError } from './errors.js'
import { Tls, type NativeTlsInfo } from './protocol.js'

/** PEM text: a string or a Buffer holding it. */
export type Pem = string | Buffer

/** TLS settings for `https:` connections (names follow `tls.connect` where they overlap). */
export interface TlsOptions {
  /**
   * Extra trusted CA certificates (PEM). They are added to Node's root store
   * (`tls.getCACertificates('default')` where available, else `tls.rootCertificates` plus
   * `NODE_EXTRA_CA_CERTS`); set {@link TlsOptions.defaultRoots} to false to trust only these.
   */
  ca?: Pem | Pem[]
  /** Trust Node's default root store as well as `ca` (default true). */
  defaultRoots?: boolean
  /** Client certificate chain (PEM, leaf first) for mutual TLS. */
  cert?: Pem | Pem[]
  /** Private key (PEM) for `cert`. */
  key?: Pem
  /** Passphrase of an encrypted `key`. */
  passphrase?: string
  /** SNI server name and the name the certificate must match (default: the URL's host name; no SNI for IP addresses). */
  servername?: string
  /** Verify the server certificate and fail the connection when it does not verify (default true). */
  rejectUnauthorized?: boolean
  /**
   * ALPN protocols to offer, most preferred first. Default: from `http2` (`true` -> `['h2']`,
   * `false` -> `['http/1.1']`, `'auto'`/unset -> `['h2', 'http/1.1']`).
   */
  ALPNProtocols?: string[]
  /** Cipher list in OpenSSL/Node syntax; TLS 1.3 suites (`TLS_*`) may be mixed in (default `tls.DEFAULT_CIPHERS`). */
  ciphers?: string
  /** Lowest protocol version (default `tls.DEFAULT_MIN_VERSION`). */
  minVersion?: 'TLSv1.2' | 'TLSv1.3'
  /** Highest protocol version (default `tls.DEFAULT_MAX_VERSION`). */
  maxVersion?: 'TLSv1.2' | 'TLSv1.3'
  /** Resume TLS sessions for new connections to the same server (default true). */
  sessionReuse?: boolean
}

/** What the TLS handshake negotiated (see `ClientConn.tls`). */
export interface TlsConnectionInfo {
  /** ALPN protocol the server selected (`'h2'`, `'http/1.1'`), or `false` when none. */
  alpnProtocol: string | false
  /** `'TLSv1.3'`, `'TLSv1.2'`. */
  protocol: string
  /** OpenSSL name of the cipher suite. */
  cipher: string
  /** Whether the certificate verified (always true when `rejectUnauthorized` is on). */
  authorized: boolean
  /** The verification failure code when not authorized (`rejectUnauthorized: false`). */
  authorizationError?: string
  /** Whether an earlier session was resumed. */
  sessionReused: boolean
}

const VERSIONS: Record<string, number> = { 'TLSv1.2': 0x0303, 'TLSv1.3': 0x0304 }

function pemList (name: string, v: Pem | Pem[] | undefined): string[] {
  if (v === undefined) return []
  const list = Array.isArray(v) ? v : [v]
  return list.map((x, i) => {
    if (typeof x === 'string') return x
    if (Buffer.isBuffer(x)) return x.toString('latin1')
    throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', Array.isArray(v) ? `tls.${name}[${i}]` : `tls.${name}`, `tls.${name} must be PEM text (string or Buffer)`)
  })
}

let defaultRootsCache: string[] | undefined
function defaultRoots (): string[] {
  if (defaultRootsCache) return defaultRootsCache
  const get = (tls as unknown as { getCACertificates?: (type: string) => string[] }).getCACertificates
  if (typeof get === 'function') {
    defaultRootsCache = get('default')  // Node 22.15+: bundled roots plus NODE_EXTRA_CA_CERTS
  } else {
    const roots = [...tls.rootCertificates]
    const extra = process.env.NODE_EXTRA_CA_CERTS
    if (extra) {
      try {
        roots.push(fs.readFileSync(extra, 'latin1'))
      } catch {}  // Node itself only warns about an unreadable file
    }
    defaultRootsCache = roots
  }
  return defaultRootsCache
}

function version (name: string, v: string | undefined, dflt: string): number {
  const s = v ?? dflt
  const n = VERSIONS[s]
  if (n === undefined) {
    if (v === undefined) return s === 'TLSv1.3' ? 0x0304 : 0x0303  // Node allows older defaults; we start at 1.2
    throw new InvalidArgumentError('ERR_TLS_INVALID_PROTOCOL_VERSION', `tls.${name}`, `tls.${name} must be 'TLSv1.2' or 'TLSv1.3', got ${JSON.stringify(v)}`)
  }
  return n
}

/** Normalised options for the native context, plus the per-connection names. */
export interface ResolvedTls {
  context: NativeSecureContext
  servername: string
  verifyHost: string
}

const cache = new Map<string, NativeSecureContext>()
const CACHE_LIMIT = 32

/** Validates `options` and returns the shared native context for them. */
export function secureContextFor (options: TlsOptions, http2: boolean | 'auto'): NativeSecureContext {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'tls', 'tls options must be an object')
  const ca = pemList('ca', options.ca)
  const cert = pemList('cert', options.cert).join('\n')
  const key = options.key === undefined ? '' : pemList('key', options.key)[0]!
  if (options.passphrase !== undefined && typeof options.passphrase !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'tls.passphrase', 'tls.passphrase must be a string')
  if ((cert === '') !== (key === '')) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', cert ? 'tls.key' : 'tls.cert', 'tls.cert and tls.key go together')
  let alpn: string[]
  if (options.ALPNProtocols !== undefined) {
    if (!Array.isArray(options.ALPNProtocols) || options.ALPNProtocols.some((p) => typeof p !== 'string' || p.length === 0 || p.length > 255)) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'tls.ALPNProtocols', 'tls.ALPNProtocols must be an array of 1-255 character strings')
    }
    alpn = options.ALPNProtocols
  } else {
    alpn = http2 === true ? ['h2'] : http2 === false ? ['http/1.1'] : ['h2', 'http/1.1']
  }
  for (const b of ['rejectUnauthorized', 'defaultRoots', 'sessionReuse'] as const) {
    if (options[b] !== undefined && typeof options[b] !== 'boolean') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', `tls.${b}`, `tls.${b} must be a boolean`)
  }
  const cipherText = options.ciphers ?? tls.DEFAULT_CIPHERS
  if (typeof cipherText !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'tls.ciphers', 'tls.ciphers must be a string')
  // Node's syntax mixes TLS 1.3 suites into the list; OpenSSL takes them separately.
  const parts = cipherText.split(':').filter(Boolean)
  const ciphersuites = parts.filter((p) => p.startsWith('TLS_')).join(':')
  const ciphers = parts.filter((p) => !p.startsWith('TLS_')).join(':')
  const config = {
    ca: options.defaultRoots === false ? ca : [...defaultRoots(), ...ca],
    cert,
    key,
    passphrase: options.passphrase ?? '',
    alpn,
    ciphers,
    ciphersuites,
    minVersion: version('minVersion', options.minVersion, tls.DEFAULT_MIN_VERSION),
    maxVersion: version('maxVersion', options.maxVersion, tls.DEFAULT_MAX_VERSION),
    rejectUnauthorized: options.rejectUnauthorized ?? true,
    sessionCache: options.sessionReuse ?? true,
  }
  if (config.ca.length === 0 && config.rejectUnauthorized) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'tls.ca', 'no trusted certificates: pass tls.ca or keep defaultRoots')
  }
  const cacheKey = JSON.stringify([options.defaultRoots === false, ca, cert, key, config.passphrase, alpn, cipherText, config.minVersion, config.maxVersion, config.rejectUnauthorized, config.sessionCache])
  let ctx = cache.get(cacheKey)
  if (ctx) {
    cache.delete(cacheKey)  // most recently used last
    cache.set(cacheKey, ctx)
    return ctx
  }
  try {
    ctx = new binding.SecureContext(config)
  } catch (err) {
    const e = err as Error & { code?: string }
    throw new TlsError(e.code ?? 'ERR_TLS_CONTEXT', e.message)
  }
  cache.set(cacheKey, ctx)
  if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value!)
  return ctx
}

/** `[alpn, version, cipher, authorizationError, sessionReused, http2]` from the addon. */
export function tlsInfoFromNative (t: NativeTlsInfo): TlsConnectionInfo {
  const info: TlsConnectionInfo = {
    alpnProtocol: t[Tls.Alpn] || false,
    protocol: t[Tls.Version],
    cipher: t[Tls.Cipher],
    authorized: t[Tls.AuthorizationError] === '',
    sessionReused: t[Tls.SessionReused],
  }
  if (t[Tls.AuthorizationError]) info.authorizationError = t[Tls.AuthorizationError]
  return info
}
