/** The tracer's public surface: start a trace of a process tree or container, probe the tiers. */
export { startTrace } from './session.js';
export type { TraceOptions, TraceSession, TraceStats, TraceTarget } from './session.js';
export { probeTiers } from './tiers.js';
export type { Tier } from './tiers.js';
export { decodeBatch, WireEvent } from './decode.js';
