import { SANDBOX_LAYOUT } from './sandbox-layout.js';

/**
 * Canary secrets planted in the sandbox, shared by the drivers that plant them, the vet that spots
 * reads of them and the writers that mask them. They look like what a payload hunts for, hold
 * nothing real, and carry a marker so any output that echoes them can be spotted and masked.
 */
export const DECOY_MARKER = 'LTRACK-DECOY';

const HOME = SANDBOX_LAYOUT.home;

/** Each decoy file's path in the sandbox and its content. */
export const DECOY_FILES: Readonly<Record<string, string>> = Object.freeze({
  [`${HOME}/.ssh/id_rsa`]: `-----BEGIN OPENSSH PRIVATE KEY-----\n${DECOY_MARKER}-b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB\n-----END OPENSSH PRIVATE KEY-----\n`,
  [`${HOME}/.aws/credentials`]: `[default]\naws_access_key_id = AKIA${DECOY_MARKER}0000\naws_secret_access_key = ${DECOY_MARKER}/wJalrXUtnFEMIK7MDENG\n`,
  [`${HOME}/.netrc`]: `machine huggingface.co login ltrack password ${DECOY_MARKER}-hf-netrc\n`,
});

/** Decoy environment variables the harness starts with. */
export const DECOY_ENV: Readonly<Record<string, string>> = Object.freeze({
  HF_TOKEN: `hf_${DECOY_MARKER}0000000000000000`,
  AWS_SECRET_ACCESS_KEY: `${DECOY_MARKER}/env/wJalrXUtnFEMIK7MDENG`,
});

/** A decoy's identity as the kernel reports a file_open of it: inode and s_dev. */
export interface DecoyIdentity {
  /** where it is planted in the sandbox */
  path: string;
  inode: number;
  /** kernel encoding (major << 20 | minor), as in TraceEvent.dev */
  dev: number;
}
