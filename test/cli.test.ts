import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import http from 'node:http'
import os from 'node:os'
import fs from 'node:fs'
import path from 'node:path'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import https from 'node:https'
import http2 from 'node:http2'
import { httpServer, readAll, deadPort } from './helpers'
import { makePki } from './tls-certs'

const cli = fileURLToPath(new URL('../dist/cjs/cli.js', import.meta.url))
function run (args: string[], input?: string): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [cli, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr })
    })
    if (input !== undefined) child.stdin!.end(input)
  })
}

let srv: Awaited<ReturnType<typeof httpServer>>
beforeAll(async () => {
  srv = await httpServer(async (req, res) => {
    const body = await readAll(req)
    res.setHeader('X-Method', req.method!)
    res.setHeader('X-Got-Header', String(req.headers['x-custom'] ?? ''))
    res.end(body.length ? body : `path=${req.url}`)
  })
})
afterAll(() => srv.close())

describe('node-hyper CLI', () => {
  it('GET prints the body', async () => {
    const r = await run([`http://127.0.0.1:${srv.port}/a?b=1`])
    expect(r).toEqual({ code: 0, stdout: 'path=/a?b=1', stderr: '' })
  })

  it('-i prints the status line and raw headers first', async () => {
    const r = await run(['-i', `http://127.0.0.1:${srv.port}/`])
    expect(r.code).toBe(0)
    const [head, body] = r.stdout.split('\r\n\r\n')
    expect(head!.split('\r\n')[0]).toBe('HTTP/1.1 200 OK')
    expect(head).toContain('X-Method: GET')
    expect(body).toBe('path=/')
  })

  it('-d sends a body with POST; -X overrides; -H adds headers; -d @- reads stdin', async () => {
    let r = await run(['-d', 'payload', '-H', 'X-Custom: yes', '-i', `http://127.0.0.1:${srv.port}/`])
    expect(r.stdout).toContain('X-Method: POST')
    expect(r.stdout).toContain('X-Got-Header: yes')
    expect(r.stdout.endsWith('payload')).toBe(true)
    r = await run(['-X', 'PUT', '-d', '@-', `http://127.0.0.1:${srv.port}/`], 'from stdin')
    expect(r.stdout).toBe('from stdin')
  })

  it('-v prints the request and response heads to stderr', async () => {
    const r = await run(['-v', `http://127.0.0.1:${srv.port}/v`])
    expect(r.stderr).toContain('> GET /v HTTP/1.1')
    expect(r.stderr).toContain('< HTTP/1.1 200 OK')
    expect(r.stdout).toBe('path=/v')
  })

  it('usage errors exit 2', async () => {
    expect((await run([])).code).toBe(2)
    expect((await run(['-H', 'no-colon', `http://127.0.0.1:${srv.port}/`])).code).toBe(2)
    expect((await run(['--bogus', 'x'])).code).toBe(2)
  })

  it('a refused connection exits 1 with the error code', async () => {
    const port = await deadPort()
    const r = await run([`http://127.0.0.1:${port}/`])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('ECONNREFUSED')
  })

  it('https: --cacert verifies, -k skips verification, --http2 / ALPN pick the protocol', async () => {
    const pki = makePki()
    const caFile = path.join(pki.dir, 'ca.pem')
    fs.writeFileSync(caFile, pki.ca)
    const server = http2.createSecureServer({ ...pki.good, allowHTTP1: true }, (req, res) => res.end(`v=${req.httpVersion}`))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `https://localhost:${(server.address() as { port: number }).port}/`
    try {
      const ok = await run(['-v', '--cacert', caFile, url])
      expect(ok.code).toBe(0)
      expect(ok.stdout).toBe('v=2.0')
      expect(ok.stderr).toMatch(/TLSv1\.3 .*ALPN h2/)
      const h1 = await run(['--http1.1', '--cacert', caFile, url])
      expect(h1.stdout).toBe('v=1.1')
      const untrusted = await run([url])
      expect(untrusted.code).toBe(1)
      expect(untrusted.stderr).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE')
      const insecure = await run(['-k', url])
      expect(insecure.code).toBe(0)
      expect(insecure.stdout).toBe('v=2.0')
      expect((await run(['--cacert', caFile, `http://127.0.0.1:${srv.port}/`])).code).toBe(2)
    } finally {
      server.close()
    }
  })

  it('--unix-socket and -o', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-hyper-cli-'))
    const sock = path.join(dir, 's.sock')
    const server = http.createServer((req, res) => res.end(`host=${req.headers.host}`))
    await new Promise<void>((resolve) => server.listen(sock, resolve))
    const out = path.join(dir, 'out.txt')
    const r = await run(['--unix-socket', sock, '-o', out, 'http://svc.local/x'])
    expect(r.code).toBe(0)
    expect(fs.readFileSync(out, 'utf8')).toBe('host=svc.local')
    await new Promise((resolve) => server.close(resolve))
    fs.rmSync(dir, { recursive: true, force: true })
  })
})
