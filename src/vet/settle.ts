import type { TraceEvent } from '../core/event.js';
import type { Detection } from '../core/finding.js';
import type { SandboxResult } from '../sandbox/index.js';
import type { PlanModel } from './plan.js';

/** What the harness said about one model's load (the load phase's detail, one entry per plan model). */
export interface LoadResult {
  ok: boolean;
  error?: string;
}

/**
 * The load result of each plan model by the report paths it stands for. The harness loads PLAN["models"] in order
 * and records one result each; a list that does not line up with the plan settles nothing.
 */
export function loadResults(sandbox: SandboxResult, models: PlanModel[]): Map<string, LoadResult> {
  const out = new Map<string, LoadResult>();
  const detail = sandbox.phases.find((p) => p.phase === 'load')?.detail?.models;
  if (!Array.isArray(detail) || detail.length !== models.length) return out;
  models.forEach((m, i) => {
    const r = detail[i] as { format?: unknown; ok?: unknown; error?: unknown } | null;
    if (!r || typeof r !== 'object' || r.format !== m.format) return;
    // Keyed by the report's (user's) paths, which findings name; the plan mounts staged copies.
    for (const path of m.reportPaths) out.set(path, { ok: r.ok === true, ...(typeof r.error === 'string' ? { error: r.error } : {}) });
  });
  return out;
}

/** Phases in which a module the load resolved can have been imported (not `probe`, which follows the load). */
const UP_TO_LOAD = new Set(['startup', 'install', 'import', 'load']);
const WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000; // O_WRONLY | O_RDWR | O_CREAT | O_TRUNC

/**
 * Whether the kernel saw module `name`'s code opened by the traced tree before the load ended:
 * its source, its cached bytecode or its extension, at the path Python's import system gives
 * that dotted name. A file that the candidate itself created or rewrote after the install phase
 * does not count: a payload can open any file it writes, but it cannot make the kernel see an
 * installed module resolved that never was.
 */
export function moduleResolved(name: string, events: readonly TraceEvent[]): boolean {
  const parts = name.split('.');
  // identifiers only, so the parts need no escaping in the pattern below
  if (!parts.every((p) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(p))) return false;
  const all = parts.join('/');
  const dirs = parts.slice(0, -1).join('/');
  const last = parts[parts.length - 1] ?? '';
  const tag = '[\\w.-]+';
  const file = new RegExp(
    `/(?:${all}\\.py|${all}/__init__\\.py|${dirs ? `${dirs}/` : ''}__pycache__/${last}\\.${tag}\\.pyc|${all}/__pycache__/__init__\\.${tag}\\.pyc|${all}(?:\\.${tag})?\\.so|${all}/__init__(?:\\.${tag})?\\.so)$`,
  );
  const rewritten = new Set<string>();
  for (const e of events) {
    if (e.kind === 'file_open' && e.path && e.phase !== 'install' && (e.op !== undefined || ((e.flags ?? 0) & WRITE_FLAGS) !== 0)) rewritten.add(e.path);
  }
  return events.some((e) => e.kind === 'file_open' && (e.ret ?? 0) >= 0 && e.op === undefined && e.path !== undefined && UP_TO_LOAD.has(e.phase ?? '') && file.test(e.path) && !rewritten.has(e.path));
}

/**
 * Unknown globals that a pickle only reconstructs the standard way (LT-PKL-008 with
 * evidence.settle = "load": NEWOBJ, copyreg._reconstructor, or a bare reference) are settled by a
 * sandboxed load of that file that completed: the class then resolved in the sandbox and whatever
 * its reconstruction ran was traced. Without such a load — a --static-only vet, a file the sandbox
 * does not load, or a load that failed (the class's module is missing from the sandbox's library
 * versions, or the payload raised) — nothing confirmed it, and the vet is incomplete with a reason
 * naming the file, the globals and the remedy. Likewise a load that failed on a file the static
 * analysis had any finding on (a limit, a malformation, a container irregularity) is never a pass:
 * what ran before the failure, and what a payload that recognised the sandbox skipped, is unknown.
 * Chat-template findings static analysis cannot decide (evidence.settle = "render": a template that
 * does not parse, a name computed at render time) are settled the same way, by a completed render
 * of the carrier in the sandbox, traced.
 * The harness's record that a load completed is the sandbox's word, which a payload or a dependency
 * running in the sandbox can write: it settles a class only together with the kernel's account
 * that the class's module was resolved (moduleResolved).
 * Unknown callables that are *called* never get here: they block statically (LT-PKL-013).
 * Returns the incomplete reasons.
 */
