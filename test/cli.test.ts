import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import http from 'node:http'
import os from 'node:os'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import zlib from 'node:zlib'
import { execFile, execFileSync, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import http2 from 'node:http2'
import { httpServer, readAll, deadPort, pattern } from './helpers'
import { makePki } from './tls-certs'

const cli = fileURLToPath(new URL('../dist/cjs/cli.js', import.meta.url))
// The CLI's pure helpers (write-out rendering, progress meter columns, error classification).
const cliModule = createRequire(import.meta.url)(cli) as typeof import('../lib/cli')
const { SocketError, TlsError, ProtocolError } = createRequire(import.meta.url)('../dist/cjs/index.js') as typeof import('../lib/index')

interface Result { code: number, stdout: string, stderr: string }
function run (args: string[], input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [cli, ...args], { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr })
    })
    child.stdin!.end(input ?? '')
  })
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-cli-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

/** Parses `-w` output written as `name=value` lines. */
function vars (text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.trim().split('\n')) {
    const i = line.indexOf('=')
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

interface Echo { method: string, url: string, headers: http.IncomingHttpHeaders, body: string }

// One server for most tests: /echo answers with what it got (JSON), /redirect?code=&to= redirects,
// /encoded?enc= serves a body with Content-Encoding layers, /stall never answers.
const TEXT = 'the quick brown fox jumps over the lazy dog\n'.repeat(2000)
let srv: Awaited<ReturnType<typeof httpServer>>
let other: Awaited<ReturnType<typeof httpServer>>
beforeAll(async () => {
  const handler: http.RequestListener = async (req, res) => {
    const u = new URL(req.url!, 'http://x')
    const body = await readAll(req)
    if (u.pathname === '/redirect') {
      res.writeHead(Number(u.searchParams.get('code') ?? 302), { Location: u.searchParams.get('to') ?? '/echo' })
      res.end('redirect body')
      return
    }
    if (u.pathname === '/loop') {
      res.writeHead(302, { Location: '/loop' })
      res.end()
      return
    }
    if (u.pathname === '/encoded') {
      const encs = (u.searchParams.get('enc') ?? '').split(',').filter(Boolean)
      let b = Buffer.from(TEXT)
      const names: string[] = []
      for (const e of encs) {
        if (e === 'gzip') b = zlib.gzipSync(b)
        else if (e === 'deflate') b = zlib.deflateSync(b)
        else if (e === 'rawdeflate') b = zlib.deflateRawSync(b)
        else if (e === 'br') b = zlib.brotliCompressSync(b)
        else if (e === 'corrupt') b = Buffer.concat([zlib.gzipSync(b).subarray(0, 100), Buffer.alloc(100, 0xee)])
        else if (e === 'truncated') b = zlib.gzipSync(b).subarray(0, 200)
        names.push(e === 'rawdeflate' ? 'deflate' : e === 'corrupt' || e === 'truncated' ? 'gzip' : e)
      }
      res.writeHead(200, { 'Content-Encoding': names.join(', '), 'X-Accept-Encoding': String(req.headers['accept-encoding'] ?? '') })
      res.end(req.method === 'HEAD' ? undefined : b)
      return
    }
    if (u.pathname === '/stall') return
    if (u.pathname === '/stall-body') {
      res.writeHead(200, { 'Content-Length': '1000' })
      res.write('x'.repeat(100))
      return
    }
    if (u.pathname === '/big') {
      res.writeHead(200, { 'Content-Length': String(4 * 1024 * 1024) })
      res.end(pattern(4 * 1024 * 1024))
      return
    }
    res.setHeader('Content-Type', 'application/json')
    res.setHeader('X-Multi', ['one', 'two'])
    const echo: Echo = { method: req.method!, url: req.url!, headers: req.headers, body: body.toString() }
    res.end(JSON.stringify(echo))
  }
  srv = await httpServer(handler)
  other = await httpServer(handler)
})
afterAll(async () => {
  await srv.close()
  await other.close()
})

const base = (): string => `http://127.0.0.1:${srv.port}`

describe('node-hyper CLI: basics', () => {
  it('GET prints the body', async () => {
    const r = await run([`${base()}/echo?b=1`])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    expect((JSON.parse(r.stdout) as Echo).url).toBe('/echo?b=1')
  })

  it('-i prints the status line and raw headers first', async () => {
    const r = await run(['-i', `${base()}/echo`])
    expect(r.code).toBe(0)
    const [head, body] = r.stdout.split('\r\n\r\n')
    expect(head!.split('\r\n')[0]).toBe('HTTP/1.1 200 OK')
    expect(head).toContain('Content-Type: application/json')
    expect((JSON.parse(body!) as Echo).method).toBe('GET')
  })

  it('-d sends a body with POST; -X overrides; -H adds headers; -d @- reads stdin; -d @file reads a file', async () => {
    let r = await run(['-d', 'payload', '-H', 'X-Custom: yes', '-H', 'X-Empty;', `${base()}/echo`])
    let e = JSON.parse(r.stdout) as Echo
    expect([e.method, e.body, e.headers['x-custom'], e.headers['x-empty']]).toEqual(['POST', 'payload', 'yes', ''])
    r = await run(['-X', 'PUT', '-d', '@-', `${base()}/echo`], 'from stdin')
    e = JSON.parse(r.stdout) as Echo
    expect([e.method, e.body]).toEqual(['PUT', 'from stdin'])
    const file = path.join(tmp, 'data.txt')
    fs.writeFileSync(file, 'from a file')
    r = await run(['-d', `@${file}`, `${base()}/echo`])
    expect((JSON.parse(r.stdout) as Echo).body).toBe('from a file')
    r = await run(['-d', `@${path.join(tmp, 'missing')}`, `${base()}/echo`])
    expect(r.code).toBe(26)
    expect(r.stderr).toContain('ENOENT')
  })

  it('-v prints the connection, the request and the response heads to stderr', async () => {
    const r = await run(['-v', `${base()}/v`])
    expect(r.stderr).toContain(`* Connected to 127.0.0.1 (127.0.0.1) port ${srv.port}`)
    expect(r.stderr).toContain('> GET /v HTTP/1.1')
    expect(r.stderr).toContain('< HTTP/1.1 200 OK')
    expect(r.stderr).not.toMatch(/^< \r?$/m)
    expect((JSON.parse(r.stdout) as Echo).url).toBe('/v')
  })

  it('a URL without a scheme gets http://', async () => {
    const r = await run(['-w', '\n%{url} %{url_effective}', `127.0.0.1:${srv.port}/echo`])
    expect(r.code).toBe(0)
    const [body, w] = r.stdout.split('\n')
    expect((JSON.parse(body!) as Echo).url).toBe('/echo')
    expect(w).toBe(`127.0.0.1:${srv.port}/echo ${base()}/echo`)
  })

  it('--resolve connects to the given address for a host name; the Host header keeps the name', async () => {
    const r = await run(['--resolve', `api.test:${srv.port}:127.0.0.1`, '-w', '\n%{remote_ip} %{remote_port}', `http://api.test:${srv.port}/echo`])
    expect(r.code).toBe(0)
    const [body, w] = r.stdout.split('\n')
    expect((JSON.parse(body!) as Echo).headers.host).toBe(`api.test:${srv.port}`)
    expect(w).toBe(`127.0.0.1 ${srv.port}`)
  })

  it('a refused connection exits 7 with the error code', async () => {
    const port = await deadPort()
    const r = await run([`http://127.0.0.1:${port}/`])
    expect(r.code).toBe(7)
    expect(r.stderr).toContain(`node-hyper: (7) Failed to connect to 127.0.0.1 port ${port}`)
    expect(r.stderr).toContain('ECONNREFUSED')
  })

  it('-s hides error messages, -S brings them back; the exit code stays', async () => {
    const url = `http://127.0.0.1:${await deadPort()}/`
    expect(await run(['-s', url])).toEqual({ code: 7, stdout: '', stderr: '' })
    const shown = await run(['-sS', url])
    expect(shown.code).toBe(7)
    expect(shown.stderr).toContain('ECONNREFUSED')
  })

  it('server failures map to curl exit codes: empty reply 52, malformed reply 8, body cut short 18', async () => {
    const raw = net.createServer((s) => {
      s.on('error', () => {})
      s.once('data', (d) => {
        const p = d.toString().split(' ')[1]
        if (p === '/empty') s.end()
        else if (p === '/weird') s.end('garbage\r\n\r\n')
        else s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc')
      })
    })
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve))
    const port = (raw.address() as net.AddressInfo).port
    try {
      const [empty, weird, short] = await Promise.all(['/empty', '/weird', '/short'].map((p) => run([`http://127.0.0.1:${port}${p}`])))
      expect([empty!.code, weird!.code, short!.code]).toEqual([52, 8, 18])
      expect(empty!.stderr).toContain('Empty reply from server')
      expect(short!.stderr).toContain('transfer closed with 97 bytes remaining to read')
      expect(short!.stdout).toBe('abc')
    } finally {
      await new Promise((resolve) => raw.close(resolve))
    }
  })

  it('an output file that cannot be created exits 23', async () => {
    const r = await run(['-o', path.join(tmp, 'no-such-dir', 'out'), `${base()}/echo`])
    expect(r.code).toBe(23)
    expect(r.stderr).toContain('ENOENT')
  })

  it('https: --cacert verifies, -k skips verification, --http2 / ALPN pick the protocol', async () => {
    const pki = makePki()
    const caFile = path.join(pki.dir, 'ca.pem')
    fs.writeFileSync(caFile, pki.ca)
    const server = http2.createSecureServer({ ...pki.good, allowHTTP1: true }, (req, res) => res.end(`v=${req.httpVersion}`))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    const url = `https://localhost:${port}/`
    try {
      const ok = await run(['-v', '--cacert', caFile, '--resolve', `localhost:${port}:127.0.0.1`, '-w', '\n%{http_version} %{scheme} %{ssl_verify_result}|%{time_connect} %{time_appconnect} %{time_pretransfer}', url])
      expect(ok.code).toBe(0)
      const [out, times] = ok.stdout.split('|')
      expect(out).toBe('v=2.0\n2 https 0')
      // TCP connected, then the TLS handshake done: two measured steps, in order.
      const [connect, appconnect, pretransfer] = times!.split(' ').map(Number)
      expect(connect).toBeGreaterThan(0)
      expect(appconnect).toBeGreaterThan(connect!)
      expect(pretransfer).toBeGreaterThanOrEqual(appconnect!)
      expect(ok.stderr).toMatch(/TLSv1\.3 .*ALPN h2/)
      const h1 = await run(['--http1.1', '--cacert', caFile, '-w', '\n%{http_version}', url])
      expect(h1.stdout).toBe('v=1.1\n1.1')
      const untrusted = await run([url])
      expect(untrusted.code).toBe(60)
      expect(untrusted.stderr).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE')
      const insecure = await run(['-k', '-w', '\n%{ssl_verify_result}', url])
      expect(insecure.code).toBe(0)
      expect(insecure.stdout).toBe('v=2.0\n21')
      // TLS options with an http: URL are a usage error unless -L may lead to https:.
      expect((await run(['--cacert', caFile, `${base()}/echo`])).code).toBe(2)
      expect((await run(['-L', '--cacert', caFile, `${base()}/echo`])).code).toBe(0)
      const badCa = path.join(pki.dir, 'bad-ca.pem')
      fs.writeFileSync(badCa, 'not a certificate')
      expect((await run(['--cacert', badCa, url])).code).toBe(77)
      expect((await run(['--cacert', path.join(pki.dir, 'missing.pem'), url])).code).toBe(77)
    } finally {
      server.close()
      fs.rmSync(pki.dir, { recursive: true, force: true })
    }
  })

  it('--http2 on http: (h2c): -i shows curl\'s HTTP/2 status line, size_header counts the head as shown', async () => {
    const server = http2.createServer((_req, res) => { res.setHeader('content-type', 'text/plain'); res.end('h2 body') })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const r = await run(['--http2', '-i', '-w', '\n%{http_version} %{size_header}', `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`])
      expect(r.code).toBe(0)
      const [head, rest] = r.stdout.split('\r\n\r\n')
      expect(head!.split('\r\n')[0]).toBe('HTTP/2 200 ')
      expect(rest).toBe(`h2 body\n2 ${head!.length + 4}`)
    } finally {
      server.close()
    }
  })

  it('--unix-socket and -o', async () => {
    const sock = path.join(tmp, 's.sock')
    const server = http.createServer((req, res) => res.end(`host=${req.headers.host}`))
    await new Promise<void>((resolve) => server.listen(sock, resolve))
    const out = path.join(tmp, 'out.txt')
    try {
      const r = await run(['--unix-socket', sock, '-o', out, '-w', '%{remote_ip}|%{remote_port}|%{filename_effective}', 'http://svc.local/x'])
      expect(r.code).toBe(0)
      expect(r.stdout).toBe(`||${out}`)
      expect(fs.readFileSync(out, 'utf8')).toBe('host=svc.local')
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('node-hyper CLI: argument validation happens before any connection', () => {
  it('bad methods, headers, URLs and numbers exit 2 with a clear message, and nothing connects', async () => {
    let connections = 0
    const counting = net.createServer((s) => { connections++; s.destroy() })
    await new Promise<void>((resolve) => counting.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(counting.address() as net.AddressInfo).port}/`
    const cases: [string[], RegExp][] = [
      [['-X', 'BAD METHOD', url], /-X: method must be a valid HTTP token: "BAD METHOD"/],
      [['-X', '', url], /-X: method must be a valid HTTP token/],
      [['-X', 'GET\r\n', url], /-X: method must be a valid HTTP token/],
      [['-H', 'no-colon', url], /-H: bad header/],
      [['-H', ': value', url], /-H: bad header/],
      [['-H', 'Bad Name: x', url], /-H: header name must be a valid HTTP token/],
      [['-H', 'X-A: 1\r\nX-Injected: 2', url], /-H: invalid character in header "X-A"/],
      [['-H', 'X-A: 1\nX-Injected: 2', url], /-H: invalid character in header "X-A"/],
      [['ftp://127.0.0.1/'], /unsupported URL scheme: ftp:/],
      [['http://[::1/'], /invalid URL/],
      [['-m', 'abc', url], /-m\/--max-time: expected a number of seconds, got "abc"/],
      [['-m', '1e3', url], /-m\/--max-time: expected a number of seconds/],
      [['--max-time=-1', url], /-m\/--max-time: expected a number of seconds, got "-1"/],
      [['--connect-timeout', 'soon', url], /--connect-timeout: expected a number of seconds/],
      [['--max-redirs', '1.5', url], /--max-redirs: expected a whole number or -1/],
      [['--max-redirs=-2', url], /--max-redirs: expected a whole number or -1/],
      [['--resolve', 'host:80', url], /--resolve: expected HOST:PORT:ADDRESS/],
      [['--resolve', 'host:80:not-an-ip', url], /--resolve: expected HOST:PORT:ADDRESS/],
      [['--http2', '--http1.1', url], /--http2 and --http1.1 exclude each other/],
      [['--pass', 'x', url.replace('http:', 'https:')], /--pass needs --key/],
      [['-d', '@-', '-w', '@-', url], /cannot both read stdin/],
      [['--bogus', url], /Unknown option '--bogus'/],
      [[], /missing URL/],
      [[url, url], /expected exactly one URL/],
    ]
    try {
      const results = await Promise.all(cases.map(([args]) => run(args)))
      results.forEach((r, i) => {
        const [args, message] = cases[i]!
        expect({ args, code: r.code }).toEqual({ args, code: 2 })
        expect(r.stderr).toMatch(message)
        expect(r.stderr).toContain("try 'node-hyper --help'")
        expect(r.stdout).toBe('')
      })
      expect(connections).toBe(0)
    } finally {
      await new Promise((resolve) => counting.close(resolve))
    }
  })

  it('-h prints the usage, -V the versions', async () => {
    const h = await run(['-h'])
    expect(h.code).toBe(0)
    expect(h.stdout).toContain('--write-out FORMAT')
    expect(h.stdout).toContain('Exit status')
    const v = await run(['-V'])
    expect(v.stdout).toMatch(/^node-hyper \d+\.\d+\.\d+ \(hyper \d+\.\d+\.\d+\)\n$/)
  })
})

describe('node-hyper CLI: -w / --write-out', () => {
  const ALL = ['http_code', 'response_code', 'http_version', 'size_download', 'size_header', 'size_upload', 'speed_download',
    'time_namelookup', 'time_connect', 'time_appconnect', 'time_pretransfer', 'time_starttransfer', 'time_total', 'time_redirect',
    'num_redirects', 'num_connects', 'num_headers', 'url_effective', 'redirect_url', 'remote_ip', 'remote_port', 'local_ip', 'local_port',
    'content_type', 'exitcode', 'errormsg', 'scheme', 'method', 'size_delivered', 'url']

  it('reports status, sizes and monotonic timings as curl does', async () => {
    const format = ALL.map((v) => `${v}=%{${v}}`).join('\\n') + '\\n'
    const r = await run(['-d', 'hello', '-w', `\\n${format}`, `${base()}/echo`])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    const i = r.stdout.indexOf('\n')
    const body = r.stdout.slice(0, i)
    const v = vars(r.stdout.slice(i + 1))
    expect(v).toMatchObject({
      http_code: '200', response_code: '200', http_version: '1.1', size_download: String(Buffer.byteLength(body)), size_upload: '5',
      num_redirects: '0', num_connects: '1', url_effective: `${base()}/echo`, redirect_url: '', remote_ip: '127.0.0.1',
      remote_port: String(srv.port), local_ip: '127.0.0.1', content_type: 'application/json', exitcode: '0', errormsg: '', scheme: 'http',
      method: 'POST', size_delivered: String(Buffer.byteLength(body)), url: `${base()}/echo`, time_appconnect: '0.000000',
      time_redirect: '0.000000',
    })
    expect(v.local_port).toMatch(/^[1-9]\d*$/)
    // size_header: the status line and headers as HTTP/1 text, with CRLFs and the blank line.
    expect(Number(v.size_header)).toBeGreaterThan('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n'.length)
    expect(Number(v.num_headers)).toBeGreaterThanOrEqual(5)
    for (const t of ['time_namelookup', 'time_connect', 'time_pretransfer', 'time_starttransfer', 'time_total']) {
      expect(v[t]).toMatch(/^\d+\.\d{6}$/)
    }
    const n = (k: string): number => Number(v[k])
    expect(n('time_namelookup')).toBeGreaterThan(0)
    expect(n('time_namelookup')).toBeLessThanOrEqual(n('time_connect'))
    expect(n('time_connect')).toBeLessThanOrEqual(n('time_pretransfer'))
    expect(n('time_pretransfer')).toBeLessThanOrEqual(n('time_starttransfer'))
    expect(n('time_starttransfer')).toBeLessThanOrEqual(n('time_total'))
    expect(n('time_total')).toBeLessThan(30)
    // bytes per second over the whole operation, as a whole number
    expect(Math.abs(Number(v.speed_download) - n('size_download') / n('time_total'))).toBeLessThanOrEqual(1)
  })

  it('formats: escapes, %%, unknown variables warn and print nothing, %header{}, %{stderr}, %{json}, %{header_json}', async () => {
    const r = await run(['-o', path.join(tmp, 'fmt.out'), '-w', 'a\\tb\\r\\n100%% %{nope}|%header{x-multi}|%header{X-MISSING}|\\\\ \\q %x %{stderr}to-stderr %{stdout}|%{json}', `${base()}/echo`])
    expect(r.code).toBe(0)
    const [plain, json] = r.stdout.split('|{')
    // %header{} is the first value of a repeated header, as curl
    expect(plain).toBe('a\tb\r\n100% |one||\\\\ \\q %x ')
    const j = JSON.parse(`{${json}`) as Record<string, unknown>
    expect(j).toMatchObject({ http_code: 200, http_version: '1.1', exitcode: 0, errormsg: null, local_ip: '127.0.0.1', num_redirects: 0 })
    expect(j.local_port).toBeTypeOf('number')
    expect(typeof j.time_total).toBe('number')
    expect(r.stderr).toBe("node-hyper: unknown --write-out variable: 'nope'\nto-stderr ")
    const h = await run(['-w', '%{header_json}', '-o', path.join(tmp, 'fmt.out'), `${base()}/echo`])
    expect((JSON.parse(h.stdout) as Record<string, string[]>)['x-multi']).toEqual(['one', 'two'])
  })

  it('%output{file} and %output{>>file} write to files; a file that cannot be opened keeps the previous destination', async () => {
    const file = path.join(tmp, 'wo.txt')
    fs.writeFileSync(file, 'old\n')
    const r = await run(['-o', path.join(tmp, 'x'), '-w', `a%output{>>${file}}b%{http_code}%output{${path.join(tmp, 'no', 'dir')}}c%{stdout}d`, `${base()}/echo`])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('ad')
    expect(fs.readFileSync(file, 'utf8')).toBe('old\nb200c')
    await run(['-o', path.join(tmp, 'x'), '-w', `%output{${file}}new`, `${base()}/echo`])
    expect(fs.readFileSync(file, 'utf8')).toBe('new')
  })

  it('reads the format from a file (@file) or stdin (@-)', async () => {
    const file = path.join(tmp, 'format.txt')
    fs.writeFileSync(file, 'code=%{http_code}\n')
    const out = path.join(tmp, 'w.out')
    expect((await run(['-o', out, '-w', `@${file}`, `${base()}/echo`])).stdout).toBe('code=200\n')
    expect((await run(['-o', out, '-w', '@-', `${base()}/echo`], 'stdin=%{http_code}')).stdout).toBe('stdin=200')
  })

  it('is written on failure too: http_code 000, exitcode and errormsg; %{onerror} limits output to failures', async () => {
    const url = `http://127.0.0.1:${await deadPort()}/`
    const r = await run(['-s', '-w', '%{http_code} %{exitcode} %{errormsg}', url])
    expect(r.code).toBe(7)
    expect(r.stdout).toMatch(/^000 7 Failed to connect to 127\.0\.0\.1 port \d+: ECONNREFUSED/)
    expect((await run(['-s', '-w', 'ok%{onerror}failed', url])).stdout).toBe('okfailed')
    expect((await run(['-o', path.join(tmp, 'x'), '-w', 'ok%{onerror}failed', `${base()}/echo`])).stdout).toBe('ok')
  })
})

describe('node-hyper CLI: -L / --location', () => {
  const redirect = (code: number, to: string): string => `${base()}/redirect?code=${code}&to=${encodeURIComponent(to)}`

  it('follows a chain of relative and absolute redirects on one connection; -i shows every head', async () => {
    const before = srv.connections()
    const url = redirect(301, `/redirect?code=302&to=${encodeURIComponent(`${base()}/redirect?code=307&to=/echo?end=1`)}`)
    const r = await run(['-L', '-i', '-w', '\nnum_redirects=%{num_redirects}\nnum_connects=%{num_connects}\nurl_effective=%{url_effective}\n' +
      'time_redirect=%{time_redirect}\ntime_starttransfer=%{time_starttransfer}\ntime_total=%{time_total}\nredirect_url=%{redirect_url}\n', url])
    expect(r.code).toBe(0)
    const statuses = [...r.stdout.matchAll(/^HTTP\/1\.1 (\d+)/gm)].map((m) => m[1])
    expect(statuses).toEqual(['301', '302', '307', '200'])
    const v = vars(r.stdout.slice(r.stdout.lastIndexOf('}') + 1))
    expect(v).toMatchObject({ num_redirects: '3', num_connects: '1', url_effective: `${base()}/echo?end=1`, redirect_url: '' })
    expect(Number(v.time_redirect)).toBeGreaterThan(0)
    expect(Number(v.time_redirect)).toBeLessThanOrEqual(Number(v.time_total))
    expect(Number(v.time_starttransfer)).toBeLessThanOrEqual(Number(v.time_total))
    expect(srv.connections() - before).toBe(1)
    expect(r.stdout).not.toContain('redirect body')
  })

  it('without -L prints the redirect response and reports redirect_url', async () => {
    const r = await run(['-w', '|%{http_code}|%{redirect_url}|%{num_redirects}', redirect(302, '/echo?x=1')])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`redirect body|302|${base()}/echo?x=1|0`)
  })

  it('303 turns POST into GET without the body; 301/302 turn POST into GET; 307/308 keep method and body', async () => {
    const cases: [number, string, string, string][] = [
      [303, 'POST', 'GET', ''], [303, 'PUT', 'GET', ''], [302, 'POST', 'GET', ''], [301, 'POST', 'GET', ''],
      [301, 'PUT', 'PUT', 'data'], [307, 'POST', 'POST', 'data'], [308, 'PUT', 'PUT', 'data'], [302, 'DELETE', 'DELETE', 'data'],
    ]
    const results = await Promise.all(cases.map(([code, method]) =>
      run(['-L', '-X', method, '-d', 'data', '-H', 'Content-Type: text/plain', '-w', '\n%{method}', redirect(code, '/echo')])))
    results.forEach((r, i) => {
      const [code, method, expectMethod, expectBody] = cases[i]!
      const [body, wMethod] = r.stdout.split('\n')
      const e = JSON.parse(body!) as Echo
      expect({ code, method, got: [e.method, e.body, wMethod] }).toEqual({ code, method, got: [expectMethod, expectBody, expectMethod] })
      if (expectBody === '') expect(e.headers['content-type']).toBeUndefined()
      else expect(e.headers['content-type']).toBe('text/plain')
    })
  })

  it('a redirect to another origin drops Authorization and Cookie (and Host); --location-trusted keeps them', async () => {
    const hdrs = ['-H', 'Authorization: Bearer secret', '-H', 'Cookie: a=1', '-H', 'X-Other: kept']
    // another port
    let r = await run(['-L', ...hdrs, '-w', '\n%{num_connects}', redirect(302, `http://127.0.0.1:${other.port}/echo`)])
    let [body, conns] = r.stdout.split('\n')
    let e = JSON.parse(body!) as Echo
    expect([e.headers.authorization, e.headers.cookie, e.headers['x-other'], conns]).toEqual([undefined, undefined, 'kept', '2'])
    // another host name, same port
    r = await run(['-L', ...hdrs, '--resolve', `a.test:${srv.port}:127.0.0.1`, '--resolve', `b.test:${srv.port}:127.0.0.1`,
      `http://a.test:${srv.port}/redirect?to=${encodeURIComponent(`http://b.test:${srv.port}/echo`)}`])
    e = JSON.parse(r.stdout) as Echo
    expect([e.headers.authorization, e.headers.cookie, e.headers.host]).toEqual([undefined, undefined, `b.test:${srv.port}`])
    // same origin keeps them
    r = await run(['-L', ...hdrs, redirect(302, '/echo')])
    e = JSON.parse(r.stdout) as Echo
    expect([e.headers.authorization, e.headers.cookie]).toEqual(['Bearer secret', 'a=1'])
    r = await run(['-L', '--location-trusted', ...hdrs, redirect(302, `http://127.0.0.1:${other.port}/echo`)])
    ;[body] = r.stdout.split('\n')
    e = JSON.parse(body!) as Echo
    expect([e.headers.authorization, e.headers.cookie]).toEqual(['Bearer secret', 'a=1'])
  })

  it('a redirect loop stops at --max-redirs with exit 47 (default 50)', async () => {
    let r = await run(['-L', '--max-redirs', '3', '-w', '%{num_redirects} %{redirect_url} %{exitcode}', `${base()}/loop`])
    expect(r.code).toBe(47)
    expect(r.stderr).toBe('node-hyper: (47) Maximum (3) redirects followed\n')
    expect(r.stdout).toBe(`3 ${base()}/loop 47`)
    r = await run(['-L', '-w', '%{num_redirects}', `${base()}/loop`])
    expect(r.code).toBe(47)
    expect(r.stdout).toBe('50')
    r = await run(['-L', '--max-redirs', '0', redirect(302, '/echo')])
    expect(r.code).toBe(47)
    expect(r.stderr).toContain('Maximum (0) redirects followed')
  })

  it('a redirect to an unsupported scheme exits 1', async () => {
    const r = await run(['-L', redirect(302, 'ftp://127.0.0.1/file')])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('Protocol "ftp" not supported')
  })
})

describe('node-hyper CLI: --compressed', () => {
  const expected = TEXT

  it('asks for gzip, deflate, br and decodes each, stacked encodings too', async () => {
    const encs = ['gzip', 'deflate', 'rawdeflate', 'br', 'gzip,br', 'deflate,gzip,br', '']
    const results = await Promise.all(encs.map((e) => run(['--compressed', '-i', '-w', '\n%{size_download}', `${base()}/encoded?enc=${e}`])))
    results.forEach((r, i) => {
      expect({ enc: encs[i], code: r.code }).toEqual({ enc: encs[i], code: 0 })
      const [head, rest] = r.stdout.split('\r\n\r\n')
      expect(head).toMatch(/X-Accept-Encoding: gzip, deflate, br(, zstd)?\r\n/)
      const j = rest!.lastIndexOf('\n')
      expect(rest!.slice(0, j) === expected).toBe(true)
      const size = Number(rest!.slice(j + 1))
      // size_download counts the bytes on the wire, before decoding
      if (encs[i]) expect(size).toBeLessThan(expected.length / 10)
      else expect(size).toBe(expected.length)
    })
  })

  it('without --compressed the body stays encoded and nothing is asked for', async () => {
    const out = path.join(tmp, 'raw.gz')
    const r = await run(['-o', out, '-w', '%header{x-accept-encoding}|%{size_download}', `${base()}/encoded?enc=gzip`])
    expect(r.code).toBe(0)
    const raw = fs.readFileSync(out)
    expect(r.stdout).toBe(`|${raw.length}`)
    expect(zlib.gunzipSync(raw).toString()).toBe(expected)
  })

  it('a corrupt, truncated or unknown encoding exits 61; a HEAD response is fine', async () => {
    const [corrupt, truncated, unknown, head] = await Promise.all([
      run(['--compressed', `${base()}/encoded?enc=corrupt`]),
      run(['--compressed', `${base()}/encoded?enc=truncated`]),
      run(['--compressed', '-H', 'X-Ignored: 1', `${base()}/encoded?enc=compress`]),
      run(['--compressed', '-X', 'HEAD', '-w', '%{http_code}', `${base()}/encoded?enc=gzip`]),
    ])
    expect(corrupt.code).toBe(61)
    expect(corrupt.stderr).toContain('Error while processing content unencoding')
    expect(truncated.code).toBe(61)
    expect(truncated.stderr).toContain('unexpected end of file')
    expect(unknown.code).toBe(61)
    expect(unknown.stderr).toContain('Unrecognized content encoding type: "compress"')
    expect(head).toEqual({ code: 0, stdout: '200', stderr: '' })
  })

  it('decodes as it streams: the first part is in the output file before the server sends the rest', async () => {
    const out = path.join(tmp, 'stream.out')
    fs.rmSync(out, { force: true })
    let sawFirstPart = false
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Encoding': 'gzip' })
      const gz = zlib.createGzip()
      gz.pipe(res)
      gz.write('first part\n')
      gz.flush(() => {
        // The rest is sent only once the client has written the decoded first part.
        const deadline = Date.now() + 20_000
        const poll = setInterval(() => {
          const got = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : ''
          if (got === 'first part\n' || Date.now() > deadline) {
            clearInterval(poll)
            sawFirstPart = got === 'first part\n'
            gz.end('second part\n')
          }
        }, 20)
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const r = await run(['--compressed', '-o', out, `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`])
      expect(r.code).toBe(0)
      expect(sawFirstPart).toBe(true)
      expect(fs.readFileSync(out, 'utf8')).toBe('first part\nsecond part\n')
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })
})

describe('node-hyper CLI: timeouts', () => {
  it('-m stops a server that never answers: exit 28 with curl\'s message', async () => {
    const started = Date.now()
    const r = await run(['-m', '0.5', '-w', '%{exitcode} %{http_code}', `${base()}/stall`])
    expect(r.code).toBe(28)
    expect(r.stderr).toMatch(/^node-hyper: \(28\) Operation timed out after \d+ milliseconds with 0 bytes received\n$/)
    expect(r.stdout).toBe('28 000')
    expect(Date.now() - started).toBeLessThan(15_000)
    const ms = Number(/after (\d+) milliseconds/.exec(r.stderr)![1])
    expect(ms).toBeGreaterThanOrEqual(490)
  })

  it('-m also bounds the body: reports the bytes received out of the length', async () => {
    const r = await run(['-m', '0.5', `${base()}/stall-body`])
    expect(r.code).toBe(28)
    expect(r.stderr).toMatch(/Operation timed out after \d+ milliseconds with 100 out of 1000 bytes received/)
    expect(r.stdout).toBe('x'.repeat(100))
  })

  it('--connect-timeout bounds connect + TLS handshake (a server that never completes the handshake)', async () => {
    const sockets = new Set<net.Socket>()
    const silent = net.createServer((s) => { sockets.add(s); s.on('error', () => {}) })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    try {
      const url = `https://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`
      const [ct, mt] = await Promise.all([run(['--connect-timeout', '0.4', url]), run(['-m', '0.4', url])])
      expect(ct.code).toBe(28)
      expect(ct.stderr).toMatch(/^node-hyper: \(28\) Connection timed out after \d+ milliseconds\n$/)
      expect(mt.code).toBe(28)
      expect(mt.stderr).toMatch(/Connection timed out after \d+ milliseconds/)
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })
})

describe('node-hyper CLI: progress meter', () => {
  it('is not drawn when stderr is not a terminal', async () => {
    const out = path.join(tmp, 'big.bin')
    const r = await run(['-o', out, `${base()}/big`])
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' })
    expect(fs.readFileSync(out).equals(pattern(4 * 1024 * 1024))).toBe(true)
  })

  let hasScript = false
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' })
    hasScript = true
  } catch {}

  it.skipIf(!hasScript)('is drawn on a terminal (pseudo-terminal from script(1)) for -o, not with -s', async () => {
    const out = path.join(tmp, 'big-tty.bin')
    const inTty = (args: string[]): Promise<{ code: number | null, text: string }> => new Promise((resolve) => {
      const cmd = [process.execPath, cli, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] })
      let text = ''
      child.stdout.on('data', (d: Buffer) => { text += d.toString('latin1') })
      child.on('close', (code) => resolve({ code, text }))
    })
    const shown = await inTty(['-o', out, `${base()}/big`])
    expect(shown.code).toBe(0)
    expect(shown.text).toContain('% Total    % Received % Xferd  Average Speed')
    expect(shown.text).toContain('Dload  Upload  Total   Spent   Left   Speed')
    // The last line: 100% of 4 MiB received.
    expect(shown.text).toMatch(/\r100  4.00M 100  4.00M   0      0 .*\r?\n$/)
    expect(fs.statSync(out).size).toBe(4 * 1024 * 1024)
    const silent = await inTty(['-s', '-o', out, `${base()}/big`])
    expect(silent).toEqual({ code: 0, text: '' })
  })

  it('columns follow curl: sizes in 6 columns, times in 7, percentages', () => {
    const { formatSize, formatDuration, progressLine } = cliModule
    expect([0, 99999, 100000, 1024 * 1024, 10 * 1024 * 1024, 1000 * 1024 * 1024, 5 * 1024 ** 4].map(formatSize))
      .toEqual(['     0', ' 99999', '97.65k', ' 1.00M', '10.00M', ' 0.97G', ' 5.00T'])
    expect([0, 5, 65, 3723, 36000 + 300, 3 * 86400 + 4 * 3600, 50 * 86400, 120 * 86400, 500 * 86400].map(formatDuration))
      .toEqual(['       ', '  00:05', '  01:05', '1:02:03', '10h 05m', '76h 00m', '50d 00h', '   120d', '   500d'])
    // 512 KiB of 1 MiB after 2 s: 50%, 256 KiB/s, 4 s in total, 2 s left
    expect(progressLine({ elapsedMs: 2000, dlNow: 512 * 1024, dlTotal: 1024 * 1024, ulNow: 0, ulTotal: -1, currentSpeed: 256 * 1024 }))
      .toBe(' 50  1.00M  50 512.0k   0      0 256.0k      0   00:04   00:02   00:02 256.0k')
    expect(progressLine({ elapsedMs: 1000, dlNow: 100, dlTotal: 100, ulNow: 5, ulTotal: 5, currentSpeed: 105 }))
      .toBe('100    105 100    100 100      5    100      5   00:01   00:01            105')
    // unknown length: no percentages, no estimate
    expect(progressLine({ elapsedMs: 0, dlNow: 0, dlTotal: -1, ulNow: 0, ulTotal: -1, currentSpeed: 0 }))
      .toBe(['  0', '     0', '  0', '     0', '  0', '     0', '     0', '     0', '       ', '       ', '       ', '     0'].join(' '))
  })
})

describe('node-hyper CLI: helpers', () => {
  it('maps node-hyper errors to curl exit codes', () => {
    const { classifyError } = cliModule
    const dnsErr = new SocketError('ENOTFOUND', 'getaddrinfo ENOTFOUND nowhere.invalid', { syscall: 'getaddrinfo' })
    expect(classifyError(dnsErr, 'connect').exitCode).toBe(6)
    expect(classifyError(new SocketError('ECONNREFUSED', 'connect ECONNREFUSED', { syscall: 'connect' }), 'connect').exitCode).toBe(7)
    expect(classifyError(new SocketError('ECONNRESET', 'read ECONNRESET', { syscall: 'read' }), 'request').exitCode).toBe(56)
    expect(classifyError(new SocketError('EPIPE', 'write EPIPE', { syscall: 'write' }), 'request').exitCode).toBe(55)
    expect(classifyError(new TlsError('CERT_HAS_EXPIRED', 'certificate has expired'), 'connect').exitCode).toBe(60)
    expect(classifyError(new TlsError('ERR_TLS_CERT_ALTNAME_INVALID', 'altname'), 'connect').exitCode).toBe(60)
    expect(classifyError(new TlsError('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version'), 'connect').exitCode).toBe(35)
    expect(classifyError(new TlsError('ERR_TLS_INVALID_KEY', 'bad key'), 'connect').exitCode).toBe(58)
    expect(classifyError(new ProtocolError('HYPER_UNEXPECTED_EOF', 'eof'), 'request').exitCode).toBe(52)
    expect(classifyError(new ProtocolError('HYPER_INVALID_PEER_MESSAGE', 'bad'), 'request').exitCode).toBe(8)
    expect(classifyError(new ProtocolError('HYPER_ERROR', 'body'), 'body').exitCode).toBe(18)
    expect(classifyError(new Error('other'), 'request').exitCode).toBe(1)
  })

  it('formats times with 6 decimals', () => {
    expect(cliModule.formatSeconds(0)).toBe('0.000000')
    expect(cliModule.formatSeconds(1)).toBe('0.000001')
    expect(cliModule.formatSeconds(12_345_678)).toBe('12.345678')
  })
})
