import type { TraceEvent } from '../core/event.js';
import type { RuleSet } from '../rules/ruleset.js';
import type { EnforcementMode } from '../core/kernel-filter.js';
import { readAllowed } from '../manifest/generalise.js';
import { fileId } from './behaviour.js';
import type { ActionKind, AgentAction, AllowedBehaviour, AllowlistSource, EnforcedKind } from './types.js';

/** Rule ids of the agent's own decisions (declared in rules/agent.toml). */
export const AGENT_RULES = {
  exec: 'LT-AGT-001',
  mmap_exec: 'LT-AGT-002',
  network: 'LT-AGT-003',
  file_open: 'LT-AGT-004',
} as const satisfies Partial<Record<EnforcedKind, string>>;

/** The allow lists in force, as user space judges events against them (the kernel holds the same as maps). */
export interface Judged {
  behaviours: readonly AllowedBehaviour[];
  /** (dev:inode) of libraries admitted by digest */
  libraryIds: ReadonlySet<string>;
  /** The agent's own Landlock launcher (`--landlock`): its exec is the agent's, not the command's. */
  launcher?: string;
  /** Landlock confines the command: a read it refused (EACCES) was prevented, not only seen. */
  landlock?: boolean;
}

const O_ACCMODE = 3;
const EACCES = 13;
const O_PATH = 0o10000000;
const WRITE_FLAGS = 0o100 | 0o1000; // O_CREAT | O_TRUNC

/**
 * What the agent does about one kernel event: nothing (undefined) when an allow list in force
 * allows it, else the action with the rule id and which allow lists lacked it. The kernel already
 * acted under enforce (`e.enforced`); this names and reports it, and under observe says what enforce
 * would have done. Opens for reading outside the read prefixes are alerts: a tracepoint cannot
 * refuse an open, and killing a server for a read is the operator's call (a rule's action).
 */
export function judge(e: TraceEvent, allowed: Judged, mode: EnforcementMode, manifest: string): AgentAction | undefined {
  const { behaviours } = allowed;
  let kind: EnforcedKind;
  let action: ActionKind;
  let what: string;
  switch (e.kind) {
    case 'exec':
      if (e.path === undefined || e.path === allowed.launcher || behaviours.some((b) => b.exec.includes(e.path!))) return undefined;
      kind = 'exec';
      action = 'killed';
      what = `exec of ${e.path}, a program no allow list names`;
      break;
    case 'mmap_exec':
      if (e.inode !== undefined && e.dev !== undefined && allowed.libraryIds.has(fileId(e.dev, e.inode))) return undefined;
      if (e.path !== undefined && behaviours.some((b) => b.libraries.some((l) => l.sha256 === undefined && l.path === e.path))) return undefined;
      kind = 'mmap_exec';
      action = 'killed';
      what = `executable mapping of ${e.path ?? '(unknown file)'}, a library no allow list admits with these bytes`;
      break;
    case 'connect':
    case 'sendmsg':
      if (e.family !== 'inet' && e.family !== 'inet6') return undefined;
      if (behaviours.some((b) => b.network.some((n) => n.addr === e.addr && (n.port === 0 || n.port === e.port)))) return undefined;
      kind = 'network';
      action = 'denied';
      what = `${e.kind} to ${e.addr ?? '?'}:${e.port ?? '?'}, a peer no allow list names`;
      break;
    case 'file_open': {
      // O_PATH opens name a file without giving access to its bytes (the Landlock launcher makes one per rule)
      if (e.path === undefined || e.op !== undefined || (e.flags ?? 0) & (O_ACCMODE | WRITE_FLAGS | O_PATH)) return undefined;
      const refused = allowed.landlock === true && e.ret === -EACCES;
      if ((e.ret ?? 0) < 0 && !refused) return undefined;
      if (behaviours.some((b) => readAllowed(b.reads, e.path!))) return undefined;
      kind = 'file_open';
      action = refused ? 'denied' : 'alerted';
      what = refused ? `read of ${e.path}, refused by Landlock: outside every allowed read prefix` : `read of ${e.path}, outside every allowed read prefix`;
      break;
    }
    default:
      return undefined;
  }
  // Under enforce the kernel's flag is the fact: a kill or denial it did not perform is not claimed.
  // (Landlock's refusals are the kernel's too: the failed open is its record.)
  if (mode === 'enforce' && action !== 'alerted' && e.enforced === undefined && !(kind === 'file_open' && action === 'denied')) action = 'alerted';
  const missing = [...new Set(behaviours.map((b) => b.source))] as AllowlistSource[];
  return actionOf(e, action, mode, AGENT_RULES[kind], manifest, missing, `${what} (missing from: ${missing.join(' and ')})`);
}

