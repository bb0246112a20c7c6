/** The sandbox's public surface: the image, the drivers, one run plan. */
export { ensureImage, imageStatus, requireImage } from './image.js';
export { dockerAnswers } from './docker-client.js';
export { resolveLimits } from './limits.js';
export { memoryForModels, parseMemory } from './sizing.js';
export { imageLoaderVersions } from './versions.js';
export type { LoaderVersions } from './versions.js';
export type { SandboxLimits } from './limits.js';
export { pickDriver, runSandbox } from './run.js';
export type { Driver, PhaseRecord, RunPlan, SandboxHooks, SandboxResult } from './plan.js';
export type { SinkRecord } from './sinkhole.js';
