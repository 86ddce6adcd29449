/**
 * Where the installed node-hyper package is (for the addon loader and the CLI's version).
 * @internal
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

let root: string | undefined

/** The directory of node-hyper's package.json, found by walking up from this module. */
export function packageRoot (): string {
  if (root !== undefined) return root
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const pj = path.join(dir, 'package.json')
    if (fs.existsSync(pj)) {
      try {
        if (JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'node-hyper') return (root = dir)
      } catch {}
    }
    if (path.dirname(dir) === dir) throw new Error('node-hyper: cannot find the package root from ' + __dirname)
  }
}

/** node-hyper's own version. */
export function packageVersion (): string {
  return JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version as string
}
