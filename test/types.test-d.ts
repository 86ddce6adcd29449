// Type tests for the public API (run by vitest's typecheck mode through tsc): the typings must
// describe what the runtime does.
import { describe, it, expectTypeOf } from 'vitest'
import type { Readable } from 'node:stream'
import type { Socket } from 'node:net'
import {
  ClientConn, ClientResponse, ResponseBody, Executor, HyperError, SocketError, ProtocolError,
  ConnectionClosedError, AbortError, TimeoutError, RequestBodyError, InvalidArgumentError, TlsError, hyperVersion,
  Pool, Agent, upgrade, UpgradeError, HyperDispatcher, ProxyError, request,
  type ProxyOption, type ProxyOptions, type EnvProxyOptions, type AgentRequestOptions, type UndiciConnectOptions, type LookupFunction, type PoolOptions, type HyperDispatcherOptions,
  type UpgradeOptions, type TunnelOptions, type UpgradedConnection,
  type ConnectOptions, type TlsOptions, type TlsConnectionInfo, type RequestOptions, type IncomingHeaders, type InformationalResponse,
  type ResponseTimings, type TimingPhases, type ResponseConnection, type ConnectionInfo, type ConnectionTimings, type PoolStats,
  type PoolEvents, type AgentEvents, type DiagnosticsRequest, type DiagnosticsSocket, type RequestDone, type RequestTimings,
} from '../dist/esm/index.mjs'
import * as cjs from '../dist/cjs/index.js'

