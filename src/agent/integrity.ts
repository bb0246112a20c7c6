import { watch, type FSWatcher } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, realpath, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { TraceEvent } from '../core/event.js';
import type { EnforcementMode } from '../core/kernel-filter.js';
import { sha256File } from '../manifest/hash.js';
import { kernelDev } from '../trace/identity.js';
import type { TraceSession } from '../trace/index.js';
import { reportedEvent } from './judge.js';
import type { AgentAction, AgentTelemetry, IntegrityState } from './types.js';

/**
 * A file the kernel guards: a model file a verified manifest names, or a library admitted by its
 * digest; where it is on this host and the digest it must keep.
 */
export interface GuardedModel {
  path: string;
  sha256: string;
  /** the manifest or baseline that signed it */
  origin: string;
  /** libraries are never moved: a changed one stays, unreadable to the held processes, and is reported */
  kind?: 'model' | 'library';
}

export const INTEGRITY_RULES = { changed: 'LT-AGT-005', openedUnverified: 'LT-AGT-006', libraryChanged: 'LT-AGT-007' } as const;

type FileId = { dev: number; inode: number };
const O_ACCMODE = 3;
/** How long to wait before looking again at a file some process still holds open for writing. */
const WRITER_RETRY_MS = 250;

/**
 * Every file some process holds open for writing now, as "dev:inode", from /proc: a file re-hashed
 * while a writer still holds it could change right after, so it is not verified until they have
 * closed it. One walk answers for every guarded file checked at the same time.
 */
async function openForWriting(): Promise<Set<string>> {
  const found = new Set<string>();
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '');
      const flags = parseInt(/^flags:\s+([0-7]+)/m.exec(info)?.[1] ?? '0', 8);
      if ((flags & O_ACCMODE) === 0) continue;
      const st = await stat(`/proc/${pid}/fd/${fd}`, { bigint: true }).catch(() => undefined);
      if (st?.isFile()) found.add(`${kernelDev(st.dev)}:${st.ino}`);
    }
  }
  return found;
}

interface Watched {
  model: GuardedModel;
  /** the identity the kernel guards the path with (the last one verified, or the suspect one) */
  id?: FileId;
  state: IntegrityState;
  /** checks of this file run one after another */
  queue: Promise<void>;
  retry?: NodeJS.Timeout;
}

/**
 * The integrity watch of the model files: each is hashed at start and guarded in the kernel by
 * (path, device, inode). A write-open by any process marks it suspect in the kernel at once (the
 * served tree's opens of it are then killed under enforce, before they can read), and the kernel's
 * report or an inotify event brings it here: re-hashed once no process holds it open for writing,
 * verified again if the bytes are still the signed ones, else quarantined (moved out with mode 000
 * and a note) and reported. A file renamed over the path is another inode: its opens are killed
 * the same way, and it is checked and quarantined like a rewrite.
 */
export class ModelGuard {
  readonly #session: TraceSession;
  readonly #mode: EnforcementMode;
  readonly #quarantine: string | undefined;
  readonly #emit: (a: AgentAction) => void;
  readonly #telemetry: AgentTelemetry;
  readonly #log: (line: string) => void;
  readonly #files = new Map<string, Watched>();
  readonly #watchers: FSWatcher[] = [];
  #stopped = false;
  /** while the start checks every file at once: one walk of /proc for all of them */
  #writers: Promise<Set<string>> | undefined;

  constructor(session: TraceSession, o: { mode: EnforcementMode; quarantine?: string; emit: (a: AgentAction) => void; telemetry: AgentTelemetry; log: (line: string) => void }) {
    this.#session = session;
    this.#mode = o.mode;
    this.#quarantine = o.quarantine;
    this.#emit = o.emit;
    this.#telemetry = o.telemetry;
    this.#log = o.log;
  }

