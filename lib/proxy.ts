/**
 * Forward proxies: the `proxy` connect option, the environment mode, and what a proxied
 * connection sends.
 *
 * - `https:` targets (and `http:` ones with `tunnel: true`) go through a `CONNECT host:port`
 *   tunnel, opened natively by the addon's tunnel layer (native/src/tunnel.h) between the
 *   connection to the proxy (TLS for an `https:` proxy) and the target's TLS and hyper.
 * - `http:` targets are sent to the proxy in absolute form (`GET http://host/path HTTP/1.1`) with
 *   the proxy's headers; the connection is to the proxy, pooled as the target's pool's connections.
 * - `proxy: 'env'` follows undici's `EnvHttpProxyAgent`: `http_proxy`/`HTTP_PROXY` for `http:`,
 *   `https_proxy`/`HTTPS_PROXY` (else the HTTP proxy) for `https:`, and `no_proxy`/`NO_PROXY`
 *   matched exactly as undici matches it (test/forward-proxy.test.ts compares the two).
 */
import * as net from 'node:net'
import { InvalidArgumentError, ProxyError, type HyperErrorOptions } from './errors.js'
import { Err, Tunnel, splitRawHeaders, type NativeErrorInfo, type NativeTunnelReply } from './protocol.js'
import { secureContextFor, type TlsOptions } from './tls.js'
import { flattenHeaders, validateHeaderValue, type HeadersInput } from './validate.js'

/** A forward proxy (the object form of the `proxy` option). */
export interface ProxyOptions {
  /**
   * The proxy's URL: `http://host:port`, or `https://host:port` for TLS to the proxy itself.
   * Credentials in it (`http://user:password@host:port`) are sent as Basic `Proxy-Authorization`.
   */
  uri: string | URL
  /** Headers for the proxy: sent with each CONNECT, and with each absolute-form request. */
  headers?: HeadersInput
  /** The `Proxy-Authorization` value (e.g. `Bearer abc`); wins over credentials in `uri`. */
  token?: string
  /** TLS options for an `https:` proxy (its certificate is verified like a server's; ALPN offers `http/1.1` only). */
  tls?: TlsOptions
  /**
   * `http:` targets through a CONNECT tunnel too (default false: absolute-form requests to the
   * proxy, as curl and undici's `proxyTunnel: false` send them). `https:` targets always tunnel.
   */
  tunnel?: boolean
}

/** The environment's proxy rules with explicit values (each falls back to its variable). */
export interface EnvProxyOptions {
  /** Instead of `http_proxy`/`HTTP_PROXY`. */
  httpProxy?: string
  /** Instead of `https_proxy`/`HTTPS_PROXY`. */
  httpsProxy?: string
  /** Instead of `no_proxy`/`NO_PROXY`. */
  noProxy?: string
}

/**
 * The `proxy` connect option: a proxy URL, {@link ProxyOptions}, `'env'` (the proxy the
 * environment names for each target, as undici's `EnvHttpProxyAgent` picks it), or
 * `{ env: EnvProxyOptions }` (the same rules with explicit values).
 */
export type ProxyOption = string | URL | ProxyOptions | 'env' | { env: EnvProxyOptions }

/** @internal A proxy, checked and normalised. */
export interface ProxyConfig {
  /** The proxy's origin (`http://127.0.0.1:3128`), for messages. */
  origin: string
  secure: boolean
  /** Host to connect to (IPv6 without brackets). */
  hostname: string
  port: number
  /** Header lines for the proxy (`Proxy-Authorization` included), validated: `[name, value, ...]`. */
  headers: string[]
  tls: TlsOptions | undefined
  tunnel: boolean
}

/** What a connection needs to know of its target to pick and use a proxy. */
export interface ProxyTarget {
  secure: boolean
  /** Host name as in a URL (IPv6 in brackets or not). */
  hostname: string
  port: number
}

function bad (field: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError('ERR_INVALID_ARG_VALUE', field, message)
}

/** Checks a `proxy` option (at construction); throws InvalidArgumentError. */
export function validateProxyOption (option: unknown): void {
  if (option === undefined || option === 'env') return
  if (isEnvOption(option)) {
    const env = option.env
    if (env === null || typeof env !== 'object') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'proxy.env', 'proxy.env must be an object')
    for (const k of ['httpProxy', 'httpsProxy', 'noProxy'] as const) {
      if (env[k] !== undefined && typeof env[k] !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', `proxy.env.${k}`, `proxy.env.${k} must be a string`)
    }
    for (const k of ['httpProxy', 'httpsProxy'] as const) if (env[k]) proxyConfig(env[k])
    return
  }
  proxyConfig(option as string | URL | ProxyOptions)
}

function isEnvOption (option: unknown): option is { env: EnvProxyOptions } {
  return option !== null && typeof option === 'object' && !(option instanceof URL) && 'env' in option && !('uri' in option)
}

