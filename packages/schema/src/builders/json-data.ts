/**
 * The envelope of Broker's JSON v1 data model: `{"@data-type": T, "data": V}`.
 *
 * @module
 */
import { FAIL, type IssueSink, show } from '../issues.js'

/** Broker's `none`, the JSON of an unset optional value. */
export const NONE = '{"@data-type":"none","data":{}}'

/** The JSON text of a value with data type `type` and data text `data`. */
export function wrap(type: string, data: string): string {
  return `{"@data-type":"${type}","data":${data}}`
}

function isObject(json: unknown): json is Record<string, unknown> {
  return typeof json === 'object' && json !== null && !Array.isArray(json)
}

/** Whether `json` is Broker's `none`. */
export function isNone(json: unknown): boolean {
  return isObject(json) && json['@data-type'] === 'none'
}

/** The `data` of `json` when its `@data-type` is `type`; otherwise reports a `type` issue and returns FAIL. */
export function unwrap(json: unknown, type: string, path: string, sink: IssueSink): unknown {
  if (!isObject(json)) {
    sink.add(path, 'type', `expected {"@data-type":"${type}","data":…}, got ${show(json)}`)
    return FAIL
  }
  const actual = json['@data-type']
  if (actual !== type) {
    const got = typeof actual === 'string' ? JSON.stringify(actual) : show(actual)
    sink.add(path, 'type', `expected @data-type "${type}", got ${got}`)
    return FAIL
  }
  if (!('data' in json)) {
    sink.add(path, 'missing', `a "${type}" value has no "data"`)
    return FAIL
  }
  return json.data
}
