/**
 * node-hyper command line: a small curl-like client.
 *
 *   node-hyper [-X METHOD] [-H 'Name: value']... [-d DATA|@file|@-] [-i] [-v] [-o FILE]
 *              [--unix-socket PATH] [--cacert FILE] [-k] [--cert FILE --key FILE [--pass P]]
 *              [--http2 | --http1.1] URL
 *
 * Exit status: 0 for any HTTP response, 1 when the request failed, 2 for a usage error.
 * @internal
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { ClientConn, hyperVersion, type ConnectOptions, type TlsOptions } from './index.js'

const USAGE = `usage: node-hyper [options] URL

  -X, --request METHOD     request method (default GET, or POST with -d)
  -H, --header 'N: v'      add a request header (repeatable)
  -d, --data DATA          request body; @file reads a file, @- reads stdin
  -i, --include            print the response status line and headers before the body
  -v, --verbose            print the request and response heads to stderr
  -o, --output FILE        write the body to FILE instead of stdout
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
`

class UsageError extends Error {}

async function readStdin (): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

function packageVersion (): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const pj = path.join(dir, 'package.json')
    if (fs.existsSync(pj)) {
      const p = JSON.parse(fs.readFileSync(pj, 'utf8'))
      if (p.name === 'node-hyper') return p.version
    }
    if (path.dirname(dir) === dir) return 'unknown'
  }
}

export async function main (argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        request: { type: 'string', short: 'X' },
        header: { type: 'string', short: 'H', multiple: true },
        data: { type: 'string', short: 'd' },
        include: { type: 'boolean', short: 'i' },
        verbose: { type: 'boolean', short: 'v' },
        output: { type: 'string', short: 'o' },
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
      },
    })
  } catch (err) {
    process.stderr.write(`node-hyper: ${(err as Error).message}\n\n${USAGE}`)
    return 2
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
  try {
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing URL' : 'expected exactly one URL')
    let url: URL
    try {
      url = new URL(positionals[0]!)
    } catch {
      throw new UsageError(`invalid URL: ${positionals[0]}`)
    }
    const headers: string[] = []
    for (const h of values.header ?? []) {
      const i = h.indexOf(':')
      if (i <= 0) throw new UsageError(`bad header (expected 'Name: value'): ${h}`)
      headers.push(h.slice(0, i).trim(), h.slice(i + 1).trimStart())
    }
    let body: Buffer | undefined
    if (values.data !== undefined) {
      const d = values.data
      if (d === '@-') body = await readStdin()
      else if (d.startsWith('@')) body = fs.readFileSync(d.slice(1))
      else body = Buffer.from(d, 'utf8')
    }
    const method = values.request ?? (body !== undefined ? 'POST' : 'GET')
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`unsupported URL scheme: ${url.protocol}`)
    if (values.http2 && values['http1.1']) throw new UsageError('--http2 and --http1.1 exclude each other')
    const tlsFlags = values.cacert !== undefined || values.insecure || values.cert !== undefined || values.key !== undefined
    if (tlsFlags && url.protocol !== 'https:') throw new UsageError('TLS options need an https: URL')
    const options: ConnectOptions = {}
    if (values.http2) options.http2 = true
    else if (values['http1.1']) options.http2 = false
    if (url.protocol === 'https:') {
      const tls: TlsOptions = {}
      if (values.cacert !== undefined) tls.ca = fs.readFileSync(values.cacert, 'latin1')
      if (values.insecure) tls.rejectUnauthorized = false
      if (values.cert !== undefined) tls.cert = fs.readFileSync(values.cert, 'latin1')
      if (values.key !== undefined) tls.key = fs.readFileSync(values.key, 'latin1')
      if (values.pass !== undefined) tls.passphrase = values.pass
      options.tls = tls
    }
    return await run(url, method, headers, body, values, options)
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`node-hyper: ${err.message}\n\n${USAGE}`)
      return 2
    }
    const e = err as Error & { code?: string }
    process.stderr.write(`node-hyper: ${e.code ?? e.name}: ${e.message}\n`)
    return 1
  }
}

interface Flags { include?: boolean, verbose?: boolean, output?: string, 'unix-socket'?: string }

async function run (url: URL, method: string, headers: string[], body: Buffer | undefined, flags: Flags, options: ConnectOptions): Promise<number> {
  const socketPath = flags['unix-socket']
  const conn = socketPath
    ? await ClientConn.connect({ socketPath }, { ...options, host: url.host })
    : await ClientConn.connect(url.origin, options)
  try {
    const target = url.pathname + url.search
    if (flags.verbose) {
      if (conn.tls) {
        const t = conn.tls
        process.stderr.write(`* ${t.protocol} ${t.cipher}, ALPN ${t.alpnProtocol || 'none'}${t.authorized ? '' : `, NOT verified (${t.authorizationError})`}\n`)
      }
      process.stderr.write(`> ${method} ${target} HTTP/${conn.protocol === '2' ? '2' : '1.1'}\n`)
      const shown = headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'host') ? [] : ['Host', url.host]
      const all = [...shown, ...headers]
      for (let i = 0; i < all.length; i += 2) process.stderr.write(`> ${all[i]}: ${all[i + 1]}\n`)
      process.stderr.write('>\n')
    }
    const res = await conn.request({ method, path: target, headers, body })
    const head = [`HTTP/${res.httpVersion} ${res.status} ${res.statusText}`]
    for (let i = 0; i < res.rawHeaders.length; i += 2) head.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`)
    if (flags.verbose) process.stderr.write(head.map((l) => `< ${l}\n`).join('') + '<\n')
    const out = flags.output ? fs.createWriteStream(flags.output) : process.stdout
    if (flags.include) out.write(head.join('\r\n') + '\r\n\r\n')
    if (out === process.stdout) {
      for await (const chunk of res.body) {
        if (!process.stdout.write(chunk as Buffer)) await new Promise((r) => process.stdout.once('drain', r))
      }
    } else {
      await pipeline(res.body, out)
    }
    return 0
  } finally {
    await conn.close()
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code })
}
