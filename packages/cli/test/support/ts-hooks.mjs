/**
 * Module hooks that let Node 20 run this repository's TypeScript sources directly, for tests
 * that spawn `src/bin.ts`: `.js` specifiers fall back to the `.ts` file beside them, and
 * `.ts` files have their types erased by oxc (through rolldown, which vitest already brings),
 * or by TypeScript's `transpileModule` when that is not there.
 */
import { readFile } from 'node:fs/promises'

async function transformer() {
  try {
    const { transformSync } = await import('rolldown/experimental')
    return (url, source) => {
      const result = transformSync(new URL(url).pathname, source, { sourcemap: false })
      if (result.errors.length > 0) throw new Error(`${url}: ${result.errors[0].message}`)
      return result.code
    }
  } catch {
    const { default: ts } = await import('typescript')
    const compilerOptions = {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    }
    return (url, source) => ts.transpileModule(source, { fileName: url, compilerOptions }).outputText
  }
}

const transform = await transformer()

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context)
  } catch (error) {
    const relative = specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('file:')
    if (relative && specifier.endsWith('.js')) return next(`${specifier.slice(0, -3)}.ts`, context)
    throw error
  }
}

export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context)
  const source = await readFile(new URL(url), 'utf8')
  return { format: 'module', source: transform(url, source), shortCircuit: true }
}
