/**
 * Loads the compiled addon (a prebuild from prebuilds/ or a local build from build/) and
 * describes its (internal) shape. Not part of the public API.
 * @internal
 */
import * as path from 'node:path'
import * as fs from 'node:fs'

/** Error details as the addon reports them: [localCode, hyperCode, message, errnoName, errno, syscall, requestSent, tlsCode?]. */
export type NativeErrorInfo = [string, number, string, string | undefined, number | undefined, string, boolean, string?]
/** Response head: [status, version, reason, rawHeaders (names and values joined by NUL), firstChunk, ended, readOutstanding]. */
export type NativeHead = [number, number, string, string, Buffer | null, boolean, boolean]
/** Informational (1xx) head: [status, version, reason, rawHeaders (NUL-joined)]. */
export type NativeInformational = [number, number, string, string]

/** Splits the addon's NUL-joined header list into `[name, value, ...]`. */
export function splitRawHeaders (joined: string): string[] {
  return joined === '' ? [] : joined.split('\0')
}
/** [errnoName, errno, syscall] when a connect could not even start. */
export type NativeErrno = [string, number, string]

export interface NativeExecutor {}
export interface NativeConnection {
  connectTcp(family: 4 | 6, address: string, port: number): NativeErrno | undefined
  connectUnix(path: string): NativeErrno | undefined
  request(id: number, method: string, uri: string, headers: string[], body: Uint8Array | boolean | undefined,
    headersTimeout: number, bodyTimeout: number, expectContinueMs: number, wantInformational: boolean): [string, number] | undefined
  read(id: number): void
  /** 1 = queued, 0 = queued but wait for a drain event, -1 = the request is gone. */
  write(id: number, chunk: Uint8Array): number
  end(id: number): void
  failUpload(id: number): void
  /** 0 = removed from the queue, 1 = connection destroyed, 2 = nothing to abort. */
  abort(id: number): number
  dump(id: number): void
  close(): void
  destroy(code?: string, message?: string): void
  /** [alpn, version, cipher, authorizationError, sessionReused, http2] once a TLS handshake is done. */
  tlsInfo(): [string, string, string, string, boolean, boolean] | undefined
}
/** An OpenSSL client context (trust store, client certificate, ALPN, session cache). */
export interface NativeSecureContext {
  cachedSessions(): number
}
export interface NativeBinding {
  Executor: new (onEvents: (events: unknown[]) => void) => NativeExecutor
  Connection: new (executor: NativeExecutor, owner: object, options: object) => NativeConnection
  SecureContext: new (options: object) => NativeSecureContext
  hyperVersion(): string
  /** Native objects alive in this environment (for leak tests). */
  liveObjects(): { connections: number, handles: number, executors: number }
}

export const EVENT_CONNECTED = 1
export const EVENT_CONNECT_ERROR = 2
export const EVENT_RESPONSE = 3
export const EVENT_DATA = 4
export const EVENT_END = 5
export const EVENT_REQUEST_ERROR = 6
export const EVENT_CLOSED = 7
export const EVENT_DRAIN = 8
export const EVENT_INFORMATIONAL = 9

function packageRoot (): string {
  let dir = __dirname
  for (;;) {
    const pj = path.join(dir, 'package.json')
    if (fs.existsSync(pj)) {
      try {
        if (JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'node-hyper') return dir
      } catch {}
    }
    const up = path.dirname(dir)
    if (up === dir) throw new Error('node-hyper: cannot find the package root from ' + __dirname)
    dir = up
  }
}

function load (): NativeBinding {
  const root = packageRoot()
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
