// Child process of bench/static/run.mjs: one scanPaths call, then its wall time and peak RSS as JSON.
import { scanPaths } from '../../dist/static/index.js';

const t0 = performance.now();
const r = await scanPaths(process.argv.slice(2));
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(JSON.stringify({ seconds, files: r.targets.length, detections: r.detections.length, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
