/**
 * Loads the compiled addon (a prebuild from prebuilds/ or a local build from build/) and
 * describes its (internal) shape. Not part of the public API.
 * @internal
 */
import * as path from 'node:path'
import { packageRoot } from './package.js'
import type { NativeAttempt, NativeConnInfo, NativeErrorInfo, NativeTlsInfo, NativeTunnelReply } from './protocol.js'

export interface NativeExecutor {}
export interface NativeConnection {
  /** undefined, or why the connect could not even start. */
  connectTcp(family: 4 | 6, address: string, port: number): NativeErrorInfo | undefined
  connectUnix(path: string): NativeErrorInfo | undefined
  /**
   * Happy eyeballs: races connects to `candidates` (`[family, address, ...]`, in order; one more
   * every `attemptDelayMs`, or at once when one fails). undefined, or why no connect could start.
   */
  connectTcpRace(candidates: (string | number)[], port: number, attemptDelayMs: number): NativeErrorInfo | undefined
  /** What each attempt of the race did (undefined without a race). */
  connectAttempts(): NativeAttempt[] | undefined
  /** The proxy's answer to CONNECT, once it arrived (undefined without a tunnel). */
  tunnelReply(): NativeTunnelReply | undefined
  /**
   * Queues a request. `head`: method, target, then header names and values, joined by NUL.
   * `body`: bytes, `true` for a body streamed with write()/end(), or undefined. Returns
   * undefined, or why it was refused (a closed connection, a field hyper rejected).
   */
  request(id: number, head: string, body: Uint8Array | boolean | undefined,
    headersTimeout: number, bodyTimeout: number, expectContinueMs: number, wantInformational: boolean): NativeErrorInfo | undefined
  /** The consumer wants more of the body: the next Data event (or End) answers. */
  read(id: number): void
  /** 1 = queued, 0 = queued but wait for a drain event, -1 = the request is gone. */
  write(id: number, chunk: Uint8Array): number
  end(id: number): void
  failUpload(id: number): void
  /**
   * Gives up a request (queued: dropped; on the wire: HTTP/2 resets it, HTTP/1 closes the
   * connection). Returns whether the connection still takes requests.
   */
  abort(id: number): boolean
  /** Read and drop the rest of the body; past `limit` bytes give the exchange up (JS hears End either way). */
  dump(id: number, limit?: number): void
  /**
   * Copy the rest of the body straight into `dest` (sized to the declared content-length), after
   * the bytes already delivered; End when it is full (an error if the body does not fit it).
   * `dest` must stay reachable until End, an error, or abort(). False when the exchange is over
   * in the addon (its End or error is on its way) or its body is being dumped: nothing changed.
   */
  collect(id: number, dest: Uint8Array): boolean
  close(): void
  destroy(code?: string, message?: string): void
  /** Once a TLS handshake is done (undefined for cleartext). */
  tlsInfo(): NativeTlsInfo | undefined
  /** How the connection was set up: step times and the socket's addresses. */
  connectionInfo(): NativeConnInfo
}
/** An OpenSSL client context (trust store, client certificate, ALPN, session cache). */
export interface NativeSecureContext {
  cachedSessions(): number
}
export interface NativeBinding {
  /** `records`: the Float64Array event records are written into (protocol.ts `Slot`). */
  Executor: new (onEvents: (count: number, text: string, objects: unknown[]) => void, records: Float64Array) => NativeExecutor
  Connection: new (executor: NativeExecutor, owner: object, options: object) => NativeConnection
  SecureContext: new (options: object) => NativeSecureContext
  hyperVersion(): string
  /** Which allocator serves hyper's (Rust) allocations: mimalloc, or with NODE_HYPER_ALLOCATOR=system the C library's malloc. */
  allocator(): 'mimalloc' | 'system'
  /** Native objects alive in this environment (for leak tests). */
  liveObjects(): { connections: number, handles: number, executors: number }
  /** The wire contract's tables (native/src/protocol.h), for the test against lib/protocol.ts. */
  protocol(): Record<string, Record<string, number>>
}

function load (): NativeBinding {
  const root = packageRoot()
  // Read once per process by the addon (native/hyper/src/alloc.rs), which cannot report a typo:
  // anything but "system" would silently mean mimalloc.
  const allocator = process.env.NODE_HYPER_ALLOCATOR
  if (allocator !== undefined && allocator !== '' && allocator !== 'system' && allocator !== 'mimalloc') {
    const e = new Error(`node-hyper: NODE_HYPER_ALLOCATOR must be "system" or "mimalloc" (or unset), got ${JSON.stringify(allocator)}`) as Error & { code: string }
    e.code = 'ERR_NODE_HYPER_ALLOCATOR'
    throw e
  }
  try {
    // NODE_HYPER_BINARY selects a specific build (sanitizer runs, debugging); normally the
    // prebuild for this platform or the local build is found by node-gyp-build.
    const override = process.env.NODE_HYPER_BINARY
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if (override) return require(path.resolve(override)) as NativeBinding
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('node-gyp-build')(root) as NativeBinding
  } catch (err) {
    const e = err as Error
    const libc = process.report?.getReport ? (process.report.getReport() as any)?.header?.glibcVersionRuntime : undefined
    const lines = [
      `node-hyper: could not load the native addon for ${process.platform}-${process.arch} (Node ${process.version}, N-API ${process.versions.napi}${libc ? `, glibc ${libc}` : ''}).`,
      `  cause: ${e.message.split('\n')[0]}`,
      '  - If no prebuilt binary matches this platform, build from source: a Rust toolchain (cargo >= 1.75)',
      '    and a C++17 compiler are needed; run `npm rebuild node-hyper --build-from-source`.',
      '  - If the error mentions GLIBC_x.y, this system\'s glibc is older than the prebuilds need (Linux x64 and arm64:',
      '    glibc >= 2.28, or musl >= 1.2.3); build from source.',
    ]
    const wrapped = new Error(lines.join('\n'), { cause: err }) as Error & { code: string }
    wrapped.code = 'ERR_NODE_HYPER_LOAD'
    throw wrapped
  }
}

export const binding: NativeBinding = load()
