/**
 * undici's `connect` option on HyperDispatcher: each key undici's connector (`buildConnector`,
 * Node's `net.connect`/`tls.connect`) takes that node-hyper can honour is mapped onto node-hyper's
 * own option; any other key is rejected with an InvalidArgumentError naming it, never ignored.
 *
 * A `connect` *function* (a custom connector that returns a socket it made) cannot be used: the
 * addon opens and owns its sockets. The one case recognised is undici's `ProxyAgent` (and so
 * `EnvHttpProxyAgent`) calling a `factory` that returns a HyperDispatcher: its options then
 * carry the proxy (`uri`, `token`, `headers`, `proxyTls`, `requestTls`, `proxyTunnel`), which
 * node-hyper takes over and honours itself (the same tunnel, natively). Any other function is an
 * error: traffic meant for a tunnel must never go straight to the target.
 * @internal
 */
import type { AgentOptions } from '../agent.js'
import type { LookupFunction } from '../connect.js'
import { InvalidArgumentError } from '../errors.js'
import type { ProxyOptions } from '../proxy.js'
import type { TlsOptions } from '../tls.js'

/** undici's `connect` options node-hyper honours (those of `buildConnector` and `net`/`tls.connect`). */
export interface UndiciConnectOptions extends Pick<TlsOptions, 'ca' | 'cert' | 'key' | 'passphrase' | 'servername' | 'rejectUnauthorized' |
  'ALPNProtocols' | 'ciphers' | 'minVersion' | 'maxVersion'> {
  /** → `connectTimeout` */
  timeout?: number
  /** → `socketPath` */
  socketPath?: string
  /** → `localAddress` */
  localAddress?: string
  /** → `lookup` */
  lookup?: LookupFunction
  /** → `family` */
  family?: 0 | 4 | 6
  /** → `keepAlive` (TCP) */
  keepAlive?: boolean
  /** → `keepAliveInitialDelay` (ms) */
  keepAliveInitialDelay?: number
  /** → `noDelay` */
  noDelay?: boolean
  /** → `autoSelectFamily` */
  autoSelectFamily?: boolean
  /** → `autoSelectFamilyAttemptTimeout` */
  autoSelectFamilyAttemptTimeout?: number
  /** 0 → `tls.sessionReuse: false`; any other count → session reuse on (node-hyper's cache is bounded itself). */
  maxCachedSessions?: number
}

const TLS_KEYS = ['ca', 'cert', 'key', 'passphrase', 'servername', 'rejectUnauthorized', 'ALPNProtocols', 'ciphers', 'minVersion', 'maxVersion'] as const
const NET_KEYS: Readonly<Record<string, keyof AgentOptions>> = {
  timeout: 'connectTimeout',
  socketPath: 'socketPath',
  localAddress: 'localAddress',
  lookup: 'lookup',
  family: 'family',
  keepAlive: 'keepAlive',
  keepAliveInitialDelay: 'keepAliveInitialDelay',
  noDelay: 'noDelay',
  autoSelectFamily: 'autoSelectFamily',
  autoSelectFamilyAttemptTimeout: 'autoSelectFamilyAttemptTimeout',
}

/** undici's options of a `ProxyAgent`, as its `Agent` hands them to a `factory` (JSON-cloned). */
const PROXY_AGENT_KEYS = ['uri', 'token', 'auth', 'headers', 'proxyTls', 'requestTls', 'proxyTunnel', 'clientFactory', 'factory'] as const

function unsupported (field: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError('ERR_INVALID_ARG_VALUE', field, message)
}

/** A PEM value that went through undici's JSON clone (`{ type: 'Buffer', data }`) back to a Buffer. */
function revive (v: unknown): unknown {
  if (Array.isArray(v)) return v.map(revive)
  if (v !== null && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
    return Buffer.from((v as { data: number[] }).data)
  }
  return v
}

