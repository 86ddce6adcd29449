/**
 * TLS options and the native secure contexts built from them. One native context (an OpenSSL
 * `SSL_CTX` with its trust store and client session cache) is shared by every connection made
 * with equal options on a thread, so the root store is parsed once and sessions resume across
 * pools.
 */
import * as fs from 'node:fs'
import * as tls from 'node:tls'
import { X509Certificate } from 'node:crypto'
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

/** `options` checked and normalised (everything but ALPN, which depends on the use). */
interface CheckedTls {
  /** The caller's own CA certificates. */
  ca: string[]
  cert: string
  key: string
  passphrase: string
  cipherText: string
  ciphers: string
  ciphersuites: string
  minVersion: number
  maxVersion: number
  rejectUnauthorized: boolean
  defaultRoots: boolean
  sessionReuse: boolean
}

function checkTls (options: TlsOptions): CheckedTls {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'tls', 'tls options must be an object')
  const ca = pemList('ca', options.ca)
  const cert = pemList('cert', options.cert).join('\n')
  const key = options.key === undefined ? '' : pemList('key', options.key)[0]!
  if (options.passphrase !== undefined && typeof options.passphrase !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'tls.passphrase', 'tls.passphrase must be a string')
  if ((cert === '') !== (key === '')) throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', cert ? 'tls.key' : 'tls.cert', 'tls.cert and tls.key go together')
  for (const b of ['rejectUnauthorized', 'defaultRoots', 'sessionReuse'] as const) {
    if (options[b] !== undefined && typeof options[b] !== 'boolean') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', `tls.${b}`, `tls.${b} must be a boolean`)
  }
  const cipherText = options.ciphers ?? tls.DEFAULT_CIPHERS
  if (typeof cipherText !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'tls.ciphers', 'tls.ciphers must be a string')
  // Node's syntax mixes TLS 1.3 suites into the list; OpenSSL takes them separately.
  const parts = cipherText.split(':').filter(Boolean)
  const checked: CheckedTls = {
    ca,
    cert,
    key,
    passphrase: options.passphrase ?? '',
    cipherText,
    ciphers: parts.filter((p) => !p.startsWith('TLS_')).join(':'),
    ciphersuites: parts.filter((p) => p.startsWith('TLS_')).join(':'),
    minVersion: version('minVersion', options.minVersion, tls.DEFAULT_MIN_VERSION),
    maxVersion: version('maxVersion', options.maxVersion, tls.DEFAULT_MAX_VERSION),
    rejectUnauthorized: options.rejectUnauthorized ?? true,
    defaultRoots: options.defaultRoots ?? true,
    sessionReuse: options.sessionReuse ?? true,
  }
  if (!checked.defaultRoots && ca.length === 0 && checked.rejectUnauthorized) {
    throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'tls.ca', 'no trusted certificates: pass tls.ca or keep defaultRoots')
  }
  return checked
}

/** Validates `options` and returns the shared native context for them. */
export function secureContextFor (options: TlsOptions, http2: boolean | 'auto'): NativeSecureContext {
  const c = checkTls(options)
  let alpn: string[]
  if (options.ALPNProtocols !== undefined) {
    if (!Array.isArray(options.ALPNProtocols) || options.ALPNProtocols.some((p) => typeof p !== 'string' || p.length === 0 || p.length > 255)) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'tls.ALPNProtocols', 'tls.ALPNProtocols must be an array of 1-255 character strings')
    }
    // The encoded list (a length byte before each name) must fit TLS's 16-bit field.
    const encoded = options.ALPNProtocols.reduce((n, p) => n + 1 + Buffer.byteLength(p), 0)
    if (encoded > 65535) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'tls.ALPNProtocols', `tls.ALPNProtocols encodes to ${encoded} bytes; TLS allows at most 65,535`)
    }
    alpn = options.ALPNProtocols
  } else {
    alpn = http2 === true ? ['h2'] : http2 === false ? ['http/1.1'] : ['h2', 'http/1.1']
  }
  const config = {
    ca: c.defaultRoots ? [...defaultRoots(), ...c.ca] : c.ca,
    cert: c.cert,
    key: c.key,
    passphrase: c.passphrase,
    alpn,
    ciphers: c.ciphers,
    ciphersuites: c.ciphersuites,
    minVersion: c.minVersion,
    maxVersion: c.maxVersion,
    rejectUnauthorized: c.rejectUnauthorized,
    sessionCache: c.sessionReuse,
  }
  const cacheKey = JSON.stringify([!c.defaultRoots, c.ca, c.cert, c.key, c.passphrase, alpn, c.cipherText, c.minVersion, c.maxVersion, c.rejectUnauthorized, c.sessionReuse])
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

