import { isLoadable, type LoadableFormat } from '../core/formats.js';
import type { TargetFile } from '../core/report.js';
import type { StagedFile } from '../intake/stage.js';

/**
 * The model files of a vet that the sandbox loads, each with the loader its sniffed format needs.
 * `targets[i]` is the report entry of `staged[i]`: what is mounted is always the staged copy (the
 * bytes that were hashed and scanned), never the user's path. Copies with the same digest and
 * format (a symlink and its blob) are loaded once.
 */
export function loadablePlanModels(targets: TargetFile[], staged: StagedFile[]): PlanModel[] {
  if (targets.length !== staged.length) throw new Error('loadablePlanModels: targets and staged copies differ in number');
  const byKey = new Map<string, PlanModel>();
  targets.forEach((t, i) => {
    const format = t.format;
    if (!isLoadable(format)) return;
    // a digest still being taken (StaticResult.digests): the file's inode stands for its content
    const key = `${t.sha256 || pendingKey(staged[i]!)}/${format}`;
    const known = byKey.get(key);
    if (known) known.reportPaths.push(t.path);
    else byKey.set(key, { hostPath: staged[i]!.staged, format, reportPaths: [t.path] });
  });
  return [...byKey.values()];
}

function pendingKey(f: StagedFile): string {
  return f.inPlace ? `inode:${f.inPlace.dev}:${f.inPlace.ino}` : `path:${f.staged}`;
}

/** A file the sandbox loads: the staged copy, its loader, and the report paths (user paths) it stands for. */
export interface PlanModel {
  hostPath: string;
  format: LoadableFormat;
  reportPaths: string[];
}
