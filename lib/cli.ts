/**
 * node-hyper command line: a curl-like client (see USAGE below and the README).
 *
 * Exit status follows curl's codes (documented in USAGE): 0 when a response arrived (any HTTP
 * status), 2 for a usage error (nothing is sent), and curl's number for each kind of failure.
 * @internal
 */
import * as dns from 'node:dns'
import * as fs from 'node:fs'
import * as net from 'node:net'
import { performance } from 'node:perf_hooks'
import { Transform, Writable, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import * as zlib from 'node:zlib'
import {
  AbortError, ClientConn, ConnectionClosedError, HyperError, InvalidArgumentError, ProtocolError, SocketError, TimeoutError, TlsError,
  hyperVersion, type ClientResponse, type ConnectOptions, type LookupFunction, type TlsOptions,
} from './index.js'
import { validateHeaderName, validateHeaderValue, validateMethod } from './validate.js'
import { packageVersion } from './package.js'

const USAGE = `usage: node-hyper [options] URL

  -X, --request METHOD     request method (default GET, or POST with -d)
  -H, --header 'N: v'      add a request header (repeatable); 'N;' sends N with an empty value
  -d, --data DATA          request body; @file reads a file, @- reads stdin
  -i, --include            print the response status line and headers before the body
  -v, --verbose            print the request and response heads to stderr
  -o, --output FILE        write the body to FILE instead of stdout ('-': stdout)
  -w, --write-out FORMAT   print FORMAT after the transfer: %{variable}, %header{name}, %%, \\n \\r \\t;
                           @file reads the format from a file, @- from stdin
  -L, --location           follow redirects (3xx with Location)
      --max-redirs N       redirects -L follows at most (default 50; -1: no limit)
      --location-trusted   keep Authorization/Cookie headers when -L goes to another origin
      --compressed         ask for gzip, deflate, br and decode the response body
  -m, --max-time SECONDS   limit for the whole operation (fractions allowed)
      --connect-timeout S  limit for name lookup, connect and TLS handshake (default 300)
      --resolve H:P:ADDR   connect to ADDR for host H, port P (skips the DNS lookup)
  -s, --silent             no progress meter, no error messages
  -S, --show-error         with -s: still print error messages
      --no-progress-meter  no progress meter
      --unix-socket PATH   connect to a Unix domain socket
      --cacert FILE        also trust the CA certificates in FILE (PEM)
  -k, --insecure           do not fail on an unverifiable server certificate
      --cert FILE          client certificate (PEM) for mutual TLS
      --key FILE           private key (PEM) for --cert
      --pass PHRASE        passphrase of --key
      --http2              HTTP/2 only (h2c prior knowledge for http:, ALPN h2 for https:)
      --http1.1            HTTP/1.1 only (https: defaults to ALPN h2, then http/1.1)
  -h, --help               show this help
  -V, --version            print node-hyper's and hyper's versions

A URL without a scheme gets http://. A progress meter goes to stderr when -o writes to a file
and stderr is a terminal.

Exit status (curl's numbers): 0 a response arrived (any HTTP status); 1 redirect to an
unsupported protocol, or a failure not listed here; 2 usage error (nothing sent); 3 malformed
redirect URL; 6 could not resolve host; 7 could not connect; 8 malformed response; 18 body cut
short; 23 could not write the output; 26 could not read a local file; 28 timeout (-m,
--connect-timeout); 35 TLS handshake failed; 47 too many redirects; 52 empty reply; 55 send
failed; 56 receive failed; 58 bad client certificate or key; 60 server certificate not verified;
61 bad content encoding; 77 bad CA file.
`

/** Invalid command line: exit 2, nothing sent. */
class UsageError extends Error {}

/** A failed operation: curl's exit code and message. */
export class Failure extends Error {
  constructor (readonly exitCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** Why the operation's AbortSignal fired: -m or --connect-timeout. */
class Deadline {
  constructor (readonly kind: 'max-time' | 'connect') {}
}

/** setTimeout's upper bound (about 24.8 days); longer limits are clamped to it. */
const MAX_TIMER_MS = 2 ** 31 - 1
const DEFAULT_CONNECT_TIMEOUT_MS = 300_000
const MAX_ENCODINGS = 5
// zstd decoding needs Node >= 22.15 / 23.8; offered only where this Node has it.
const zstd = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress

// ---------------------------------------------------------------------------------------------
// Command line

interface Config {
  url: URL
  /** The URL as given on the command line (%{url}). */
  rawUrl: string
  method: string
  headers: [string, string][]
  body: Buffer | undefined
  include: boolean
  verbose: boolean
  output: string | undefined
  writeOut: string | undefined
  location: boolean
  maxRedirs: number
  locationTrusted: boolean
  compressed: boolean
  maxTimeMs: number
  connectTimeoutMs: number
  resolve: Map<string, string>
  silent: boolean
  showError: boolean
  noProgress: boolean
  unixSocket: string | undefined
  tls: TlsOptions
  tlsGiven: boolean
  http2: boolean | undefined
}

const OPTIONS = {
  request: { type: 'string', short: 'X' },
  header: { type: 'string', short: 'H', multiple: true },
  data: { type: 'string', short: 'd' },
  include: { type: 'boolean', short: 'i' },
  verbose: { type: 'boolean', short: 'v' },
  output: { type: 'string', short: 'o' },
  'write-out': { type: 'string', short: 'w' },
  location: { type: 'boolean', short: 'L' },
  'max-redirs': { type: 'string' },
  'location-trusted': { type: 'boolean' },
  compressed: { type: 'boolean' },
  'max-time': { type: 'string', short: 'm' },
  'connect-timeout': { type: 'string' },
  resolve: { type: 'string', multiple: true },
  silent: { type: 'boolean', short: 's' },
  'show-error': { type: 'boolean', short: 'S' },
  'no-progress-meter': { type: 'boolean' },
  'unix-socket': { type: 'string' },
  cacert: { type: 'string' },
  insecure: { type: 'boolean', short: 'k' },
  cert: { type: 'string' },
  key: { type: 'string' },
  pass: { type: 'string' },
  http2: { type: 'boolean' },
  'http1.1': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const

/** Seconds (`5`, `0.25`, `.5`) as milliseconds; 0 means no limit. */
function parseSeconds (flag: string, v: string): number {
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(v)) throw new UsageError(`${flag}: expected a number of seconds, got ${JSON.stringify(v)}`)
  const ms = Math.ceil(Number(v) * 1000)
  if (!Number.isFinite(ms)) throw new UsageError(`${flag}: ${JSON.stringify(v)} is out of range`)
  return Math.min(ms, MAX_TIMER_MS)
}

function parseHeader (h: string): [string, string] {
  const colon = h.indexOf(':')
  let name: string
  let value: string
  if (colon === -1 && h.endsWith(';')) {
    // curl's syntax for a header with an empty value
    name = h.slice(0, -1).trim()
    value = ''
  } else if (colon > 0) {
    name = h.slice(0, colon).trim()
    value = h.slice(colon + 1).trimStart()
  } else {
    throw new UsageError(`-H: bad header (expected 'Name: value'): ${JSON.stringify(h)}`)
  }
  try {
    validateHeaderName(name)
    validateHeaderValue(name, value)
  } catch (err) {
    throw new UsageError(`-H: ${(err as Error).message}`)
  }
  return [name, value]
}

function parseUrl (s: string): URL {
  // curl guesses http:// for a URL without a scheme ("localhost:8080/x").
  const text = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(s) ? s : `http://${s}`
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`invalid URL: ${JSON.stringify(s)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`unsupported URL scheme: ${url.protocol} (http: and https: are)`)
  if (!url.hostname) throw new UsageError(`URL has no host: ${JSON.stringify(s)}`)
  return url
}

function parseResolve (entries: readonly string[]): Map<string, string> {
  const map = new Map<string, string>()
  for (const e of entries) {
    const m = /^([^:]+):(\d{1,5}):(\[[0-9a-fA-F:.]+\]|[0-9.]+)$/.exec(e)
    const addr = m?.[3]?.replace(/^\[|\]$/g, '')
    const port = Number(m?.[2])
    if (!m || !addr || net.isIP(addr) === 0 || port < 1 || port > 65535) {
      throw new UsageError(`--resolve: expected HOST:PORT:ADDRESS with an IP address, got ${JSON.stringify(e)}`)
    }
    map.set(`${m[1]!.toLowerCase()}:${port}`, addr)
  }
  return map
}

function readLocal (file: string, what: string, exitCode: number, encoding?: BufferEncoding): Buffer | string {
  try {
    return encoding ? fs.readFileSync(file, encoding) : fs.readFileSync(file)
  } catch (err) {
    throw new Failure(exitCode, `cannot read ${what} ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

async function readStdin (): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

type Values = ReturnType<typeof parseArgs<{ args: string[], allowPositionals: true, options: typeof OPTIONS }>>['values']

/** Everything that can be checked without the network; throws UsageError (or Failure for unreadable files). */
async function configure (values: Values, positionals: string[]): Promise<Config> {
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing URL' : 'expected exactly one URL')
  const url = parseUrl(positionals[0]!)
  const headers = (values.header ?? []).map(parseHeader)
  if (values.request !== undefined) {
    try {
      validateMethod(values.request)
    } catch (err) {
      throw new UsageError(`-X: ${(err as Error).message}`)
    }
  }
  let maxRedirs = 50
  if (values['max-redirs'] !== undefined) {
    const v = values['max-redirs']
    if (!/^(-1|\d+)$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UsageError(`--max-redirs: expected a whole number or -1, got ${JSON.stringify(v)}`)
    maxRedirs = Number(v)
  }
  const maxTimeMs = values['max-time'] === undefined ? 0 : parseSeconds('-m/--max-time', values['max-time'])
  // As curl: 0 (or nothing) means the default.
  const connectTimeoutMs = values['connect-timeout'] === undefined ? 0 : parseSeconds('--connect-timeout', values['connect-timeout'])
  const resolve = parseResolve(values.resolve ?? [])
  if (values.http2 && values['http1.1']) throw new UsageError('--http2 and --http1.1 exclude each other')
  const tlsGiven = values.cacert !== undefined || !!values.insecure || values.cert !== undefined || values.key !== undefined || values.pass !== undefined
  // Without -L the only request goes to this URL; with -L a redirect may lead to https:.
  if (tlsGiven && url.protocol !== 'https:' && !values.location) throw new UsageError('TLS options need an https: URL')
  if (values.pass !== undefined && values.key === undefined) throw new UsageError('--pass needs --key')
  if (values.data === '@-' && values['write-out'] === '@-') throw new UsageError('-d @- and -w @- cannot both read stdin')

  let writeOut = values['write-out']
  if (writeOut?.startsWith('@')) {
    writeOut = writeOut === '@-' ? (await readStdin()).toString('utf8') : readLocal(writeOut.slice(1), '-w file', 26, 'utf8') as string
  }
  let body: Buffer | undefined
  if (values.data !== undefined) {
    const d = values.data
    if (d === '@-') body = await readStdin()
    else if (d.startsWith('@')) body = readLocal(d.slice(1), '-d file', 26) as Buffer
    else body = Buffer.from(d, 'utf8')
  }
  const tls: TlsOptions = {}
  if (values.cacert !== undefined) tls.ca = readLocal(values.cacert, '--cacert file', 77, 'latin1') as string
  if (values.insecure) tls.rejectUnauthorized = false
  if (values.cert !== undefined) tls.cert = readLocal(values.cert, '--cert file', 58, 'latin1') as string
  if (values.key !== undefined) tls.key = readLocal(values.key, '--key file', 58, 'latin1') as string
  if (values.pass !== undefined) tls.passphrase = values.pass
  return {
    url,
    rawUrl: positionals[0]!,
    method: values.request ?? (body !== undefined ? 'POST' : 'GET'),
    headers,
    body,
    include: !!values.include,
    verbose: !!values.verbose,
    output: values.output === '-' ? undefined : values.output,
    writeOut,
    location: !!values.location,
    maxRedirs,
    locationTrusted: !!values['location-trusted'],
    compressed: !!values.compressed,
    maxTimeMs,
    connectTimeoutMs: connectTimeoutMs || DEFAULT_CONNECT_TIMEOUT_MS,
    resolve,
    silent: !!values.silent,
    showError: !!values['show-error'],
    noProgress: !!values['no-progress-meter'],
    unixSocket: values['unix-socket'],
    tls,
    tlsGiven,
    http2: values.http2 ? true : values['http1.1'] ? false : undefined,
  }
}

export async function main (argv: string[]): Promise<number> {
  // EPIPE on stdout (e.g. `| head`) is reported through write callbacks; without a listener
  // the 'error' event would crash the process.
  process.stdout.on('error', () => {})
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS })
  } catch (err) {
    return usageError((err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  if (values.version) {
    process.stdout.write(`node-hyper ${packageVersion()} (hyper ${hyperVersion})\n`)
    return 0
  }
  let cfg: Config
  try {
    cfg = await configure(values, positionals)
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message)
    const f = err as Failure
    if (!values.silent || values['show-error']) process.stderr.write(`node-hyper: (${f.exitCode}) ${f.message}\n`)
    return f.exitCode
  }
  return new Operation(cfg).run()
}

function usageError (message: string): number {
  process.stderr.write(`node-hyper: ${message}\nnode-hyper: try 'node-hyper --help' for more information\n`)
  return 2
}

// ---------------------------------------------------------------------------------------------
// Errors -> curl's exit codes

/** Where the failure happened: connecting, before the response head, or in the body. */
export type Phase = 'connect' | 'request' | 'body'

const TLS_BAD_CLIENT_CERT = new Set(['ERR_TLS_INVALID_CERT', 'ERR_TLS_INVALID_KEY', 'ERR_TLS_KEY_MISMATCH'])

/** Maps an error from node-hyper to curl's exit code and message (timeouts and -w handled by the caller). */
export function classifyError (err: unknown, phase: Phase): Failure {
  if (err instanceof Failure) return err
  const e = err as Error & { code?: string, syscall?: string }
  const detail = `${e.code ?? e.name}: ${e.message}`
  if (err instanceof InvalidArgumentError) return new Failure(2, detail, { cause: err })
  if (err instanceof TimeoutError) return new Failure(28, detail, { cause: err })
  if (err instanceof TlsError) {
    const code = err.code
    if (code === 'ERR_TLS_INVALID_CA') return new Failure(77, `problem with the CA certificate: ${detail}`, { cause: err })
    if (TLS_BAD_CLIENT_CERT.has(code)) return new Failure(58, `problem with the local client certificate: ${detail}`, { cause: err })
    if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') && code !== 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return new Failure(35, `TLS connect error: ${detail}`, { cause: err })
    }
    return new Failure(60, `SSL certificate problem: ${detail}`, { cause: err })
  }
  if (err instanceof SocketError) {
    if (err.syscall === 'getaddrinfo') return new Failure(6, `Could not resolve host: ${detail}`, { cause: err })
    if (phase === 'connect') {
      const where = err.address !== undefined ? `${err.address} port ${err.port}` : 'server'
      return new Failure(7, `Failed to connect to ${where}: ${detail}`, { cause: err })
    }
    if (err.syscall === 'write' || err.syscall === 'send') return new Failure(55, `Failed sending data to the peer: ${detail}`, { cause: err })
    return new Failure(56, `Failure when receiving data from the peer: ${detail}`, { cause: err })
  }
  if (err instanceof ProtocolError || err instanceof ConnectionClosedError) {
    if (phase === 'connect') return new Failure(7, `Failed to connect: ${detail}`, { cause: err })
    if (phase === 'body') return new Failure(18, `transfer closed with outstanding read data remaining: ${detail}`, { cause: err })
    if (err.code === 'HYPER_UNEXPECTED_EOF' || err instanceof ConnectionClosedError) return new Failure(52, `Empty reply from server: ${detail}`, { cause: err })
    return new Failure(8, `Weird server reply: ${detail}`, { cause: err })
  }
  if (err instanceof HyperError) return new Failure(phase === 'connect' ? 7 : 56, detail, { cause: err })
  return new Failure(1, detail, { cause: err })
}

// ---------------------------------------------------------------------------------------------
// Statistics (the -w variables)

/** What -w reports about a transfer. */
export interface Stats {
  /** performance.now() at the start of the operation and of the current request. */
  start: number
  startSingle: number
  // Phase times in microseconds, summed over the requests of a redirect chain as curl does
  // (each measured from the start of its own request, at least 1 µs).
  namelookup: number
  connect: number
  appconnect: number
  pretransfer: number
  starttransfer: number
  /** µs from the start until the last redirect was taken (0 without redirects). */
  redirect: number
  total: number
  numConnects: number
  numRedirects: number
  sizeHeader: number
  sizeDownload: number
  sizeUpload: number
  sizeDelivered: number
  /** Content-Length of the current response, -1 if unknown. */
  expected: number
  httpCode: number
  httpVersion: string
  rawHeaders: string[]
  method: string
  url: string
  urlEffective: string
  redirectUrl: string | null
  remoteIp: string | null
  remotePort: number | null
  localIp: string | null
  localPort: number | null
  scheme: string
  sslVerifyResult: number | null
  exitCode: number
  errorMsg: string | null
}

const now = (): number => performance.now()

// OpenSSL's X509_V_ERR_* numbers for the verification failures Node names (curl's ssl_verify_result).
const X509_ERRORS: Record<string, number> = {
  UNABLE_TO_GET_ISSUER_CERT: 2,
  UNABLE_TO_GET_CRL: 3,
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: 4,
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: 6,
  CERT_SIGNATURE_FAILURE: 7,
  CERT_NOT_YET_VALID: 9,
  CERT_HAS_EXPIRED: 10,
  ERROR_IN_CERT_NOT_BEFORE_FIELD: 13,
  ERROR_IN_CERT_NOT_AFTER_FIELD: 14,
  DEPTH_ZERO_SELF_SIGNED_CERT: 18,
  SELF_SIGNED_CERT_IN_CHAIN: 19,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 20,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 21,
  CERT_CHAIN_TOO_LONG: 22,
  CERT_REVOKED: 23,
  INVALID_CA: 24,
  PATH_LENGTH_EXCEEDED: 25,
  INVALID_PURPOSE: 26,
  CERT_UNTRUSTED: 27,
  CERT_REJECTED: 28,
  HOSTNAME_MISMATCH: 62,
}

/** The head as curl shows it with -i (and counts it for size_header): HTTP/2 has no reason phrase. */
function headText (res: ClientResponse): string {
  const lines = [res.httpVersion === '2.0' ? `HTTP/2 ${res.status} ` : `HTTP/${res.httpVersion} ${res.status} ${res.statusText}`]
  for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`)
  return lines.join('\r\n') + '\r\n\r\n'
}

function headerValue (raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === lowerName) return raw[i + 1]!
  return undefined
}

// ---------------------------------------------------------------------------------------------
// -w / --write-out

type WoValue = { t: 'str', v: string | null } | { t: 'int', v: number | null } | { t: 'code', v: number } | { t: 'time', us: number }

const str = (v: string | null): WoValue => ({ t: 'str', v })
const int = (v: number | null): WoValue => ({ t: 'int', v })
const time = (us: number): WoValue => ({ t: 'time', us })
const perSecond = (bytes: number, us: number): number => us > 0 ? Math.floor(bytes * 1e6 / us) : 0

/** The variables, in the alphabetical order %{json} lists them. */
const VARIABLES: Record<string, (s: Stats, outFile: string | undefined) => WoValue> = {
  content_type: (s) => str(headerValue(s.rawHeaders, 'content-type')?.trim() ?? null),
  errormsg: (s) => str(s.errorMsg),
  exitcode: (s) => int(s.exitCode),
  filename_effective: (_s, f) => str(f ?? null),
  http_code: (s) => ({ t: 'code', v: s.httpCode }),
  http_connect: () => ({ t: 'code', v: 0 }),
  http_version: (s) => str(s.httpVersion),
  local_ip: (s) => str(s.localIp),
  local_port: (s) => int(s.localPort),
  method: (s) => str(s.method),
  num_connects: (s) => int(s.numConnects),
  num_headers: (s) => int(s.rawHeaders.length / 2),
  num_redirects: (s) => int(s.numRedirects),
  redirect_url: (s) => str(s.redirectUrl),
  remote_ip: (s) => str(s.remoteIp),
  remote_port: (s) => int(s.remotePort),
  response_code: (s) => ({ t: 'code', v: s.httpCode }),
  scheme: (s) => str(s.scheme),
  size_delivered: (s) => int(s.sizeDelivered),
  size_download: (s) => int(s.sizeDownload),
  size_header: (s) => int(s.sizeHeader),
  size_upload: (s) => int(s.sizeUpload),
  speed_download: (s) => int(perSecond(s.sizeDownload, s.total)),
  speed_upload: (s) => int(perSecond(s.sizeUpload, s.total)),
  ssl_verify_result: (s) => int(s.sslVerifyResult),
  time_appconnect: (s) => time(s.appconnect),
  time_connect: (s) => time(s.connect),
  time_namelookup: (s) => time(s.namelookup),
  time_pretransfer: (s) => time(s.pretransfer),
  time_redirect: (s) => time(s.redirect),
  time_starttransfer: (s) => time(s.starttransfer),
  time_total: (s) => time(s.total),
  url: (s) => str(s.url),
  url_effective: (s) => str(s.urlEffective),
  urlnum: () => int(0),
}

/** Seconds with 6 decimals, from whole microseconds (curl's format). */
export function formatSeconds (us: number): string {
  const whole = Math.max(0, Math.round(us))
  return `${Math.floor(whole / 1e6)}.${String(whole % 1e6).padStart(6, '0')}`
}

function plain (v: WoValue): string {
  switch (v.t) {
    case 'str': return v.v ?? ''
    case 'int': return v.v === null ? '' : String(v.v)
    case 'code': return String(v.v).padStart(3, '0')
    case 'time': return formatSeconds(v.us)
  }
}

function jsonValue (v: WoValue): string {
  switch (v.t) {
    case 'str': return v.v === null ? 'null' : JSON.stringify(v.v)
    case 'int': return v.v === null ? 'null' : String(v.v)
    case 'code': return String(v.v)
    case 'time': return formatSeconds(v.us)
  }
}

/** Where the -w output goes next: stdout, stderr, or a file (%output{name}, %output{>>name}). */
export type WriteOutTarget = { kind: 'stdout' } | { kind: 'stderr' } | { kind: 'file', name: string, append: boolean }

/**
 * Renders a --write-out format with curl's rules: %{name} variables (an unknown one prints a
 * warning and nothing), %header{name}, %{stdout}/%{stderr}/%output{file} switch the output,
 * %{onerror} stops unless the transfer failed, %% is %, and \n \r \t are control characters
 * (any other backslash pair, e.g. \\, is output as it is). Returns the pieces in order.
 */
export function renderWriteOut (format: string, stats: Stats, outFile: string | undefined, warn: (msg: string) => void): { target: WriteOutTarget, text: string }[] {
  const pieces: { target: WriteOutTarget, text: string }[] = []
  let target: WriteOutTarget = { kind: 'stdout' }
  let text = ''
  const flush = (): void => {
    if (text) pieces.push({ target, text })
    text = ''
  }
  let i = 0
  while (i < format.length) {
    const c = format[i]!
    if (c === '%' && i + 1 < format.length) {
      const n = format[i + 1]!
      if (n === '%') {
        text += '%'
        i += 2
      } else if (n === '{') {
        const end = format.indexOf('}', i + 2)
        if (end === -1) {
          text += '%{'
          i += 2
          continue
        }
        const name = format.slice(i + 2, end)
        i = end + 1
        if (name === 'onerror') {
          if (stats.exitCode === 0) break
        } else if (name === 'stdout' || name === 'stderr') {
          flush()
          target = { kind: name }
        } else if (name === 'json') {
          const parts = Object.keys(VARIABLES).map((k) => `"${k}":${jsonValue(VARIABLES[k]!(stats, outFile))}`)
          parts.push(`"node_hyper_version":${JSON.stringify(`node-hyper ${packageVersion()} (hyper ${hyperVersion})`)}`)
          text += `{${parts.join(',')}}`
        } else if (name === 'header_json') {
          text += headerJson(stats.rawHeaders)
        } else if (Object.hasOwn(VARIABLES, name)) {
          text += plain(VARIABLES[name]!(stats, outFile))
        } else {
          warn(`unknown --write-out variable: '${name}'`)
        }
      } else if (format.startsWith('header{', i + 1)) {
        const end = format.indexOf('}', i + 8)
        if (end === -1) {
          text += '%header{'
          i += 8
          continue
        }
        text += headerValue(stats.rawHeaders, format.slice(i + 8, end).toLowerCase())?.trim() ?? ''
        i = end + 1
      } else if (format.startsWith('output{', i + 1)) {
        const end = format.indexOf('}', i + 8)
        if (end === -1) {
          text += '%output{'
          i += 8
          continue
        }
        let name = format.slice(i + 8, end)
        const append = name.startsWith('>>')
        if (append) name = name.slice(2)
        flush()
        target = { kind: 'file', name, append }
        i = end + 1
      } else {
        text += c + n
        i += 2
      }
    } else if (c === '\\' && i + 1 < format.length) {
      const n = format[i + 1]!
      text += n === 'n' ? '\n' : n === 'r' ? '\r' : n === 't' ? '\t' : c + n
      i += 2
    } else {
      text += c
      i++
    }
  }
  flush()
  return pieces
}

function headerJson (raw: readonly string[]): string {
  const groups = new Map<string, string[]>()
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase()
    let g = groups.get(name)
    if (!g) groups.set(name, g = [])
    g.push(raw[i + 1]!)
  }
  return `{${[...groups].map(([k, v]) => `${JSON.stringify(k)}:[${v.map((x) => JSON.stringify(x)).join(',')}]`).join(',\n')}\n}`
}

async function writeOutPieces (pieces: { target: WriteOutTarget, text: string }[]): Promise<void> {
  let prev: WriteOutTarget = { kind: 'stdout' }
  for (const p of pieces) {
    let t = p.target
    if (t.kind === 'file') {
      // Like curl: if the file cannot be opened, keep writing where the output went before.
      try {
        fs.writeFileSync(t.name, p.text, { flag: t.append ? 'a' : 'w' })
        prev = t
        continue
      } catch {
        t = prev
      }
    }
    if (t.kind === 'file') {
      try {
        fs.appendFileSync(t.name, p.text)
      } catch {}
    } else {
      const stream = t.kind === 'stderr' ? process.stderr : process.stdout
      await new Promise<void>((resolve) => stream.write(p.text, () => resolve()))
      prev = t
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Progress meter (curl's columns)

/** A byte count in at most 6 columns: `  1234`, `97.65k`, `100.0M`, ... (curl's rules). */
export function formatSize (bytes: number): string {
  let n = Math.max(0, Math.floor(bytes))
  if (n < 100000) return String(n).padStart(6)
  const units = 'kMGTPE'
  let k = 0
  let whole = Math.floor(n / 1024)
  while (whole >= 1000 && k < units.length - 1) {
    n = whole
    whole = Math.floor(n / 1024)
    k++
  }
  const rest = n % 1024
  if (whole <= 99) return `${String(whole).padStart(2)}.${String(Math.floor(rest * 100 / 1024)).padStart(2, '0')}${units[k]}`
  return `${String(whole).padStart(3)}.${Math.floor(rest * 10 / 1024)}${units[k]}`
}

/** A duration in 7 columns: blank for 0, `  01:05`, `1:02:03`, `12h 05m`, ` 3d 04h`, ... */
export function formatDuration (seconds: number): string {
  const s = Math.floor(seconds)
  if (s <= 0) return '       '
  const p2 = (v: number): string => String(v).padStart(2, '0')
  let h = Math.floor(s / 3600)
  if (h <= 99) {
    const m = Math.floor((s - h * 3600) / 60)
    if (h <= 9) {
      const sec = s - h * 3600 - m * 60
      return h ? `${h}:${p2(m)}:${p2(sec)}` : `  ${p2(m)}:${p2(sec)}`
    }
    return `${h}h ${p2(m)}m`
  }
  const d = Math.floor(s / 86400)
  h = Math.floor((s - d * 86400) / 3600)
  if (d <= 99) return `${String(d).padStart(2)}d ${p2(h)}h`
  if (d <= 999) return `${String(d).padStart(6)}d`
  const months = Math.floor(d / 30)
  if (months <= 999) return `${String(months).padStart(6)}m`
  const y = Math.floor(d / 365)
  return y <= 99999 ? `${String(y).padStart(6)}y` : '>99999y'
}

export const PROGRESS_HEADER =
  '  % Total    % Received % Xferd  Average Speed  Time    Time    Time   Current\n' +
  '                                 Dload  Upload  Total   Spent   Left   Speed\n'

export interface ProgressState {
  elapsedMs: number
  dlNow: number
  /** -1: unknown */
  dlTotal: number
  ulNow: number
  /** -1: unknown */
  ulTotal: number
  /** bytes per second over the last few seconds */
  currentSpeed: number
}

function percent (cur: number, total: number): number {
  if (total > 10000) return Math.floor(cur / Math.floor(total / 100))
  if (total > 0) return Math.floor(cur * 100 / total)
  return 0
}

/** One meter line (without the leading \r), curl's columns. */
export function progressLine (p: ProgressState): string {
  const secs = p.elapsedMs / 1000
  const dlSpeed = secs > 0 ? p.dlNow / secs : 0
  const ulSpeed = secs > 0 ? p.ulNow / secs : 0
  const dlEta = p.dlTotal >= 0 && dlSpeed > 0 ? Math.floor(p.dlTotal / dlSpeed) : 0
  const ulEta = p.ulTotal >= 0 && ulSpeed > 0 ? Math.floor(p.ulTotal / ulSpeed) : 0
  const eta = Math.max(dlEta, ulEta)
  const expected = (p.ulTotal >= 0 ? p.ulTotal : p.ulNow) + (p.dlTotal >= 0 ? p.dlTotal : p.dlNow)
  const pct = (v: number): string => String(Math.min(v, 999)).padStart(3)
  return [
    pct(percent(p.dlNow + p.ulNow, expected)), formatSize(expected),
    pct(p.dlTotal >= 0 ? percent(p.dlNow, p.dlTotal) : 0), formatSize(p.dlNow),
    pct(p.ulTotal >= 0 ? percent(p.ulNow, p.ulTotal) : 0), formatSize(p.ulNow),
    formatSize(dlSpeed), formatSize(ulSpeed),
    formatDuration(eta), formatDuration(secs), formatDuration(eta > 0 ? eta - Math.floor(secs) : 0),
    formatSize(p.currentSpeed),
  ].join(' ')
}

/** Draws the meter on stderr: header once, then a line at most once a second and on finish. */
class ProgressMeter {
  #start = now()
  #timer: NodeJS.Timeout
  #samples: { t: number, bytes: number }[] = [{ t: now(), bytes: 0 }]
  dlNow = 0
  dlTotal = -1
  ulNow = 0
  ulTotal = -1

  constructor () {
    process.stderr.write(PROGRESS_HEADER)
    this.#draw()
    this.#timer = setInterval(() => this.#draw(), 1000)
    this.#timer.unref()
  }

  #draw (): void {
    const t = now()
    const bytes = this.dlNow + this.ulNow
    const last = this.#samples[this.#samples.length - 1]!
    if (t - last.t >= 1000) {
      this.#samples.push({ t, bytes })
      if (this.#samples.length > 6) this.#samples.shift()
    }
    const first = this.#samples[0]!
    const span = t - first.t
    const currentSpeed = span > 0 ? (bytes - first.bytes) * 1000 / span : 0
    process.stderr.write('\r' + progressLine({
      elapsedMs: t - this.#start, dlNow: this.dlNow, dlTotal: this.dlTotal, ulNow: this.ulNow, ulTotal: this.ulTotal, currentSpeed,
    }))
  }

  finish (): void {
    clearInterval(this.#timer)
    this.#draw()
    process.stderr.write('\n')
  }
}

// ---------------------------------------------------------------------------------------------
// Content decoding (--compressed)

function isZlibHeader (b: Buffer): boolean {
  return (b[0]! & 0x0f) === 8 && ((b[0]! << 8) | b[1]!) % 31 === 0
}

/**
 * One Content-Encoding layer, streaming. The zlib stream is created on the first byte, so an
 * empty body stays empty; "deflate" accepts both the zlib format (RFC 9110) and raw deflate,
 * which some servers send (curl does the same).
 */
class Decoder extends Transform {
  #encoding: string
  #inner: Transform | null = null
  #pending: Buffer[] = []

  constructor (encoding: string) {
    super()
    this.#encoding = encoding
  }

  #make (head: Buffer, final: boolean): Transform | null {
    switch (this.#encoding) {
      case 'gzip': case 'x-gzip': return zlib.createGunzip()
      case 'br': return zlib.createBrotliDecompress()
      case 'zstd': return zstd!()
      default: // deflate
        if (head.length < 2 && !final) return null
        return head.length >= 2 && isZlibHeader(head) ? zlib.createInflate() : zlib.createInflateRaw()
    }
  }

  #start (final: boolean): boolean {
    const head = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending)
    const inner = this.#make(head, final)
    if (!inner) return false
    this.#pending = []
    this.#inner = inner
    inner.on('data', (d: Buffer) => { if (!this.push(d)) inner.pause() })
    inner.on('error', (e: Error) => this.destroy(e))
    inner.write(head)
    return true
  }

  override _read (size: number): void {
    this.#inner?.resume()
    super._read(size)
  }

  override _transform (chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (chunk.length === 0) return cb()
    if (!this.#inner) {
      this.#pending.push(chunk)
      this.#start(false)
      return cb()
    }
    if (this.#inner.write(chunk)) cb()
    else this.#inner.once('drain', () => cb())
  }

  override _flush (cb: (err?: Error | null) => void): void {
    if (!this.#inner && this.#pending.length) this.#start(true)
    const inner = this.#inner
    if (!inner) return cb()
    inner.once('end', () => cb())
    inner.end()
  }

  override _destroy (err: Error | null, cb: (err?: Error | null) => void): void {
    this.#inner?.destroy()
    cb(err)
  }
}

/** Decoders for a response's Content-Encoding, outermost (last applied) first. */
function decodersFor (contentEncoding: string | undefined): Decoder[] {
  if (!contentEncoding) return []
  const codings = contentEncoding.split(',').map((c) => c.trim().toLowerCase()).filter((c) => c !== '' && c !== 'identity')
  if (codings.length > MAX_ENCODINGS) throw new Failure(61, `Reject response due to more than ${MAX_ENCODINGS} content encodings`)
  const known = ['gzip', 'x-gzip', 'deflate', 'br', ...(zstd ? ['zstd'] : [])]
  for (const c of codings) {
    if (!known.includes(c)) throw new Failure(61, `Unrecognized content encoding type: ${JSON.stringify(c)} (node-hyper decodes ${known.join(', ')})`)
  }
  return codings.reverse().map((c) => new Decoder(c))
}

// ---------------------------------------------------------------------------------------------
// Output

/** Where response heads (-i) and the body go: stdout, or a file opened on first use. */
class Output {
  readonly file: string | undefined
  #fd: fs.WriteStream | null = null
  #delivered = 0

  constructor (file: string | undefined) {
    this.file = file
  }

  get delivered (): number {
    return this.#delivered
  }

  #target (): Writable {
    if (this.file === undefined) return process.stdout
    if (!this.#fd) {
      let fd: number
      try {
        fd = fs.openSync(this.file, 'w')
      } catch (err) {
        throw new Failure(23, `Failed to open the output file ${JSON.stringify(this.file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
      }
      this.#fd = fs.createWriteStream(this.file, { fd })
      this.#fd.on('error', () => {})
    }
    return this.#fd
  }

  #write (target: Writable, data: Buffer | string, cb: (err?: Error | null) => void): void {
    target.write(data, (err) => {
      if (err) return cb(new Failure(23, `Failure writing output to destination: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err }))
      this.#delivered += typeof data === 'string' ? Buffer.byteLength(data, 'latin1') : data.length
      cb()
    })
  }

  write (data: string): Promise<void> {
    const target = this.#target()
    return new Promise((resolve, reject) => this.#write(target, Buffer.from(data, 'latin1'), (err) => err ? reject(err) : resolve()))
  }

  /** A sink for the body (ending it does not end stdout). */
  sink (): Writable {
    const target = this.#target()
    return new Writable({ write: (chunk: Buffer, _enc, cb) => this.#write(target, chunk, cb) })
  }

  async close (): Promise<void> {
    const fd = this.#fd
    if (!fd || fd.destroyed) return
    await new Promise<void>((resolve) => fd.end(() => resolve()))
  }
}

// ---------------------------------------------------------------------------------------------
// The transfer

const BODY_HEADERS = new Set(['content-length', 'content-type', 'content-encoding', 'transfer-encoding'])
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'host'])

function origin (u: URL): string {
  return `${u.protocol}//${u.host}`
}

class Operation {
  readonly cfg: Config
  readonly st: Stats
  readonly out: Output
  readonly abort = new AbortController()
  #meter: ProgressMeter | null = null
  /** 'resolve' and 'connect' while connecting (for the timeout message), then 'transfer'. */
  #phase: 'resolve' | 'connect' | 'transfer' = 'resolve'
  #conn: ClientConn | null = null
  #connOrigin = ''

  constructor (cfg: Config) {
    this.cfg = cfg
    const t = now()
    this.st = {
      start: t, startSingle: t, namelookup: 0, connect: 0, appconnect: 0, pretransfer: 0, starttransfer: 0, redirect: 0, total: 0,
      numConnects: 0, numRedirects: 0, sizeHeader: 0, sizeDownload: 0, sizeUpload: 0, sizeDelivered: 0, expected: -1,
      httpCode: 0, httpVersion: '0', rawHeaders: [], method: cfg.method, url: cfg.rawUrl, urlEffective: cfg.url.href,
      redirectUrl: null, remoteIp: null, remotePort: null, localIp: null, localPort: null, scheme: cfg.url.protocol.slice(0, -1), sslVerifyResult: null,
      exitCode: 0, errorMsg: null,
    }
    this.out = new Output(cfg.output)
  }

  /** Adds the time since the current request started to a phase total (at least 1 µs, as curl). */
  #mark (phase: 'namelookup' | 'connect' | 'appconnect' | 'pretransfer' | 'starttransfer', at = now()): void {
    this.st[phase] += Math.max(1, Math.round((at - this.st.startSingle) * 1000))
  }

  #info (line: string): void {
    if (this.cfg.verbose) process.stderr.write(`* ${line}\n`)
  }

  async run (): Promise<number> {
    const cfg = this.cfg
    let timer: NodeJS.Timeout | undefined
    if (cfg.maxTimeMs > 0) timer = setTimeout(() => this.abort.abort(new Deadline('max-time')), cfg.maxTimeMs)
    if (cfg.output !== undefined && process.stderr.isTTY && !cfg.silent && !cfg.noProgress) this.#meter = new ProgressMeter()
    let failure: Failure | null = null
    try {
      await this.#perform()
    } catch (err) {
      failure = this.#failure(err)
    } finally {
      clearTimeout(timer)
    }
    this.st.total = Math.round((now() - this.st.start) * 1000)
    this.#meter?.finish()
    const conn = this.#conn
    this.#conn = null
    if (conn) {
      if (failure) conn.destroy()
      else await conn.close()
    }
    try {
      await this.out.close()
    } catch (err) {
      failure ??= this.#failure(err)
    }
    this.st.sizeDelivered = this.out.delivered
    if (failure) {
      this.st.exitCode = failure.exitCode
      this.st.errorMsg = failure.message
      if (!cfg.silent || cfg.showError) process.stderr.write(`node-hyper: (${failure.exitCode}) ${failure.message}\n`)
    }
    if (cfg.writeOut !== undefined) {
      // curl prints this warning even with -s.
      const pieces = renderWriteOut(cfg.writeOut, this.st, cfg.output, (msg) => process.stderr.write(`node-hyper: ${msg}\n`))
      await writeOutPieces(pieces)
    }
    return this.st.exitCode
  }

  /** The Failure for what went wrong; an abort by our own deadline becomes curl's timeout message. */
  #failure (err: unknown): Failure {
    const reason = err instanceof AbortError ? err.cause : this.abort.signal.aborted ? this.abort.signal.reason : undefined
    if (reason instanceof Deadline) {
      if (this.#phase !== 'transfer') {
        const ms = Math.round(now() - (reason.kind === 'connect' ? this.st.startSingle : this.st.start))
        return new Failure(28, `${this.#phase === 'resolve' ? 'Resolving' : 'Connection'} timed out after ${ms} milliseconds`, { cause: err })
      }
      const ms = Math.round(now() - this.st.start)
      const got = this.st.sizeDownload
      const of = this.st.expected >= 0 ? ` out of ${this.st.expected}` : ''
      return new Failure(28, `Operation timed out after ${ms} milliseconds with ${got}${of} bytes received`, { cause: err })
    }
    return classifyError(err, this.#phase === 'transfer' ? 'request' : 'connect')
  }

  /** Opens a connection for `url` (DNS, TCP, TLS): timed, bounded by --connect-timeout and -m. */
  async #connect (url: URL): Promise<ClientConn> {
    const cfg = this.cfg
    const st = this.st
    const secure = url.protocol === 'https:'
    const port = url.port ? Number(url.port) : secure ? 443 : 80
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    const connectAbort = new AbortController()
    const onAbort = (): void => connectAbort.abort(this.abort.signal.reason)
    if (this.abort.signal.aborted) onAbort()
    this.abort.signal.addEventListener('abort', onAbort, { once: true })
    const timer = setTimeout(() => connectAbort.abort(new Deadline('connect')), cfg.connectTimeoutMs)
    const options: ConnectOptions = {
      signal: connectAbort.signal,
      // -m and --connect-timeout are the limits, as with curl (no idle timeouts of our own).
      connectTimeout: 0,
      headersTimeout: 0,
      bodyTimeout: 0,
    }
    if (cfg.http2 !== undefined) options.http2 = cfg.http2
    if (secure) options.tls = cfg.tls
    let remoteIp: string | null = null
    // A lookup that completes after the connect was abandoned (timeout) must not count.
    let abandoned = false
    const resolved = (address: string | null): void => {
      if (abandoned) return
      this.#mark('namelookup')
      this.#phase = 'connect'
      remoteIp = address
    }
    this.#phase = 'resolve'
    try {
      let conn: ClientConn
      if (cfg.unixSocket !== undefined) {
        resolved(null)
        options.host = url.host
        conn = await ClientConn.connect({ socketPath: cfg.unixSocket }, options)
      } else {
        const forced = cfg.resolve.get(`${host.toLowerCase()}:${port}`)
        if (net.isIP(host)) resolved(host)
        const lookup: LookupFunction = (hostname, lopts, cb) => {
          if (forced !== undefined) {
            const family = net.isIP(forced)
            process.nextTick(() => { resolved(forced); cb(null, lopts.all ? [{ address: forced, family }] : forced, family) })
            return
          }
          dns.lookup(hostname, lopts, (err, address, family) => {
            if (!err) resolved(Array.isArray(address) ? address[0]?.address ?? null : address)
            cb(err, address, family)
          })
        }
        options.lookup = lookup
        conn = await ClientConn.connect(url.origin, options)
      }
      // The connection's own step times: the socket connected, then TLS was done (hyper's
      // handshake after that counts toward pretransfer).
      const t = conn.timings
      this.#mark('connect', t.connectEnd)
      if (secure) this.#mark('appconnect', t.secureEnd)
      this.#phase = 'transfer'
      st.numConnects++
      // The address actually connected to (happy eyeballs may not pick the lookup's first).
      const info = conn.info
      remoteIp = info.remoteAddress ?? remoteIp
      st.remoteIp = cfg.unixSocket !== undefined ? null : remoteIp
      st.remotePort = cfg.unixSocket !== undefined ? null : info.remotePort ?? port
      st.localIp = info.localAddress ?? null
      st.localPort = info.localPort ?? null
      if (conn.tls) st.sslVerifyResult = conn.tls.authorized ? 0 : (X509_ERRORS[conn.tls.authorizationError ?? ''] ?? null)
      else if (!secure) st.sslVerifyResult = 0
      this.#info(cfg.unixSocket !== undefined
        ? `Connected to ${cfg.unixSocket} (unix socket)`
        : `Connected to ${url.hostname} (${remoteIp}) port ${port}`)
      if (conn.tls) {
        const t = conn.tls
        this.#info(`${t.protocol} ${t.cipher}, ALPN ${t.alpnProtocol || 'none'}${t.authorized ? '' : `, NOT verified (${t.authorizationError})`}`)
      }
      return conn
    } finally {
      abandoned = true
      clearTimeout(timer)
      this.abort.signal.removeEventListener('abort', onAbort)
    }
  }

  /** A connection for `url`: the open one if it serves the same origin, else a new one. */
  async #connectionFor (url: URL): Promise<ClientConn> {
    const o = origin(url)
    const current = this.#conn
    if (current && !current.closed && this.#connOrigin === o) {
      this.#mark('namelookup')
      this.#mark('connect')
      if (url.protocol === 'https:') this.#mark('appconnect')
      this.#phase = 'transfer'
      this.#info('Re-using the existing connection')
      return current
    }
    this.#conn = null
    if (current) await current.close()
    const conn = await this.#connect(url)
    this.#conn = conn
    this.#connOrigin = o
    return conn
  }

  async #perform (): Promise<void> {
    const cfg = this.cfg
    const st = this.st
    const first = cfg.url
    let url = cfg.url
    let method = cfg.method
    let body = cfg.body
    let dropBodyHeaders = false
    for (;;) {
      st.startSingle = now()
      st.urlEffective = url.href
      st.scheme = url.protocol.slice(0, -1)
      st.method = method
      st.sizeDownload = 0
      st.expected = -1
      st.sizeUpload = 0
      const headers: string[] = []
      const crossOrigin = origin(url) !== origin(first)
      for (const [n, v] of cfg.headers) {
        const lower = n.toLowerCase()
        if (crossOrigin && !cfg.locationTrusted && CREDENTIAL_HEADERS.has(lower)) continue
        if (dropBodyHeaders && BODY_HEADERS.has(lower)) continue
        headers.push(n, v)
      }
      if (cfg.compressed && !cfg.headers.some(([n]) => n.toLowerCase() === 'accept-encoding')) {
        headers.push('Accept-Encoding', zstd ? 'gzip, deflate, br, zstd' : 'gzip, deflate, br')
      }
      const res = await this.#send(url, method, headers, body)
      // When the head arrived (natively), not when this code got to run.
      this.#mark('starttransfer', res.timings.firstByte)
      st.httpCode = res.status
      st.httpVersion = res.httpVersion === '2.0' ? '2' : res.httpVersion
      st.rawHeaders = res.rawHeaders
      const head = headText(res)
      st.sizeHeader += Buffer.byteLength(head, 'latin1')
      const cl = headerValue(res.rawHeaders, 'content-length')
      st.expected = cl !== undefined && /^\d+$/.test(cl.trim()) ? Number(cl) : -1
      if (this.#meter) {
        this.#meter.dlNow = 0
        this.#meter.dlTotal = st.expected
        this.#meter.ulNow = this.#meter.ulTotal = body?.length ?? 0
      }
      if (cfg.verbose) process.stderr.write(head.slice(0, -4).split('\r\n').map((l) => `< ${l}\n`).join('') + '<\n')
      if (cfg.include) await this.out.write(head)

      const location = res.status >= 300 && res.status < 400 && res.status !== 304 ? headerValue(res.rawHeaders, 'location') : undefined
      if (location !== undefined) {
        let next: URL | null = null
        try {
          next = new URL(location, url)
        } catch {}
        if (!cfg.location || (cfg.maxRedirs !== -1 && st.numRedirects >= cfg.maxRedirs)) {
          st.redirectUrl = next?.href ?? location
          if (cfg.location) {
            await res.body.dump()
            throw new Failure(47, `Maximum (${cfg.maxRedirs}) redirects followed`)
          }
        } else {
          if (!next) throw new Failure(3, `The redirect target URL could not be parsed: ${JSON.stringify(location)}`)
          if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new Failure(1, `Protocol "${next.protocol.slice(0, -1)}" not supported (redirect to ${next.href})`)
          this.#phase = 'transfer'
          await this.#consume(res, true)
          st.numRedirects++
          st.redirect = Math.round((now() - st.start) * 1000)
          const upper = method.toUpperCase()
          // curl: 303 turns anything but HEAD into GET; 301/302 turn POST into GET; 307/308
          // (and other 3xx) repeat the method and body.
          if ((res.status === 303 && upper !== 'GET' && upper !== 'HEAD') || ((res.status === 301 || res.status === 302) && upper === 'POST')) {
            this.#info(`Switch to GET because of the ${res.status} response`)
            method = 'GET'
            body = undefined
            dropBodyHeaders = true
          }
          this.#info(`Issue another request to this URL: '${next.href}'`)
          url = next
          continue
        }
      }
      await this.#consume(res, false)
      return
    }
  }

  /** Sends one request; retries once on a new connection when a reused one was closed before sending. */
  async #send (url: URL, method: string, headers: string[], body: Buffer | undefined): Promise<ClientResponse> {
    const st = this.st
    const target = url.pathname + url.search
    for (let attempt = 0; ; attempt++) {
      const reused = this.#conn !== null && !this.#conn.closed && this.#connOrigin === origin(url)
      const conn = await this.#connectionFor(url)
      this.#mark('pretransfer')
      if (this.cfg.verbose) {
        process.stderr.write(`> ${method} ${target} HTTP/${conn.protocol === '2' ? '2' : '1.1'}\n`)
        const shown = headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'host') ? [] : ['Host', url.host]
        const all = [...shown, ...headers]
        for (let i = 0; i < all.length; i += 2) process.stderr.write(`> ${all[i]}: ${all[i + 1]}\n`)
        process.stderr.write('>\n')
      }
      try {
        const res = await conn.request({ method, path: target, headers, body, signal: this.abort.signal })
        st.sizeUpload = body?.length ?? 0
        return res
      } catch (err) {
        if (reused && attempt === 0 && err instanceof HyperError && err.requestSent === false && !this.abort.signal.aborted) {
          this.#info('The reused connection was closed; connecting again')
          this.#conn = null
          conn.destroy()
          continue
        }
        throw err
      }
    }
  }

  /** Reads the body: to the output (decoded with --compressed), or discarded for a redirect. */
  async #consume (res: ClientResponse, discard: boolean): Promise<void> {
    const st = this.st
    const meter = this.#meter
    const counter = new Transform({
      transform (chunk: Buffer, _enc, cb) {
        st.sizeDownload += chunk.length
        if (meter) meter.dlNow = st.sizeDownload
        cb(null, chunk)
      },
    })
    if (discard) {
      const sink = new Writable({ write (_c, _e, cb) { cb() } })
      try {
        await pipeline(res.body, counter, sink)
      } catch (err) {
        throw classifyError(err, 'body')
      }
      return
    }
    const noBody = this.st.method.toUpperCase() === 'HEAD' || res.status === 204 || res.status === 304
    const decoders = this.cfg.compressed && !noBody ? decodersFor(headerValue(res.rawHeaders, 'content-encoding')) : []
    const sink = this.out.sink()
    // The first stage to fail tells what failed: the network, the decoding, or the output.
    let origin: 'network' | 'decode' | 'output' | null = null
    const stages: [Readable | Writable, 'network' | 'decode' | 'output'][] = [[res.body, 'network'], [counter, 'network'],
      ...decoders.map((d): [Decoder, 'decode'] => [d, 'decode']), [sink, 'output']]
    for (const [s, kind] of stages) s.once('error', () => { origin ??= kind })
    try {
      await pipeline([res.body, counter, ...decoders, sink])
    } catch (err) {
      if (err instanceof Failure) throw err
      if (origin === 'decode') throw new Failure(61, `Error while processing content unencoding: ${(err as Error).message}`, { cause: err })
      if (origin === 'output') throw new Failure(23, `Failure writing output to destination: ${(err as Error).message}`, { cause: err })
      if (err instanceof AbortError) throw err
      const f = classifyError(err, 'body')
      if (f.exitCode === 18 && st.expected >= 0) {
        throw new Failure(18, `transfer closed with ${st.expected - st.sizeDownload} bytes remaining to read`, { cause: err })
      }
      throw f
    }
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code })
}
