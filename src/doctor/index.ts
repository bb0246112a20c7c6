import { checkBpfLsm, checkBtf, checkBwrap, checkMounts, checkPrivileges, type Check } from './checks.js';
import { checkDocker, checkSandboxImage } from './sandbox-checks.js';
import { checkTracerTiers } from './trace-checks.js';

/** Every check `ltrack doctor` prints, in order. */
export async function runChecks(): Promise<Check[]> {
  return [
    await checkPrivileges(),
    await checkBtf(),
    await checkBpfLsm(),
    ...(await checkMounts()),
    ...(await checkTracerTiers()),
    await checkDocker(),
    await checkBwrap(),
    ...(await checkSandboxImage()),
  ];
}
