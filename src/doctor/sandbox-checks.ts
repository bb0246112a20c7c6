import type { Check } from './checks.js';
import { dockerAnswers, imageStatus } from '../sandbox/index.js';

export async function checkDocker(): Promise<Check> {
  const ok = await dockerAnswers();
  return {
    name: 'docker socket',
    ok,
    detail: ok ? 'dockerd answers on /var/run/docker.sock' : 'no docker daemon answers',
    fix: ok ? '' : 'start dockerd (scripts/bootstrap does), or use --sandbox bwrap',
  };
}

export async function checkSandboxImage(): Promise<Check[]> {
  const s = await imageStatus();
  const fix = 'run `ltrack sandbox build` (scripts/bootstrap does)';
  return [
    { name: 'sandbox image', ok: s.present, detail: `${s.tag} ${s.present ? 'present' : 'missing'} in docker`, fix: s.present ? '' : fix },
    { name: 'sandbox rootfs', ok: s.rootfsPresent, detail: `rootfs for ${s.tag} ${s.rootfsPresent ? 'present' : 'missing'} (bwrap driver)`, fix: s.rootfsPresent ? '' : fix },
  ];
}