/** True for what the allow lists decide (programs, mapped code, peers, reads); rules judge the rest. */
function allowlistDecides(e: TraceEvent): boolean {
  if (e.kind === 'exec' || e.kind === 'mmap_exec' || e.kind === 'connect' || e.kind === 'sendmsg') return true;
  return e.kind === 'file_open' && ((e.flags ?? 0) & O_ACCMODE) === 0 && ((e.flags ?? 0) & WRITE_FLAGS) === 0 && e.op === undefined;
}

/**
 * What no allow list describes — writes (persistence), privileged operations (setuid, ptrace,
 * mount, bpf, module loading), memfd_create, io_uring, sendfile of a file to a socket — is judged
 * by the vet's own rules (rules/*.toml, the files vet loads), as the probe phase: serving a model
 * is exercising it. These are alerts, whatever the rule's action: no hook here refuses them, a
 * kill from user space would come after the operation, and the serving stack itself does some of
 * them legitimately (a container runtime's setgroups when `docker exec` enters, a server dropping
 * privileges), which the vet's sandbox never sees. The reason names the rule's own action.
 * Kinds the allow lists decide are left to them: a vet rule such as "any program executed" would
 * contradict a baseline that lists the server's own programs.
 */
export function judgeByRules(e: TraceEvent, rules: RuleSet, mode: EnforcementMode, manifest: string): AgentAction[] {
  if (allowlistDecides(e) || e.kind === 'fork' || e.kind === 'exit') return [];
  e.phase = 'probe';
  const out: AgentAction[] = [];
  for (const { rule, test } of rules.matchers) {
    if (!test(e)) continue;
    out.push(actionOf(e, 'alerted', mode, rule.id, manifest, [], `${rule.title}: ${e.kind}${e.path !== undefined ? ` ${e.path}` : ''} by ${e.comm}[${e.tgid}] (the vet's action: ${rule.action})`));
  }
  return out;
}

/** The kernel's observation as an action reports it: who did it, and the fields of its kind (never decoy values). */
export function reportedEvent(e: TraceEvent): AgentAction['event'] {
  return {
    kind: e.kind,
    pid: e.pid,
    tgid: e.tgid,
    ppid: e.ppid,
    uid: e.uid,
    comm: e.comm,
    cgroup: e.cgroup,
    ...(e.path !== undefined ? { path: e.path } : {}),
    ...(e.argv !== undefined ? { argv: e.argv } : {}),
    ...(e.family !== undefined ? { family: e.family } : {}),
    ...(e.addr !== undefined ? { addr: e.addr } : {}),
    ...(e.port !== undefined ? { port: e.port } : {}),
    ...(e.inode !== undefined ? { inode: e.inode, dev: e.dev } : {}),
    ...(e.flags !== undefined ? { flags: e.flags } : {}),
    ...(e.ret !== undefined ? { ret: e.ret } : {}),
  };
}

function actionOf(e: TraceEvent, action: ActionKind, mode: EnforcementMode, ruleId: string, manifest: string, missing: AllowlistSource[], what: string): AgentAction {
  return {
    time: new Date().toISOString(),
    action,
    mode,
    ruleId,
    manifest,
    missing,
    event: reportedEvent(e),
    reason: `${mode === 'observe' ? 'would have ' : ''}${action} ${what}`,
  };
}