/** Normalises one proxy (a URL or {@link ProxyOptions}). Throws InvalidArgumentError. */
export function proxyConfig (option: string | URL | ProxyOptions): ProxyConfig {
  let o: ProxyOptions
  if (typeof option === 'string' || option instanceof URL) o = { uri: option }
  else if (option !== null && typeof option === 'object') o = option
  else throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'proxy', 'proxy must be a URL, { uri, headers?, token?, tls?, tunnel? }, or \'env\'')
  if (o.uri === undefined || o.uri === null || o.uri === '') throw bad('proxy.uri', 'proxy.uri is required')
  let url: URL
  try {
    url = new URL(String(o.uri))
  } catch {
    throw new InvalidArgumentError('ERR_INVALID_URL', 'proxy.uri', `invalid proxy URL: ${JSON.stringify(String(o.uri))}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError('ERR_INVALID_URL_SCHEME', 'proxy.uri', `unsupported proxy scheme ${JSON.stringify(url.protocol)}: node-hyper speaks to http: and https: proxies (not SOCKS)`)
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw bad('proxy.uri', `a proxy URL has no path, query or fragment: ${JSON.stringify(url.href)}`)
  }
  const secure = url.protocol === 'https:'
  if (o.tls !== undefined && (o.tls === null || typeof o.tls !== 'object')) throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'proxy.tls', 'proxy.tls must be an object')
  if (o.tls !== undefined && !secure) throw bad('proxy.tls', 'proxy.tls was given for an http: proxy; use an https: proxy URL')
  if (o.tls?.ALPNProtocols !== undefined) throw bad('proxy.tls.ALPNProtocols', 'a proxy is spoken to over HTTP/1.1: proxy.tls.ALPNProtocols cannot be set')
  if (o.tunnel !== undefined && typeof o.tunnel !== 'boolean') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'proxy.tunnel', 'proxy.tunnel must be a boolean')
  if (o.token !== undefined && typeof o.token !== 'string') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'proxy.token', 'proxy.token must be a string')
  let authorization: string | undefined
  if (o.token !== undefined) {
    authorization = validateHeaderValue('proxy-authorization', o.token)
  } else if (url.username || url.password) {
    let user: string
    let pass: string
    try {
      user = decodeURIComponent(url.username)
      pass = decodeURIComponent(url.password)
    } catch {
      throw bad('proxy.uri', 'the credentials in the proxy URL are not valid percent-encoding')
    }
    authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`
  }
  let headers: string[]
  try {
    headers = flattenHeaders(o.headers)
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new InvalidArgumentError(err.code, `proxy.${err.field}`, err.message)
    throw err
  }
  const out: string[] = []
  for (let i = 0; i < headers.length; i += 2) {
    const lower = headers[i]!.toLowerCase()
    if (lower === 'host' || lower === 'connection' || lower === 'content-length' || lower === 'transfer-encoding') {
      throw bad(`proxy.headers.${headers[i]!}`, `the ${lower} header of proxy requests is set by node-hyper`)
    }
    // The credentials (token, or user:password in the URL) win over a header with the same job.
    if (lower === 'proxy-authorization' && authorization !== undefined) continue
    out.push(headers[i]!, headers[i + 1]!)
  }
  if (authorization !== undefined) out.unshift('Proxy-Authorization', authorization)
  const port = url.port ? Number(url.port) : secure ? 443 : 80
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  return { origin: url.origin, secure, hostname, port, headers: out, tls: o.tls, tunnel: o.tunnel ?? false }
}

// ---------------------------------------------------------------- the environment (undici's rules)

interface NoProxyEntry { hostname: string, port: number }

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 }

/** undici's `EnvHttpProxyAgent#parseNoProxy`. */
function parseNoProxy (value: string): NoProxyEntry[] {
  const entries: NoProxyEntry[] = []
  for (const entry of value.split(/[,\s]/)) {
    if (!entry) continue
    const parsed = entry.match(/^(.+):(\d+)$/)
    entries.push({
      // a leading dot, or asterisk and dot, is dropped
      hostname: (parsed ? parsed[1]! : entry).replace(/^\*?\./, '').toLowerCase(),
      port: parsed ? Number.parseInt(parsed[2]!, 10) : 0,
    })
  }
  return entries
}

let noProxyCache: { value: string, entries: NoProxyEntry[] } = { value: '', entries: [] }

/**
 * Whether `no_proxy` lets `url` go direct, as undici's `EnvHttpProxyAgent#shouldProxy` decides:
 * `*` matches everything; an entry matches its host exactly and its subdomains (`example.com`,
 * `.example.com` and `*.example.com` all match `a.example.com`); `host:port` entries match that
 * port only; IPv6 entries are written in brackets (`[::1]`). No CIDR ranges.
 * @internal
 */
export function bypassesProxy (url: URL, noProxy: string): boolean {
  if (noProxyCache.value !== noProxy) noProxyCache = { value: noProxy, entries: parseNoProxy(noProxy) }
  const entries = noProxyCache.entries
  if (entries.length === 0) return false
  if (noProxy === '*') return true
  // The port is stripped this way (not with url.hostname) to keep IPv6 brackets.
  const hostname = url.host.replace(/:\d*$/, '').toLowerCase()
  const port = Number.parseInt(url.port, 10) || DEFAULT_PORTS[url.protocol] || 0
  for (const entry of entries) {
    if (entry.port && entry.port !== port) continue
    if (hostname === entry.hostname) return true
    if (hostname.slice(-(entry.hostname.length + 1)) === `.${entry.hostname}`) return true
  }
  return false
}