export function settleUnknowns(detections: Detection[], run: { sandbox: SandboxResult; models: PlanModel[]; events: readonly TraceEvent[] } | undefined): string[] {
  const pending = new Map<string, Set<string>>();
  /** file -> modules its pending classes come from */
  const modules = new Map<string, Set<string>>();
  const flagged = new Map<string, Set<string>>();
  /** chat templates the static analysis could not decide (unparsable, names computed at render time) */
  const undecided = new Map<string, Set<string>>();
  for (const d of detections) {
    if (d.source !== 'static' || !d.location) continue;
    const file = d.location.file;
    flagged.set(file, (flagged.get(file) ?? new Set<string>()).add(d.ruleId));
    if (d.ruleId === 'LT-PKL-008' && d.evidence.settle === 'load') {
      pending.set(file, (pending.get(file) ?? new Set<string>()).add(String(d.evidence.callable)));
      modules.set(file, (modules.get(file) ?? new Set<string>()).add(typeof d.evidence.module === 'string' ? d.evidence.module : ''));
    }
    if (d.evidence.settle === 'render') undecided.set(file, (undecided.get(file) ?? new Set<string>()).add(`${String(d.evidence.key)} (${d.ruleId})`));
  }
  const results = run ? loadResults(run.sandbox, run.models) : new Map<string, LoadResult>();
  const remedy = "supply production's library versions with --deps so the sandbox can load it, or admit the globals with --allow-globals";
  const reasons: string[] = [];
  for (const [file, names] of pending) {
    const list = [...names].slice(0, 5).join(', ') + (names.size > 5 ? ` and ${names.size - 5} more` : '');
    const result = results.get(file);
    if (result?.ok && run) {
      const unseen = [...(modules.get(file) ?? [])].filter((m) => !moduleResolved(m, run.events));
      if (unseen.length === 0) continue;
      reasons.push(
        `${file}: the sandbox reported its load completed, but the kernel saw no module file of ${unseen.map((m) => m || '(unnamed)').join(', ')} opened, so globals not on the allowlist (${list}) were never confirmed: ${remedy}`,
      );
      continue;
    }
    const why = !run ? 'no sandboxed load ran (--static-only, or nothing the sandbox loads)' : !result ? 'the sandbox did not load it' : `its sandboxed load failed (${failure(result)})`;
    reasons.push(`${file}: globals not on the allowlist (${list}) were never confirmed, because ${why}: ${remedy}`);
  }
  for (const [file, templates] of undecided) {
    const result = results.get(file);
    if (result?.ok) continue;
    const why = !run ? 'no sandboxed render ran (--static-only)' : !result ? 'the sandbox did not render it' : `its sandboxed render failed (${failure(result)})`;
    reasons.push(
      `${file}: chat templates the static analysis could not decide (${[...templates].slice(0, 5).join(', ')}) were never rendered under the tracer, because ${why}: vet it with the sandbox`,
    );
  }
  for (const [file, result] of results) {
    const rules = flagged.get(file);
    if (result.ok || pending.has(file) || undecided.has(file) || !rules) continue;
    reasons.push(`${file}: its sandboxed load failed (${failure(result)}) on a file the static analysis did not fully clear (${[...rules].join(', ')}): what ran before the failure is not confirmed`);
  }
  return reasons;
}

const failure = (r: LoadResult) => (r.error ?? 'no error given').slice(0, 200);
