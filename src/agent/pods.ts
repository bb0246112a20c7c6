import { readFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { LtrackError } from '../core/errors.js';

/**
 * Kubernetes pods selected by label on this node, resolved to their cgroup v2 folders: what a
 * DaemonSet agent holds. The API is asked with the pod's own service account (in-cluster: the
 * token and CA the kubelet mounts), for Running pods matching the selector on this node only. A
 * pod's cgroup is found by its uid in the folder names the kubelet gives it under both cgroup
 * drivers (systemd: `kubepods-<qos>-pod<uid with _>.slice`; cgroupfs: `pod<uid>`).
 */
export interface PodSelection {
  /** A label selector, as kubectl -l takes it. */
  selector: string;
  node: string;
  /** The API server's base URL (in-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT). */
  api: string;
  /** The service account folder: token, ca.crt. */
  serviceAccount: string;
}

export interface HeldPod {
  namespace: string;
  name: string;
  uid: string;
  cgroup: string;
}

const DEFAULT_SA = '/var/run/secrets/kubernetes.io/serviceaccount';

export function inClusterSelection(selector: string, node: string | undefined, api: string | undefined, sa: string | undefined): PodSelection {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  const base = api ?? (host ? `https://${host.includes(':') ? `[${host}]` : host}:${port}` : undefined);
  if (!base) throw new LtrackError('usage', '--pods needs the API server: run in a pod (KUBERNETES_SERVICE_HOST) or give --kube-api URL');
  const nodeName = node ?? process.env.NODE_NAME;
  if (!nodeName) throw new LtrackError('usage', "--pods needs this node's name: --node NAME, or NODE_NAME from the downward API (spec.nodeName)");
  const url = new URL(base);
  // a token goes over TLS, or to this machine only
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))) {
    throw new LtrackError('usage', `--kube-api must be https (http only on loopback), not ${JSON.stringify(base)}`);
  }
  return { selector, node: nodeName, api: base, serviceAccount: sa ?? DEFAULT_SA };
}

interface PodList {
  items?: { metadata?: { name?: string; namespace?: string; uid?: string }; status?: { phase?: string } }[];
}

/** The Running pods the selection names, from the API (one list call). */
export async function listPods(sel: PodSelection): Promise<{ namespace: string; name: string; uid: string }[]> {
  const token = (await readFile(join(sel.serviceAccount, 'token'), 'utf8')).trim();
  const url = new URL('/api/v1/pods', sel.api);
  url.searchParams.set('labelSelector', sel.selector);
  url.searchParams.set('fieldSelector', `spec.nodeName=${sel.node},status.phase=Running`);
  const body = await new Promise<string>((resolve, reject) => {
    const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
    const done = (res: IncomingMessage) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode ?? '?'} from ${url.origin}`))));
    };
    const req =
      url.protocol === 'https:'
        ? request(url, { headers, agent: new Agent({ ca: readFileSyncOrUndefined(join(sel.serviceAccount, 'ca.crt')) }), timeout: 10_000 }, done)
        : httpRequest(url, { headers, timeout: 10_000 }, done);
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin}`)));
    req.on('error', reject);
    req.end();
  });
  const list = JSON.parse(body) as PodList;
  return (list.items ?? [])
    .filter((p) => p.status?.phase === 'Running' && p.metadata?.uid && p.metadata.name)
    .map((p) => ({ namespace: p.metadata!.namespace ?? 'default', name: p.metadata!.name!, uid: p.metadata!.uid! }));
}

/** The service account's CA; a missing one falls back to the system store. */
function readFileSyncOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The cgroup v2 folder of a pod: the folder under `root` (searched to depth 4) whose name holds
 * `pod<uid>` as either cgroup driver spells it.
 */
export async function podCgroup(root: string, uid: string): Promise<string | undefined> {
  const names = [`pod${uid}`, `pod${uid.replace(/-/g, '_')}`];
  const matches = (name: string) => names.some((n) => name === n || name.endsWith(`-${n}.slice`));
  let level = [root];
  for (let depth = 0; depth < 4 && level.length > 0; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const path = join(dir, e.name);
        if (matches(e.name)) return path;
        // only the kubelet's folders are worth descending into
        if (depth === 0 ? /kubepods/.test(e.name) : /kubepods|besteffort|burstable/.test(e.name)) next.push(path);
      }
    }
    level = next;
  }
  return undefined;
}

/** A cgroup folder's id (its inode), as the kernel's cgroup hooks and the tracer know it. */
export async function cgroupIdOf(path: string): Promise<number> {
  return (await stat(path)).ino;
}