/** undici TLS options (`connect`, `requestTls`, `proxyTls`) → node-hyper's TlsOptions; other keys are errors. */
function tlsFrom (field: string, src: Record<string, unknown>, allowNet: boolean, out: Partial<AgentOptions>): TlsOptions {
  const tls: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(src)) {
    if (value === undefined) continue
    if ((TLS_KEYS as readonly string[]).includes(key)) {
      // undici's `ca` replaces the default roots (Node's tls.connect semantics).
      if (key === 'ca') {
        tls.ca = revive(value)
        tls.defaultRoots = false
      } else {
        tls[key] = revive(value)
      }
    } else if (key === 'maxCachedSessions') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw unsupported(`${field}.maxCachedSessions`, `${field}.maxCachedSessions must be a non-negative integer`)
      if (value === 0) tls.sessionReuse = false
    } else if (allowNet && key in NET_KEYS) {
      const to = NET_KEYS[key]!
      if ((out as Record<string, unknown>)[to] === undefined) (out as Record<string, unknown>)[to] = value
    } else {
      throw unsupported(`${field}.${key}`, `${field}.${key} is not supported by node-hyper (it opens its sockets natively); supported: ${[...TLS_KEYS, 'maxCachedSessions', ...(allowNet ? Object.keys(NET_KEYS) : [])].join(', ')}`)
    }
  }
  return tls as TlsOptions
}

/**
 * Applies `connect` (and a ProxyAgent's options) to the Agent options of a HyperDispatcher.
 * Explicit node-hyper options win over their undici spellings. Throws InvalidArgumentError.
 */
export function applyConnect (options: Record<string, unknown>, agentOptions: Partial<AgentOptions> & Record<string, unknown>): void {
  const connect = options.connect
  if (typeof connect === 'function') {
    if (typeof options.uri !== 'string' && !(options.uri instanceof URL)) {
      throw new InvalidArgumentError('ERR_INVALID_ARG_VALUE', 'connect',
        'HyperDispatcher cannot use a connect function (a custom connector): node-hyper opens its sockets natively. ' +
        'For a forward proxy use the proxy option, or undici\'s ProxyAgent/EnvHttpProxyAgent with the default proxyTunnel: ' +
        'their factory hands over the proxy\'s options, which HyperDispatcher honours.')
    }
    takeProxyAgent(options, agentOptions)
    return
  }
  // undici's Agent hands its factory every option it was given (it always adds maxOrigins and
  // connect): EnvHttpProxyAgent's direct Agent gets requestTls/proxyTls too, which undici's own
  // pools ignore for direct connections, and so does this. Given to HyperDispatcher by hand,
  // they are a mistake.
  const fromUndiciAgent = Object.prototype.hasOwnProperty.call(options, 'maxOrigins') && Object.prototype.hasOwnProperty.call(options, 'connect')
  for (const k of PROXY_AGENT_KEYS) {
    if (options[k] !== undefined && k !== 'factory' && !fromUndiciAgent) {
      throw unsupported(k, `${k} is an option of undici's ProxyAgent, not of HyperDispatcher (use the proxy option)`)
    }
  }
  if (connect === undefined || connect === null) return
  if (typeof connect !== 'object') throw new InvalidArgumentError('ERR_INVALID_ARG_TYPE', 'connect', 'connect must be an object')
  const tls = tlsFrom('connect', connect as Record<string, unknown>, true, agentOptions)
  if (Object.keys(tls).length > 0 && agentOptions.tls === undefined) agentOptions.tls = tls
}

/** undici's ProxyAgent → node-hyper's `proxy` and `tls` options (the tunnel it would make, made natively). */
function takeProxyAgent (options: Record<string, unknown>, agentOptions: Partial<AgentOptions> & Record<string, unknown>): void {
  if (agentOptions.proxy !== undefined) throw unsupported('proxy', 'the proxy option and undici\'s ProxyAgent options cannot be combined')
  if (options.auth !== undefined && options.token !== undefined) throw unsupported('auth', 'auth cannot be used in combination with token')
  const proxy: ProxyOptions = { uri: String(options.uri) }
  if (options.token !== undefined) proxy.token = options.token as string
  else if (typeof options.auth === 'string') proxy.token = `Basic ${options.auth}`
  if (options.headers !== undefined) proxy.headers = options.headers as ProxyOptions['headers']
  // undici tunnels http: targets too unless proxyTunnel is false.
  proxy.tunnel = options.proxyTunnel !== false
  if (options.proxyTls !== undefined && options.proxyTls !== null) {
    const t = tlsFrom('proxyTls', options.proxyTls as Record<string, unknown>, false, agentOptions)
    if (new URL(proxy.uri as string).protocol === 'https:') proxy.tls = t
  }
  agentOptions.proxy = proxy
  if (options.requestTls !== undefined && options.requestTls !== null && agentOptions.tls === undefined) {
    agentOptions.tls = tlsFrom('requestTls', options.requestTls as Record<string, unknown>, false, agentOptions)
  }
}

/** The keys applyConnect consumed (removed from the Agent options). */
export const CONNECT_KEYS: readonly string[] = ['connect', ...PROXY_AGENT_KEYS]
