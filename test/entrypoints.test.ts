// The package's ESM and CommonJS entry points expose one module instance (no dual-package
// hazard): the same classes, so `instanceof` works across import styles.
import { describe, it, expect } from 'vitest'
import { createRequire } from 'node:module'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import * as esm from '../dist/esm/index.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const require = createRequire(import.meta.url)

describe('entry points', () => {
  it('require() and import give the same classes', () => {
    const cjs = require(root)
    expect(cjs.ClientConn).toBe(esm.ClientConn)
    expect(cjs.HyperError).toBe(esm.HyperError)
    expect(Object.keys(cjs).sort()).toEqual(Object.keys(esm).filter((k) => k !== 'default').sort())
  })

  it('resolves through package.json exports from both module systems', () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e',
      "import { hyperVersion } from 'node-hyper'; import { createRequire } from 'node:module'; " +
      "const r = createRequire(import.meta.url); console.log(hyperVersion === r('node-hyper').hyperVersion)"],
    { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' } })
    expect(out.trim()).toBe('true')
  })
})

describe('load failures', () => {
  it('a missing or broken binary gives advice, not a bare dlopen error', () => {
    const r = (() => {
      try {
        execFileSync(process.execPath, ['-e', `require(${JSON.stringify(root)})`], {
          env: { ...process.env, NODE_HYPER_BINARY: '/nonexistent/node_hyper.node' }, encoding: 'utf8', stdio: 'pipe',
        })
        return ''
      } catch (e) {
        return String((e as { stderr: string }).stderr)
      }
    })()
    expect(r).toContain('ERR_NODE_HYPER_LOAD')
    expect(r).toContain(`could not load the native addon for ${process.platform}-${process.arch}`)
    expect(r).toContain('--build-from-source')
    expect(r).toContain('GLIBC')
  })
})
