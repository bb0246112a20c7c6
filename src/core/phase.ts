/**
 * Where in a vet something happened. `static` is the static analysis; the others are the
 * sandbox harness phases in order (`startup` is before the harness's go marker, when only the
 * harness itself runs; no marker can enter it).
 */
export const PHASES = ['static', 'startup', 'install', 'import', 'load', 'probe'] as const;
export type Phase = (typeof PHASES)[number];
