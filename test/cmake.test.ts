// The cmake-js build (CMakeLists.txt) produces a working addon from the same sources and the
// same cargo-built hyper archive, offline.
import { describe, it, expect } from 'vitest'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = path.join(root, 'build-cmake')

describe('cmake-js build', () => {
  it('builds and serves a request', () => {
    const cmakeJs = path.join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js')
    execFileSync(process.execPath, [cmakeJs, 'compile', '--out', out], { cwd: root, stdio: 'pipe' })
    const binary = path.join(out, 'Release', 'node_hyper.node')
    expect(fs.existsSync(binary)).toBe(true)
    const program = `
      const http = require('node:http')
      const { ClientConn, hyperVersion } = require(${JSON.stringify(root)})
      const server = http.createServer((req, res) => res.end('cmake ok'))
      server.listen(0, '127.0.0.1', async () => {
        const conn = await ClientConn.connect('http://127.0.0.1:' + server.address().port)
        const res = await conn.request()
        console.log(hyperVersion, await res.body.text())
        await conn.close()
        server.close()
      })`
    const stdout = execFileSync(process.execPath, ['-e', program], { env: { ...process.env, NODE_HYPER_BINARY: binary }, encoding: 'utf8' })
    expect(stdout.trim()).toBe('1.12.0 cmake ok')
  }, 300_000)
})
