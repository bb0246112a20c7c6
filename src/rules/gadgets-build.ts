import { readFile, rename, writeFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { LtrackError, wrapError } from '../core/errors.js';
import { projectPath } from '../core/paths.js';
import { attachOutput, docker } from '../sandbox/docker-client.js';
import { requireImage } from '../sandbox/image.js';
import { recipeDigest } from '../sandbox/recipe.js';
import { CAPABILITIES, GADGETS_FILE, GadgetTable, type Capability, type GadgetHeader } from './gadgets.js';

/** The analyser, mounted read-only into the image it analyses. */
const WALKER_DIR = projectPath('sandbox', 'gadgets');
const WALKER_MOUNT = '/ltrack/gadgets';
/** The walker's JSON for the whole image is a few MB; more than this is a broken walker, not a bigger table. */
const MAX_OUTPUT = 256 * 1024 * 1024;

/** What sandbox/gadgets/walk.py prints. */
interface WalkOutput {
  generator: string;
  python: string;
  max_depth: number;
  files: number;
  parse_errors: number;
  modules: number;
  callables: number;
  seconds: { parse: number; graph: number };
  gadgets: Record<string, Partial<Record<Capability, string[]>>>;
  /** Names a module binds to a gadget defined elsewhere (re-exports, `from x import *`): find_class resolves them too. */
  aliases: Record<string, string>;
}

export interface GadgetsRun {
  file: string;
  skipped: boolean;
  header: GadgetHeader;
  /** Wall time of the walk, container start to exit. */
  seconds: number;
  /** The walker's own split of its time (parsing the sources, the graph and search). */
  walk: { parse: number; graph: number } | undefined;
}

/** The image recipe digest the committed table was derived from, or undefined when there is none. */
export async function tableRecipe(file = GADGETS_FILE): Promise<string | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return /^image_recipe = "([0-9a-f]+)"$/m.exec(text)?.[1];
}

/**
 * Runs the walker in the sandbox image (no network, read-only root, no capabilities, the
 * sandbox's unprivileged user) and writes the table. With `ifStale`, a table whose header names
 * the current recipe digest is kept as it is.
 */
export async function buildGadgets(opts: { out?: string; ifStale?: boolean } = {}): Promise<GadgetsRun> {
  const out = opts.out ?? GADGETS_FILE;
  const digest = await recipeDigest();
  if (opts.ifStale && (await tableRecipe(out)) === digest) {
    const { readGadgetTable } = await import('./gadgets.js');
    return { file: out, skipped: true, header: readGadgetTable(out).header, seconds: 0, walk: undefined };
  }
  const t0 = process.hrtime.bigint();
  const walk = await runWalker();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const { text, header } = renderTable(walk, digest);
  GadgetTable.parse(text, out).validate(); // what the policy will read back
  await writeFile(`${out}.tmp`, text);
  await rename(`${out}.tmp`, out);
  return { file: out, skipped: false, header, seconds, walk: walk.seconds };
}

async function runWalker(): Promise<WalkOutput> {
  const { tag } = await requireImage('docker');
  const stdout: Buffer[] = [];
  let size = 0;
  let err = '';
  const outSink = new PassThrough();
  const errSink = new PassThrough();
  outSink.on('data', (d: Buffer) => {
    size += d.length;
    if (size <= MAX_OUTPUT) stdout.push(d);
  });
  errSink.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const c = await docker().createContainer({
    Image: tag,
    Cmd: ['python3', '-I', '-B', `${WALKER_MOUNT}/walk.py`],
    User: '65534:65534',
    Env: ['PATH=/usr/bin:/bin', 'LANG=C.UTF-8'],
    Labels: { 'dev.ltrack.gadgets': '1' },
    NetworkDisabled: true,
    HostConfig: {
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges:true'],
      Mounts: [{ Type: 'bind', Source: WALKER_DIR, Target: WALKER_MOUNT, ReadOnly: true }],
      Memory: 4 * 1024 * 1024 * 1024,
      PidsLimit: 16,
    },
  });
  try {
    const { ended } = await attachOutput(c, outSink, errSink);
    await c.start();
    const { StatusCode } = (await c.wait()) as { StatusCode: number };
    await ended;
    if (StatusCode !== 0) throw new LtrackError('sandbox_failed', `the gadget walker exited ${StatusCode}: ${err.trim().split('\n').slice(-3).join(' | ')}`);
    if (size > MAX_OUTPUT) throw new LtrackError('sandbox_failed', `the gadget walker printed more than ${MAX_OUTPUT} bytes`);
  } catch (e) {
    throw e instanceof LtrackError ? e : wrapError(e, 'sandbox_failed', 'the gadget walker failed');
  } finally {
    await c.remove({ force: true }).catch(() => undefined);
  }
  try {
    return JSON.parse(Buffer.concat(stdout).toString('utf8')) as WalkOutput;
  } catch (e) {
    throw wrapError(e, 'sandbox_failed', 'the gadget walker printed no JSON');
  }
}

const q = (s: string): string => JSON.stringify(s);

/** The TOML text: a header (provenance and counts), then one line per callable, sorted. */
export function renderTable(walk: WalkOutput, digest: string): { text: string; header: GadgetHeader } {
  const names = Object.keys(walk.gadgets).sort();
  const counts = Object.fromEntries(CAPABILITIES.map((c) => [c, names.filter((n) => walk.gadgets[n]![c]).length])) as Record<Capability, number>;
  const header: GadgetHeader = {
    generator: walk.generator,
    image_recipe: digest,
    python: walk.python,
    max_depth: walk.max_depth,
    files: walk.files,
    modules: walk.modules,
    callables: walk.callables,
    gadgets: names.length,
    aliases: Object.keys(walk.aliases).length,
    counts,
  };
  const lines = [
    '# Pickle gadgets derived from the sandbox image: callables of its standard library and installed',
    '# packages that reach a capability within max_depth calls, by static reachability over their ASTs.',
    '# Generated by `ltrack rules gadgets` (sandbox/gadgets/walk.py); the bootstrap regenerates it when',
    '# the image recipe digest changes. Do not edit: extend rules/pickle-globals.toml instead.',
    '# Each entry: capability = call path, the callable first and the primitive it reaches last.',
    '# The pickle policy consults it for globals that are neither allowlisted nor denylisted.',
    '',
    '[header]',
    `generator = ${q(header.generator)}`,
    `image_recipe = ${q(header.image_recipe)}`,
    `python = ${q(header.python)}`,
    `max_depth = ${header.max_depth}`,
    `files = ${header.files}`,
    `modules = ${header.modules}`,
    `callables = ${header.callables}`,
    `gadgets = ${header.gadgets}`,
    `aliases = ${header.aliases}`,
    '',
    '[header.counts]',
    ...CAPABILITIES.map((c) => `${c} = ${counts[c]}`),
    '',
    '[gadgets]',
  ];
  for (const n of names) {
    const g = walk.gadgets[n]!;
    const caps = CAPABILITIES.filter((c) => g[c]).map((c) => `${c} = [${g[c]!.map(q).join(', ')}]`);
    lines.push(`${q(n)} = { ${caps.join(', ')} }`);
  }
  lines.push('', '# module.name -> the gadget it is bound to (re-exports and star imports)', '[aliases]');
  for (const a of Object.keys(walk.aliases).sort()) lines.push(`${q(a)} = ${q(walk.aliases[a]!)}`);
  return { text: `${lines.join('\n')}\n`, header };
}
