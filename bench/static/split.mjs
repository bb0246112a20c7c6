// Child process of bench/static/shapes.mjs: the two halves of a static vet, timed apart —
// staging (the private copy, hashed while copying) and the analysis of the staged copy — as JSON.
import { stageCandidates } from '../../dist/intake/stage.js';
import { scanStaged } from '../../dist/static/index.js';

const t0 = performance.now();
const staging = await stageCandidates(process.argv.slice(2), { maxFiles: 1_000_000 });
const t1 = performance.now();
try {
  const r = await scanStaged(staging);
  const t2 = performance.now();
  process.stdout.write(JSON.stringify({ stageSeconds: (t1 - t0) / 1000, scanSeconds: (t2 - t1) / 1000, detections: r.detections.length, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
} finally {
  await staging.cleanup();
}
