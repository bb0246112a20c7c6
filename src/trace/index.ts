/**
 * The tracer's public surface: start a trace of a process tree or container, probe the tiers.
 *
 *   const session = await startTrace({ pid }, { mode: 'observe' });   // or { cgroupId }
 *   for await (const batch of session) for (const e of batch) ...;    // TraceEvent batches
 *   const stats = await session.stop();                               // drains, detaches, frees
 *
 * Events are WireEvent instances: kind-specific fields and strings are getters decoded on first
 * read, so property access works as on any TraceEvent, but spreading (`{...e}`) or Object.keys
 * does not see them: use `e.toJSON()` (JSON.stringify calls it) for a plain object. `phase` is a
 * plain writable field. Any `stats.drops > 0` means the trace is incomplete.
 */
export { BATCH_BYTES, startTrace } from './session.js';
export type { TraceOptions, TraceSession, TraceStats, TraceTarget } from './session.js';
export { probeTiers } from './tiers.js';
export type { Tier } from './tiers.js';
export { decodeBatch, WireEvent } from './decode.js';
export { SharedTrace } from './shared.js';
export type { LeaseStats, TraceLease } from './shared.js';
