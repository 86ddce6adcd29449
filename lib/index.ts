/**
 * node-hyper: an HTTP client for Node.js built on the hyper Rust library's C API.
 * @packageDocumentation
 */
import { binding } from './native.js'

export { Executor } from './executor.js'
export { ClientConn } from './client-conn.js'
export type { ConnectOptions, ConnectTarget, LookupFunction, NetConnectOptions } from './client-conn.js'
export type { ProxyOption, ProxyOptions, EnvProxyOptions } from './proxy.js'
export { ClientResponse } from './response.js'
export type { RequestOptions, RequestBody, BodyChunk, InformationalResponse } from './exchange.js'
export { ResponseBody } from './body.js'
export { Pool } from './pool.js'
export type { PoolOptions, PoolStats, PoolEvents } from './pool.js'
export { Agent, request, upgrade, getGlobalAgent } from './agent.js'
export type { UpgradeOptions, TunnelOptions, UpgradedConnection } from './upgrade.js'
export type { UndiciConnectOptions } from './dispatcher/connect.js'
export { HyperDispatcher, type HyperDispatcherOptions, type DispatchOptions, type DispatchHandler, type DispatchController, type DispatcherCallback } from './dispatcher/index.js'
export type { AgentOptions, AgentRequestOptions, AgentEvents } from './agent.js'
export type { ResponseTimings, RequestTimings, TimingPhases, ResponseConnection, ConnectionInfo, ConnectionTimings } from './timings.js'
export type { DiagnosticsRequest, DiagnosticsSocket, RequestDone, ConnectParams, SendHeadersMessage, ResponseHeadMessage } from './diagnostics.js'
export type { IncomingHeaders } from './headers.js'
export type { TlsOptions, TlsConnectionInfo, Pem } from './tls.js'
export type { HeadersInput } from './validate.js'
export { HyperError, ProtocolError, SocketError, ConnectionClosedError, AbortError, TimeoutError, RequestBodyError, InvalidArgumentError, TlsError, UpgradeError, ProxyError, HYPER_CODES } from './errors.js'
export type { HyperErrorOptions } from './errors.js'

/** Version of the linked hyper library, e.g. `"1.12.0"`. */
export const hyperVersion: string = binding.hyperVersion()
