import { readFileSync } from 'node:fs';

/** The tool version, read once from package.json so there is one source for it. */
export const TOOL_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
