import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The repository (or installed package) root: dist/core/paths.js and src/core/paths.ts are two levels down. */
const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const projectPath = (...parts: string[]): string => join(PROJECT_ROOT, ...parts);