/**
 * The proxy URL the environment names for `url` (undefined: direct), as undici's
 * `EnvHttpProxyAgent` picks it. The variables are read on each call.
 * @internal
 */
export function envProxyFor (url: URL, opts: EnvProxyOptions = {}): string | undefined {
  const env = process.env
  const httpProxy = opts.httpProxy ?? env.http_proxy ?? env.HTTP_PROXY
  const httpsProxy = opts.httpsProxy ?? env.https_proxy ?? env.HTTPS_PROXY
  const noProxy = opts.noProxy ?? env.no_proxy ?? env.NO_PROXY ?? ''
  if (bypassesProxy(url, noProxy)) return undefined
  if (url.protocol === 'https:' && httpsProxy) return httpsProxy
  return httpProxy || undefined
}

/**
 * The proxy a connection to `target` goes through (null: direct). For `'env'` the environment
 * decides per target (read now).
 * @internal
 */
export function resolveProxy (option: ProxyOption | undefined, target: ProxyTarget): ProxyConfig | null {
  if (option === undefined) return null
  if (option === 'env' || isEnvOption(option)) {
    const host = target.hostname.includes(':') && !target.hostname.startsWith('[') ? `[${target.hostname}]` : target.hostname
    const url = new URL(`${target.secure ? 'https' : 'http'}://${host}:${target.port}`)
    const uri = envProxyFor(url, option === 'env' ? {} : option.env)
    if (!uri) return null
    try {
      return proxyConfig(uri)
    } catch (err) {
      const e = err as InvalidArgumentError
      throw new InvalidArgumentError(e.code, 'proxy', `the environment's proxy for ${url.origin} is not usable: ${e.message}`)
    }
  }
  return proxyConfig(option as string | URL | ProxyOptions)
}

/**
 * For a Pool: an environment option (`'env'`, `{ env }`) decided now for `origin` (its proxy's
 * URL, or undefined: direct; a Unix socket is always direct); any other value as it is. Throws
 * InvalidArgumentError when the environment names an unusable proxy.
 * @internal
 */
export function pinProxy (option: ProxyOption | undefined, origin: URL, socketPath: string | undefined): ProxyOption | undefined {
  if (option !== 'env' && !isEnvOption(option)) return option
  if (socketPath !== undefined) return undefined
  const uri = envProxyFor(origin, option === 'env' ? {} : option.env)
  if (uri === undefined) return undefined
  try {
    proxyConfig(uri)
  } catch (err) {
    const e = err as InvalidArgumentError
    throw new InvalidArgumentError(e.code, 'proxy', `the environment's proxy for ${origin.origin} is not usable: ${e.message}`)
  }
  return uri
}

/** `host:port` of a target (IPv6 in brackets). */
export function authorityOf (target: ProxyTarget): string {
  const h = target.hostname
  return `${h.includes(':') && !h.startsWith('[') ? `[${h}]` : h}:${target.port}`
}

/** The native Connection's `proxy` option: TLS to the proxy, and the CONNECT head when tunnelling. @internal */
export function nativeProxyOptions (proxy: ProxyConfig, target: ProxyTarget, tunnel: boolean): object {
  const out: { tls?: object, tunnelHead?: string, tunnelAuthority?: string } = {}
  if (proxy.secure) {
    const tlsOptions = proxy.tls ?? {}
    const name = tlsOptions.servername ?? proxy.hostname
    out.tls = { context: secureContextFor(tlsOptions, false), servername: net.isIP(name) ? '' : name, verifyHost: name, sessionKey: `${name}:${proxy.port}` }
  }
  if (tunnel) {
    const authority = authorityOf(target)
    let head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`
    for (let i = 0; i < proxy.headers.length; i += 2) head += `${proxy.headers[i]!}: ${proxy.headers[i + 1]!}\r\n`
    out.tunnelHead = head + '\r\n'
    out.tunnelAuthority = authority
  }
  return out
}

/** The header lines of absolute-form requests, in the addon's NUL-joined form. @internal */
export function absoluteFormExtra (proxy: ProxyConfig): string {
  let extra = ''
  for (let i = 0; i < proxy.headers.length; i += 2) extra += `\0${proxy.headers[i]!}\0${proxy.headers[i + 1]!}`
  return extra
}

/** The error for a tunnel the proxy refused or broke (`ERR_PROXY_*`). @internal */
export function proxyErrorFromNative (info: NativeErrorInfo, reply: NativeTunnelReply | undefined, proxy: ProxyConfig): ProxyError {
  const opts: HyperErrorOptions = { requestSent: false }
  const rawHeaders = reply ? splitRawHeaders(reply[Tunnel.RawHeaders]) : []
  return new ProxyError(info[Err.LocalCode], `${info[Err.Message]} (proxy ${proxy.origin})`, proxy.origin,
    reply ? reply[Tunnel.Status] : 0, reply ? reply[Tunnel.Reason] : '', rawHeaders, opts)
}