/** What a dedicated connection (upgrade, CONNECT) on Node's own TLS needs. @internal */
export interface NodeTls {
  secureContext: tls.SecureContext
  rejectUnauthorized: boolean
}

const nodeCache = new Map<string, NodeTls>()
const VERSION_NAMES: Record<number, tls.SecureVersion> = { 0x0303: 'TLSv1.2', 0x0304: 'TLSv1.3' }

/** Whether a PEM entry holds at least one certificate that parses (as the native context requires). */
function hasCertificate (pem: string): boolean {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []
  return blocks.some((b) => {
    try {
      new X509Certificate(b)
      return true
    } catch {
      return false
    }
  })
}

/**
 * A Node `tls.SecureContext` for `options`, validated as {@link secureContextFor} does and with
 * the same error codes, for connections that run on Node's `tls` module instead of the addon
 * (upgrades and CONNECT tunnels). Cached per equal option set. ALPN is not part of it: the
 * caller offers `http/1.1` only. @internal
 */
export function nodeSecureContextFor (options: TlsOptions): NodeTls {
  const c = checkTls(options)
  const cacheKey = JSON.stringify([!c.defaultRoots, c.ca, c.cert, c.key, c.passphrase, c.cipherText, c.minVersion, c.maxVersion, c.rejectUnauthorized])
  let found = nodeCache.get(cacheKey)
  if (found) {
    nodeCache.delete(cacheKey)
    nodeCache.set(cacheKey, found)
    return found
  }
  c.ca.forEach((pem, i) => {
    if (!hasCertificate(pem)) throw new TlsError('ERR_TLS_INVALID_CA', `\`ca\`${c.ca.length > 1 ? `[${i}]` : ''} holds no valid PEM certificate`)
  })
  // No ca of the caller's own: Node's default store as it is (no copy to parse).
  const ca = c.ca.length === 0 ? (c.defaultRoots ? undefined : []) : c.defaultRoots ? [...defaultRoots(), ...c.ca] : c.ca
  const base: tls.SecureContextOptions = {
    ciphers: c.cipherText,
    minVersion: VERSION_NAMES[c.minVersion]!,
    maxVersion: VERSION_NAMES[c.maxVersion]!,
  }
  const credentials: tls.SecureContextOptions = c.cert ? { cert: c.cert, key: c.key, passphrase: c.passphrase } : {}
  let secureContext: tls.SecureContext
  try {
    secureContext = tls.createSecureContext({ ...base, ...credentials, ...(ca ? { ca } : {}) })
  } catch (err) {
    throw nodeContextError(err, base, c)
  }
  found = { secureContext, rejectUnauthorized: c.rejectUnauthorized }
  nodeCache.set(cacheKey, found)
  if (nodeCache.size > CACHE_LIMIT) nodeCache.delete(nodeCache.keys().next().value!)
  return found
}

/** Names the part of the options Node's `createSecureContext` refused, with the native context's codes. */
function nodeContextError (err: unknown, base: tls.SecureContextOptions, c: CheckedTls): TlsError {
  const fails = (o: tls.SecureContextOptions): boolean => {
    try {
      tls.createSecureContext(o)
      return false
    } catch {
      return true
    }
  }
  const detail = (err as Error)?.message ?? String(err)
  const opts = { cause: err }
  if (fails(base)) {
    const code = (err as { code?: string })?.code === 'ERR_SSL_NO_CIPHER_MATCH' ? 'ERR_SSL_NO_CIPHER_MATCH' : 'ERR_TLS_INVALID_PROTOCOL_VERSION'
    return new TlsError(code, `invalid ciphers or protocol versions: ${detail}`, opts)
  }
  if (c.cert && fails({ cert: c.cert })) return new TlsError('ERR_TLS_INVALID_CERT', `\`cert\` is not a valid PEM certificate: ${detail}`, opts)
  if (c.key && fails({ key: c.key, passphrase: c.passphrase })) {
    return new TlsError('ERR_TLS_INVALID_KEY', `\`key\` could not be read (malformed, or a wrong or missing passphrase): ${detail}`, opts)
  }
  if (c.cert) return new TlsError('ERR_TLS_KEY_MISMATCH', `\`key\` does not match \`cert\`: ${detail}`, opts)
  return new TlsError('ERR_TLS_CONTEXT', detail, opts)
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
