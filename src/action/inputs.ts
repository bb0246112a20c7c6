import * as core from '@actions/core';
import { readFileSync } from 'node:fs';
import { LtrackError } from '../core/errors.js';
import { SEVERITIES, type Severity } from '../core/severity.js';

/** The action's inputs (action.yml), read through @actions/core and checked: a bad one is a one-line error naming it. */
export interface ActionInputs {
  paths: string[];
  failOn: Severity;
  /** required: a run without the tracer or sandbox is incomplete; auto: falls back to static analysis, saying so; off: static only. */
  dynamic: 'required' | 'auto' | 'off';
  sandbox: 'docker' | 'bwrap' | 'auto';
  deps?: string;
  wheelhouse?: string;
  out: string;
  /** PEM text of an Ed25519 key (a secret): masked in the log. */
  signKey?: string;
  /** A Hugging Face repo to gate instead of paths to vet (REPO_ID[@REVISION]), and where it is promoted. */
  hub?: { repo: string; registry: string; quarantine?: string; endpoint: string };
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new LtrackError('usage', `input ${name} must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
  return value as T;
}

/**
 * The paths to vet: the `paths` input (whitespace or newline separated), or, for a
 * repository_dispatch from a model registry, the event's `client_payload.paths` (a list or a string).
 */
function pathsFrom(input: string): string[] {
  const given = input.split(/\s+/).filter(Boolean);
  if (given.length > 0) return given;
  const eventPath = process.env.GITHUB_EVENT_PATH;
  if (process.env.GITHUB_EVENT_NAME === 'repository_dispatch' && eventPath) {
    const event = JSON.parse(readFileSync(eventPath, 'utf8')) as { client_payload?: { paths?: unknown } };
    const p = event.client_payload?.paths;
    const list = Array.isArray(p) ? p.filter((x): x is string => typeof x === 'string') : typeof p === 'string' ? p.split(/\s+/).filter(Boolean) : [];
    if (list.length > 0) return list;
  }
  throw new LtrackError('usage', 'input paths is empty (and no repository_dispatch client_payload.paths): nothing to vet');
}

/** `hub-repo`, or on a repository_dispatch the event's client_payload.hub_repo (+ revision). */
function hubFrom(input: string): ActionInputs['hub'] {
  let repo = input;
  const eventPath = process.env.GITHUB_EVENT_PATH;
  if (!repo && process.env.GITHUB_EVENT_NAME === 'repository_dispatch' && eventPath) {
    const p = (JSON.parse(readFileSync(eventPath, 'utf8')) as { client_payload?: { hub_repo?: unknown; revision?: unknown } }).client_payload;
    if (typeof p?.hub_repo === 'string' && p.hub_repo) repo = typeof p.revision === 'string' && p.revision ? `${p.hub_repo}@${p.revision}` : p.hub_repo;
  }
  if (!repo) return undefined;
  const registry = core.getInput('registry');
  if (!registry) throw new LtrackError('usage', 'input registry is needed to gate a Hub repo (where a passing commit is promoted)');
  const quarantine = core.getInput('quarantine');
  return { repo, registry, ...(quarantine ? { quarantine } : {}), endpoint: core.getInput('endpoint') || process.env.HF_ENDPOINT || 'https://huggingface.co' };
}

export function readInputs(): ActionInputs {
  const signKey = core.getInput('sign-key');
  // masked whole and line by line: a PEM printed in pieces must not show either
  if (signKey) for (const secret of [signKey, ...signKey.split('\n').filter((l) => l.trim().length > 8)]) core.setSecret(secret);
  const deps = core.getInput('deps');
  const wheelhouse = core.getInput('wheelhouse');
  const hub = hubFrom(core.getInput('hub-repo'));
  return {
    paths: hub ? [] : pathsFrom(core.getInput('paths')),
    ...(hub ? { hub } : {}),
    failOn: oneOf('fail-on', core.getInput('fail-on') || 'high', SEVERITIES),
    dynamic: oneOf('dynamic', core.getInput('dynamic') || 'required', ['required', 'auto', 'off'] as const),
    sandbox: oneOf('sandbox', core.getInput('sandbox') || 'auto', ['docker', 'bwrap', 'auto'] as const),
    ...(deps ? { deps } : {}),
    ...(wheelhouse ? { wheelhouse } : {}),
    out: core.getInput('out') || 'ltrack-out',
    ...(signKey ? { signKey } : {}),
  };
}
