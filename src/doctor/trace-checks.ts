import type { Check } from './checks.js';
import { probeTiers } from '../trace/index.js';
import { enforcementTiers } from '../agent/tiers.js';

/**
 * The tracer's tiers as checks. Observation tiers are required: without them a vet is incomplete.
 * Enforcement tiers are reported for the agent but do not fail the doctor: a kernel that refuses
 * BPF LSM still has the kill and deny-net tiers, and the report always says which tier ran.
 */
export async function checkTracerTiers(): Promise<Check[]> {
  const tiers = await probeTiers();
  const loads = tiers.some((t) => t.tier.startsWith('observe:') && t.available);
  // what `ltrack agent --mode enforce` would use here, per kind (BPF LSM refuses to load on kernels of this kind)
  const agent = Object.entries(enforcementTiers('enforce', true)).map(([kind, tier]) => ({
    name: `agent ${kind}`,
    ok: true,
    detail: loads ? tier : 'not available: the tracer does not load here (optional for vetting)',
    fix: '',
  }));
  return [
    ...tiers.map((t) => {
      const optional = t.tier.startsWith('enforce:');
      return {
        name: `tracer ${t.tier}`,
        ok: t.available || optional,
        detail: `${t.available ? 'available' : optional ? 'not available (optional tier)' : 'not available'}: ${t.detail}`,
        fix: t.available || optional ? '' : 'run bash scripts/bootstrap (builds bpf/ and native/, mounts tracefs) as root',
      };
    }),
    ...agent,
  ];
}
