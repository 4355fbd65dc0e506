/**
 * Where `--transport` and `--persistence` point: a module file, a package folder (through its
 * package.json, as Node would import it), or the name of an installed package; optionally
 * `#export` to pick the export.
 *
 * @module
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { UsageError } from '../errors.js'

/** A user module to test. */
export interface Target {
  /** Absolute path of the module file. */
  readonly file: string
  /** The export given after `#`, if any. */
  readonly exportName?: string
  /** How reports name it: the package name, or the path as given. */
  readonly label: string
}

/** The conditions Node uses for `import`, in the order a conditional export is matched. */
const IMPORT_CONDITIONS = new Set(['node', 'import', 'default'])

/** Resolves `spec` (the value of `--transport` or `--persistence`) from `cwd`. */
export function resolveTarget(spec: string, cwd: string, option: string): Target {
  if (spec.trim() === '')
    throw new UsageError(`--${option} needs a module: a file, a package folder or a package`)
  let path = spec
  let exportName: string | undefined
  const hash = spec.lastIndexOf('#')
  if (hash > 0 && !existsSync(resolve(cwd, spec))) {
    path = spec.slice(0, hash)
    exportName = spec.slice(hash + 1)
    if (!/^[A-Za-z_$][\w$]*$/.test(exportName)) {
      throw new UsageError(`--${option} ${spec}: '${exportName}' is not an export name`)
    }
  }
  const withExport = (target: { file: string; label: string }): Target =>
    exportName === undefined ? target : { ...target, exportName }

  const local = resolve(cwd, path)
  if (existsSync(local)) {
    if (statSync(local).isDirectory()) return withExport(packageEntry(local, `--${option} ${path}`, cwd))
    return withExport({ file: local, label: path })
  }
  if (isPathLike(path)) throw new UsageError(`--${option}: no such file or folder: ${local}`)
  const folder = findPackage(path, cwd)
  if (folder === undefined) {
    throw new UsageError(
      `--${option}: no such file, folder or installed package: ${path} (from ${cwd}); give a path like ./${path}`,
    )
  }
  return withExport(packageEntry(folder, `--${option} ${path}`, cwd))
}

function isPathLike(path: string): boolean {
  return isAbsolute(path) || path.startsWith('.') || path.includes('\\') || /\.[cm]?[jt]sx?$/.test(path)
}

/** The folder of the installed package `name`, looking in `node_modules` from `cwd` up. */
function findPackage(name: string, cwd: string): string | undefined {
  if (!/^(@[\w.-]+\/)?[\w.-]+$/.test(name)) return undefined
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return candidate
    if (dirname(dir) === dir) return undefined
  }
}

/** The module `import(folder)` would load: `exports['.']` (node, import, default), else `main`, else index.js. */
function packageEntry(folder: string, what: string, cwd: string): { file: string; label: string } {
  const manifest = join(folder, 'package.json')
  if (!existsSync(manifest)) {
    throw new UsageError(
      `${what}: a folder needs a package.json saying which module to load (or give the file)`,
    )
  }
  let pkg: { name?: unknown; exports?: unknown; main?: unknown }
  try {
    pkg = JSON.parse(readFileSync(manifest, 'utf8')) as typeof pkg
  } catch (error) {
    throw new UsageError(`${what}: cannot read ${manifest}: ${(error as Error).message}`, { cause: error })
  }
  const label = typeof pkg.name === 'string' ? pkg.name : relative(cwd, folder) || '.'
  let entry: string | undefined
  if (pkg.exports !== undefined && pkg.exports !== null) {
    entry = conditional(rootExport(pkg.exports))
    if (entry === undefined) {
      throw new UsageError(
        `${what}: ${label} has no '.' export for import (conditions node, import, default)`,
      )
    }
  } else {
    entry = typeof pkg.main === 'string' ? pkg.main : 'index.js'
  }
  const file = resolve(folder, entry)
  if (!file.startsWith(folder + sep) && file !== folder)
    throw new UsageError(`${what}: ${entry} is outside the package`)
  if (!existsSync(file)) {
    throw new UsageError(
      `${what}: ${label} loads ${entry}, which does not exist: build the package first (npm run build), ` +
        'or give its source file (a .ts file works)',
    )
  }
  return { file, label }
}

/** The `.` entry of an `exports` field (a string, an array, a map of subpaths or of conditions). */
function rootExport(exports: unknown): unknown {
  if (typeof exports !== 'object' || exports === null || Array.isArray(exports)) return exports
  const keys = Object.keys(exports)
  if (keys.some((k) => k.startsWith('.'))) return (exports as Record<string, unknown>)['.']
  return exports
}

/** Resolves a conditional export with Node's import conditions, keys in order. */
function conditional(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = conditional(item)
      if (found !== undefined) return found
    }
    return undefined
  }
  if (typeof value !== 'object' || value === null) return undefined
  for (const [condition, target] of Object.entries(value)) {
    if (!IMPORT_CONDITIONS.has(condition)) continue
    const found = conditional(target)
    if (found !== undefined) return found
  }
  return undefined
}
