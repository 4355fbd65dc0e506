/**
 * Test helpers for code built on Concord: the in-memory transport (with fault injection)
 * and persistence (with crashes), a manual clock, and a seeded random source. Import from
 * `@concord/core/testing`.
 * @module
 */

export * from './memory/index.js'
export { type ManualClock, manualClock } from './util/manual-clock.js'
export { type SeededRandom, seededRandom } from './util/random.js'
