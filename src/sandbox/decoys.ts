import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SANDBOX_LAYOUT } from '../core/sandbox-layout.js';

/**
 * Canary secrets planted in the sandbox. They look like what a payload hunts for, hold nothing
 * real, and carry a marker so any output that echoes them can be spotted and masked.
 */
export const DECOY_MARKER = 'LTRACK-DECOY';

const FILES: Record<string, string> = {
  '/home/ltrack/.ssh/id_rsa': `-----BEGIN OPENSSH PRIVATE KEY-----\n${DECOY_MARKER}-b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB\n-----END OPENSSH PRIVATE KEY-----\n`,
  '/home/ltrack/.aws/credentials': `[default]\naws_access_key_id = AKIA${DECOY_MARKER}0000\naws_secret_access_key = ${DECOY_MARKER}/wJalrXUtnFEMIK7MDENG\n`,
  '/home/ltrack/.netrc': `machine huggingface.co login ltrack password ${DECOY_MARKER}-hf-netrc\n`,
};

export const DECOY_ENV: Record<string, string> = {
  HF_TOKEN: `hf_${DECOY_MARKER}0000000000000000`,
  AWS_SECRET_ACCESS_KEY: `${DECOY_MARKER}/env/wJalrXUtnFEMIK7MDENG`,
};

/**
 * Writes the decoy sources into `dir` (mounted read-only in the sandbox at `mountedAt`) and returns
 * the harness's map of sandbox destination → sandbox source; the harness copies them into HOME.
 */
export async function writeDecoys(dir: string, mountedAt: string): Promise<Record<string, string>> {
  await mkdir(dir, { recursive: true });
  const plan: Record<string, string> = {};
  for (const [i, dest] of SANDBOX_LAYOUT.decoyFiles.entries()) {
    const name = `decoy-${i}`;
    await writeFile(join(dir, name), FILES[dest] ?? `${DECOY_MARKER}\n`, { mode: 0o644 });
    plan[dest] = `${mountedAt}/${name}`;
  }
  return plan;
}