describe('public types', () => {
  it('ClientConn.connect / request', () => {
    expectTypeOf(ClientConn.connect).parameter(0).toEqualTypeOf<string | URL | { host?: string, hostname?: string, port?: number | string, protocol?: 'http:' | 'https:' } | { socketPath: string }>()
    expectTypeOf(ClientConn.connect).returns.resolves.toEqualTypeOf<ClientConn>()
    expectTypeOf<ClientConn['request']>().returns.resolves.toEqualTypeOf<ClientResponse>()
    expectTypeOf<ClientConn['close']>().returns.toEqualTypeOf<Promise<void>>()
    expectTypeOf<ClientConn['closed']>().toEqualTypeOf<boolean>()
    expectTypeOf<ClientConn['tls']>().toEqualTypeOf<TlsConnectionInfo | undefined>()
    expectTypeOf<ClientConn['protocol']>().toEqualTypeOf<'1.1' | '2'>()
    expectTypeOf<ConnectOptions['tls']>().toEqualTypeOf<TlsOptions | undefined>()
    expectTypeOf<ConnectOptions['http2']>().toEqualTypeOf<boolean | 'auto' | undefined>()
    expectTypeOf<TlsConnectionInfo['alpnProtocol']>().toEqualTypeOf<string | false>()
    expectTypeOf<TlsError>().toMatchTypeOf<HyperError>()
    expectTypeOf<ConnectOptions['executor']>().toEqualTypeOf<Executor | undefined>()
    expectTypeOf<ConnectOptions['signal']>().toEqualTypeOf<AbortSignal | undefined>()
    expectTypeOf<RequestOptions['signal']>().toEqualTypeOf<AbortSignal | undefined>()
    expectTypeOf<RequestOptions['onInformational']>().toEqualTypeOf<((res: InformationalResponse) => void) | undefined>()
    // bodies: fixed values and streams
    expectTypeOf<string>().toMatchTypeOf<NonNullable<RequestOptions['body']>>()
    expectTypeOf<Buffer>().toMatchTypeOf<NonNullable<RequestOptions['body']>>()
    expectTypeOf<Readable>().toMatchTypeOf<NonNullable<RequestOptions['body']>>()
    expectTypeOf<AsyncGenerator<Uint8Array>>().toMatchTypeOf<NonNullable<RequestOptions['body']>>()
    expectTypeOf<ReadableStream<Uint8Array>>().toMatchTypeOf<NonNullable<RequestOptions['body']>>()
    expectTypeOf<number>().not.toMatchTypeOf<NonNullable<RequestOptions['body']>>()
  })

  it('ClientResponse and its body', () => {
    expectTypeOf<ClientResponse['status']>().toEqualTypeOf<number>()
    expectTypeOf<ClientResponse['httpVersion']>().toEqualTypeOf<string>()
    expectTypeOf<ClientResponse['rawHeaders']>().toEqualTypeOf<string[]>()
    expectTypeOf<ClientResponse['headers']>().toEqualTypeOf<IncomingHeaders>()
    expectTypeOf<IncomingHeaders['set-cookie']>().toEqualTypeOf<string[] | undefined>()
    expectTypeOf<ClientResponse['body']>().toEqualTypeOf<ResponseBody>()
    expectTypeOf<ResponseBody>().toMatchTypeOf<Readable>()
    expectTypeOf<ResponseBody['text']>().returns.toEqualTypeOf<Promise<string>>()
    expectTypeOf<ResponseBody['bytes']>().returns.toEqualTypeOf<Promise<Uint8Array>>()
    expectTypeOf<ResponseBody['arrayBuffer']>().returns.toEqualTypeOf<Promise<ArrayBuffer>>()
    expectTypeOf<ResponseBody['dump']>().returns.toEqualTypeOf<Promise<void>>()
  })

  it('upgrades and CONNECT', () => {
    expectTypeOf<Pool['upgrade']>().returns.resolves.toEqualTypeOf<UpgradedConnection>()
    expectTypeOf<Pool['connect']>().parameter(0).toEqualTypeOf<TunnelOptions>()
    expectTypeOf<Agent['upgrade']>().parameter(0).toEqualTypeOf<string | URL>()
    expectTypeOf<Agent['connect']>().returns.resolves.toEqualTypeOf<UpgradedConnection>()
    expectTypeOf(upgrade).returns.resolves.toEqualTypeOf<UpgradedConnection>()
    expectTypeOf<UpgradedConnection['socket']>().toEqualTypeOf<Socket>()
    expectTypeOf<UpgradedConnection['head']>().toEqualTypeOf<Buffer>()
    expectTypeOf<UpgradedConnection['headers']>().toEqualTypeOf<IncomingHeaders>()
    expectTypeOf<UpgradeOptions['protocol']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<TunnelOptions['path']>().toEqualTypeOf<string>()
    expectTypeOf<UpgradeError>().toMatchTypeOf<HyperError>()
    expectTypeOf<UpgradeError['statusCode']>().toEqualTypeOf<number>()
    expectTypeOf<HyperDispatcher['upgrade']>().toBeFunction()
    expectTypeOf<HyperDispatcher['connect']>().toBeFunction()
  })

  it('errors', () => {
    expectTypeOf<HyperError['code']>().toEqualTypeOf<string>()
    expectTypeOf<SocketError>().toMatchTypeOf<HyperError>()
    expectTypeOf<ProtocolError>().toMatchTypeOf<HyperError>()
    expectTypeOf<ConnectionClosedError>().toMatchTypeOf<HyperError>()
    expectTypeOf<AbortError>().toMatchTypeOf<HyperError>()
    expectTypeOf<TimeoutError>().toMatchTypeOf<HyperError>()
    expectTypeOf<RequestBodyError>().toMatchTypeOf<HyperError>()
    expectTypeOf<InvalidArgumentError>().toMatchTypeOf<TypeError>()
    expectTypeOf<InvalidArgumentError['field']>().toEqualTypeOf<string>()
    expectTypeOf(hyperVersion).toEqualTypeOf<string>()
  })

  it('proxies, happy eyeballs, socket options, Unix sockets', () => {
    expectTypeOf<ConnectOptions['proxy']>().toEqualTypeOf<ProxyOption | undefined>()
    expectTypeOf<'env'>().toMatchTypeOf<ProxyOption>()
    expectTypeOf<string>().toMatchTypeOf<ProxyOption>()
    expectTypeOf<URL>().toMatchTypeOf<ProxyOption>()
    expectTypeOf<{ env: EnvProxyOptions }>().toMatchTypeOf<ProxyOption>()
    expectTypeOf<{ uri: string, token: string, headers: Record<string, string>, tunnel: boolean, tls: TlsOptions }>().toMatchTypeOf<ProxyOptions>()
    expectTypeOf<number>().not.toMatchTypeOf<ProxyOption>()
    expectTypeOf<ConnectOptions['autoSelectFamily']>().toEqualTypeOf<boolean | undefined>()
    expectTypeOf<ConnectOptions['autoSelectFamilyAttemptTimeout']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<ConnectOptions['localAddress']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<ConnectOptions['keepAlive']>().toEqualTypeOf<boolean | undefined>()
    expectTypeOf<ConnectOptions['keepAliveInitialDelay']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<ConnectOptions['noDelay']>().toEqualTypeOf<boolean | undefined>()
    expectTypeOf<ConnectOptions['socketPath']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<ConnectOptions['lookup']>().toEqualTypeOf<LookupFunction | undefined>()
    expectTypeOf<PoolOptions['proxy']>().toEqualTypeOf<ProxyOption | undefined>()
    expectTypeOf<PoolOptions['socketPath']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<HyperDispatcherOptions['proxy']>().toEqualTypeOf<ProxyOption | undefined>()
    expectTypeOf<HyperDispatcherOptions['connect']>().toEqualTypeOf<UndiciConnectOptions | undefined>()
    expectTypeOf<UndiciConnectOptions['socketPath']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<UndiciConnectOptions['timeout']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<AgentRequestOptions['socketPath']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<Agent['pool']>().parameters.toEqualTypeOf<[origin: string | URL, socketPath?: string]>()
    expectTypeOf(request).parameter(1).toMatchTypeOf<{ socketPath?: string } | undefined>()
    expectTypeOf<ProxyError>().toMatchTypeOf<HyperError>()
    expectTypeOf<ProxyError['statusCode']>().toEqualTypeOf<number>()
    expectTypeOf<ProxyError['rawHeaders']>().toEqualTypeOf<string[]>()
    expectTypeOf<HyperError['errors']>().toEqualTypeOf<Error[] | undefined>()
    // dns.lookup itself is a LookupFunction (as for Node's net.connect).
    expectTypeOf<typeof import('node:dns').lookup>().toMatchTypeOf<LookupFunction>()
  })

  it('observability: timings, connection info, events, stats, diagnostics messages', () => {
    expectTypeOf<ClientResponse['timings']>().toEqualTypeOf<ResponseTimings>()
    expectTypeOf<ClientResponse['connection']>().toEqualTypeOf<ResponseConnection>()
    expectTypeOf<ResponseTimings['start']>().toEqualTypeOf<number>()
    expectTypeOf<ResponseTimings['end']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<ResponseTimings['phases']>().toEqualTypeOf<TimingPhases>()
    expectTypeOf<TimingPhases['download']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<ResponseConnection['reused']>().toEqualTypeOf<boolean>()
    expectTypeOf<ResponseConnection>().toMatchTypeOf<ConnectionInfo>()
    expectTypeOf<ConnectionInfo['remotePort']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<ConnectionInfo['tls']>().toEqualTypeOf<TlsConnectionInfo | undefined>()
    expectTypeOf<ClientConn['info']>().toEqualTypeOf<ConnectionInfo>()
    expectTypeOf<ClientConn['timings']>().toEqualTypeOf<ConnectionTimings>()
    expectTypeOf<PoolStats['queued']>().toEqualTypeOf<number>()
    expectTypeOf<Agent['stats']>().toEqualTypeOf<Record<string, PoolStats>>()
    expectTypeOf<HyperDispatcher['stats']>().toEqualTypeOf<Record<string, PoolStats>>()
    expectTypeOf<HyperDispatcherOptions['retries']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<PoolEvents['connect']>().toEqualTypeOf<[origin: URL, targets: [Pool, ClientConn]]>()
    expectTypeOf<AgentEvents['disconnect']>().toEqualTypeOf<[origin: URL, targets: [Agent, Pool, ClientConn], err: Error]>()
    // Listeners are typed by event.
    const listen = (p: Pool, a: Agent): void => {
      p.on('connectionError', (origin, targets, err) => {
        expectTypeOf(origin).toEqualTypeOf<URL>()
        expectTypeOf(targets).toEqualTypeOf<[Pool]>()
        expectTypeOf(err).toEqualTypeOf<Error>()
      })
      a.on('connect', (_origin, targets) => { expectTypeOf(targets).toEqualTypeOf<[Agent, Pool, ClientConn]>() })
    }
    void listen
    expectTypeOf<DiagnosticsRequest['addHeader']>().returns.toEqualTypeOf<DiagnosticsRequest>()
    expectTypeOf<DiagnosticsRequest['headers']>().toEqualTypeOf<string[]>()
    expectTypeOf<DiagnosticsSocket['alpnProtocol']>().toEqualTypeOf<string | false>()
    expectTypeOf<RequestDone['timings']>().toEqualTypeOf<RequestTimings>()
    expectTypeOf<RequestTimings['firstByte']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<ResponseTimings['firstByte']>().toEqualTypeOf<number>()
    expectTypeOf<RequestDone['error']>().toEqualTypeOf<Error | undefined>()
  })

  it('the CommonJS typings are the same declarations', () => {
    expectTypeOf(cjs.ClientConn).toEqualTypeOf(ClientConn)
    expectTypeOf(cjs.HyperError).toEqualTypeOf(HyperError)
  })
})