  /** Guards the models (paths resolved through symlinks, as the kernel reports opens). */
  async start(models: GuardedModel[]): Promise<void> {
    for (const m of models) {
      const path = await realpath(m.path).catch(() => m.path);
      this.#files.set(path, { model: { ...m, path }, state: 'ok', queue: Promise.resolve() });
    }
    this.#writers = openForWriting();
    await Promise.all([...this.#files.keys()].map((p) => this.recheck(p)));
    this.#writers = undefined;
    for (const folder of new Set([...this.#files.keys()].map((p) => dirname(p)))) {
      try {
        const w = watch(folder, { persistent: false }, (_event, name) => {
          if (name === null) for (const p of this.#files.keys()) void this.recheck(p);
          else if (this.#files.has(join(folder, name))) void this.recheck(join(folder, name));
        });
        w.on('error', () => undefined);
        this.#watchers.push(w);
      } catch {
        this.#log(`ltrack agent: cannot watch ${folder} (inotify): changes made through descriptors opened before start are not seen`);
      }
    }
  }

  /** A kernel event about a guarded file: the kill it reports, and a re-check of the file. */
  onEvent(e: TraceEvent): void {
    if (e.kind !== 'file_open' || !e.guarded || e.path === undefined) return;
    const w = this.#files.get(e.path);
    // the kernel flags a read of a guarded file only when it is not the verified one: killed
    // under enforce, and what enforce would have done under observe
    const read = ((e.flags ?? 0) & O_ACCMODE) === 0 && ((e.flags ?? 0) & 0o1000) === 0;
    if (e.enforced === 'killed' || (this.#mode === 'observe' && read)) {
      this.#emit(
        this.#action(
          'killed',
          INTEGRITY_RULES.openedUnverified,
          w?.model ?? { path: e.path, sha256: '', origin: '' },
          `open of ${w?.model.kind === 'library' ? 'library' : 'model file'} ${e.path} while it is not the verified one`,
          e,
        ),
      );
    }
    void this.recheck(e.path);
  }

  recheck(path: string): Promise<void> {
    const w = this.#files.get(path);
    if (!w || this.#stopped) return Promise.resolve();
    w.queue = w.queue.then(() => this.#check(w)).catch((err: unknown) => this.#log(`ltrack agent: integrity check of ${path} failed: ${(err as Error).message}`));
    return w.queue;
  }

  async #check(w: Watched): Promise<void> {
    const { path } = w.model;
    const before = await stat(path, { bigint: true }).catch(() => undefined);
    if (!before?.isFile()) {
      if (w.state !== 'missing' && w.state !== 'quarantined') {
        this.#setState(w, 'missing');
        this.#emit(this.#action('alerted', INTEGRITY_RULES.changed, w.model, `model file ${path} is gone`));
      }
      return;
    }
    const id = { dev: kernelDev(before.dev), inode: Number(before.ino) };
    const busy = (await (this.#writers ?? openForWriting())).has(`${id.dev}:${id.inode}`);
    if (busy) {
      // not to be read while it may still change; looked at again once the writers are done
      this.#guard(w, id, 'suspect');
      clearTimeout(w.retry);
      w.retry = setTimeout(() => void this.recheck(path), WRITER_RETRY_MS);
      return;
    }
    const found = await sha256File(path).catch(() => undefined);
    const after = await stat(path, { bigint: true }).catch(() => undefined);
    if (found === undefined || !after || after.ino !== before.ino || after.mtimeNs !== before.mtimeNs || after.size !== before.size) {
      this.#guard(w, id, 'suspect');
      clearTimeout(w.retry);
      w.retry = setTimeout(() => void this.recheck(path), WRITER_RETRY_MS);
      return;
    }
    if (found === w.model.sha256) {
      if (w.state !== 'ok') this.#log(`ltrack agent: model file ${path} verified again (sha256 matches the manifest)`);
      this.#guard(w, id, 'verified');
      this.#setState(w, 'ok');
      return;
    }
    this.#guard(w, id, 'suspect');
    await this.#quarantineFile(w, found);
  }

  #guard(w: Watched, id: FileId, state: 'verified' | 'suspect'): void {
    if (this.#stopped) return;
    this.#session.setGuard(w.model.path, id, state, w.id);
    w.id = id;
  }

  #setState(w: Watched, state: IntegrityState): void {
    w.state = state;
    this.#telemetry.integrity(w.model.path, state);
  }

  async #quarantineFile(w: Watched, found: string): Promise<void> {
    const { path, sha256 } = w.model;
    if (w.model.kind === 'library') {
      // a system file is not ours to move: it stays suspect in the kernel, so no held process opens
      // (and maps) it until its signed bytes are back, which the next check then verifies
      this.#setState(w, 'changed');
      const what = `library ${path} changed after it was admitted (sha256 ${found.slice(0, 12)}…, signed ${sha256.slice(0, 12)}…): a held process that opens it is killed until its signed bytes are back`;
      this.#emit(this.#action('alerted', INTEGRITY_RULES.libraryChanged, w.model, what, undefined, found));
      return;
    }
    const why = `model file ${path} changed after it was verified (sha256 ${found.slice(0, 12)}…, signed ${sha256.slice(0, 12)}…)`;
    if (this.#mode === 'observe' || this.#quarantine === undefined) {
      this.#setState(w, 'changed');
      const how = this.#mode === 'observe' ? '' : ': left in place without --quarantine; the kernel kills any process of the target that opens it';
      this.#emit(this.#action(this.#mode === 'observe' ? 'quarantined' : 'alerted', INTEGRITY_RULES.changed, w.model, `${why}${how}`, undefined, found));
      return;
    }
    await mkdir(this.#quarantine, { recursive: true, mode: 0o700 });
    const to = join(this.#quarantine, `${basename(path)}.${Date.now()}`);
    await rename(path, to).catch(async (err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await copyFile(path, to);
      await unlink(path);
    });
    await chmod(to, 0o000);
    const note = { time: new Date().toISOString(), path, quarantinedTo: to, manifest: w.model.origin, expectedSha256: sha256, foundSha256: found, reason: why };
    await writeFile(`${to}.json`, JSON.stringify(note, null, 2) + '\n', { mode: 0o600 });
    this.#setState(w, 'quarantined');
    this.#emit(this.#action('quarantined', INTEGRITY_RULES.changed, w.model, `${why}: moved to ${to}`, undefined, found, to));
  }

  #action(action: AgentAction['action'], ruleId: string, m: GuardedModel, what: string, e?: TraceEvent, found?: string, quarantinedTo?: string): AgentAction {
    return {
      time: new Date().toISOString(),
      action,
      mode: this.#mode,
      ruleId,
      manifest: m.origin,
      missing: [],
      event: e ? reportedEvent(e) : { kind: 'file_open', pid: 0, tgid: 0, ppid: 0, uid: 0, comm: '', cgroup: 0, path: m.path },
      reason: `${this.#mode === 'observe' ? 'would have ' : ''}${action}: ${what}`,
      file: { path: m.path, expected: m.sha256, ...(found !== undefined ? { found } : {}), ...(quarantinedTo !== undefined ? { quarantinedTo } : {}) },
    };
  }

  /** Waits for checks in flight, then stops watching (the kernel maps go with the session). */
  async stop(): Promise<void> {
    for (const w of this.#watchers) w.close();
    await Promise.all([...this.#files.values()].map((w) => w.queue));
    this.#stopped = true;
    for (const w of this.#files.values()) clearTimeout(w.retry);
  }
}
