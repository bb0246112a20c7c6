import { parse, tokenize } from '@huggingface/jinja';
import { MAX_CANDIDATES, binary, elements, index, method, product, slice, union, type Folded, type Value } from './template-values.js';

/**
 * Chat templates are code: Jinja that transformers, llama-cpp-python and inference servers render
 * with the conversation. Rendered by an unsandboxed Environment (or a sandbox with a hole), a
 * template that walks dunder attributes reaches Python's classes, globals and builtins
 * (server-side template injection). The template is parsed with @huggingface/jinja (the parser
 * the Hub uses for chat templates) and its AST walked: every place a name is looked up on an
 * object — `.name`, `[key]`, `|attr(name)`, the `attribute=` of map/selectattr/… — gets the set
 * of strings its expression can evaluate to from a small constant folder (literals, escapes the
 * lexer already decoded, `~`/`+`/`%`, format/join/replace/slicing, `set` and `for` bindings), so
 * `|attr('\x5f\x5fclass\x5f\x5f')` and `'__cla' ~ 'ss__'` read as the name they build.
 */

export type TemplateRule = 'LT-TPL-001' | 'LT-TPL-002' | 'LT-TPL-003' | 'LT-TPL-004';

export interface TemplateFinding {
  ruleId: TemplateRule;
  message: string;
  evidence: Record<string, unknown>;
}

/** Bounds: the folder gives up (unknown) rather than grow; the walk stops rather than run long. */
// the parser takes about 2.5 s a MiB; real chat templates are tens of KiB
const MAX_TEMPLATE_CHARS = 2 ** 20;
const MAX_NODES = 500_000;
const MAX_FOLD_DEPTH = 256;
const MAX_FINDINGS = 50;

/**
 * Attribute names that reach interpreter internals without a leading underscore: the ones
 * jinja2's sandbox refuses (frames, code objects, function globals, `mro`) besides every `_name`.
 */
const INTERNAL_NAMES = new Set([
  'mro',
  'func_globals',
  'func_code',
  'func_closure',
  'func_defaults',
  'func_dict',
  'im_class',
  'im_func',
  'im_self',
  'gi_frame',
  'gi_code',
  'gi_yieldfrom',
  'cr_frame',
  'cr_code',
  'cr_await',
  'ag_frame',
  'ag_code',
  'ag_await',
  'tb_frame',
  'tb_next',
  'f_globals',
  'f_locals',
  'f_builtins',
  'f_back',
  'f_code',
  'co_code',
  'format_map',
]);

/**
 * Globals that expose Python objects from inside a template: jinja2's default helpers (cycler,
 * joiner, lipsum, namespace — their functions' `__globals__` hold `os`), the template reference
 * `self`, and the Flask globals SSTI payloads look for. No chat template needs any of them except
 * `namespace(k=v)`, the loop-state idiom, which is not reported when called directly.
 */
const EXPOSING_GLOBALS = new Set(['cycler', 'joiner', 'namespace', 'lipsum', 'self', 'config', 'request', 'url_for', 'get_flashed_messages']);

/** Filters whose arguments name attributes (jinja2's make_attrgetter splits them on dots). */
const ATTRIBUTE_FILTERS = new Set(['map', 'selectattr', 'rejectattr', 'groupby', 'sort', 'sum', 'unique', 'min', 'max']);
/** Of those, the ones whose first positional argument is an attribute name. */
const POSITIONAL_ATTRIBUTE = new Set(['selectattr', 'rejectattr', 'groupby']);

/** A name that reaches interpreter internals: private or dunder, or one of INTERNAL_NAMES. */
export function isInternalName(name: string): boolean {
  return name.split('.').some((part) => part.startsWith('_') || INTERNAL_NAMES.has(part));
}

// The AST's node classes are not exported as types that narrow on `type`; nodes are read as records.
type Node = { type: string; [key: string]: unknown };
const isNode = (x: unknown): x is Node => typeof x === 'object' && x !== null && typeof (x as { type?: unknown }).type === 'string';
const str = (n: unknown): string | undefined => (isNode(n) && n.type === 'Identifier' ? String(n.value) : undefined);

/**
 * Analyses one template. Never throws: a template the parser refuses is itself a finding (the
 * loader's Jinja may accept it and read it differently), and so is one over the size bound.
 */
export function analyseTemplate(source: string): TemplateFinding[] {
  if (source.length > MAX_TEMPLATE_CHARS) {
    return [
      {
        ruleId: 'LT-TPL-003',
        message: `chat template of ${source.length} characters is over the ${MAX_TEMPLATE_CHARS}-character bound; not parsed, read as text`,
        evidence: { length: source.length },
      },
      ...unparsed(source),
    ];
  }
  let program: Node;
  try {
    // @huggingface/jinja's index.d.ts re-exports from extensionless paths ('./parser') that NodeNext resolution cannot follow, so parse and tokenize have no type here
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call -- the library's types are unresolvable under NodeNext (see above); tsc hides it with skipLibCheck
    program = parse(tokenize(source));
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return [
      { ruleId: 'LT-TPL-003', message: `chat template does not parse as Jinja (${why.slice(0, 200)}); the loader's Jinja may read it differently`, evidence: { error: why.slice(0, 500) } },
      ...unparsed(source),
    ];
  }
  try {
    return new Walker(program).run();
  } catch (err) {
    // a bound this module did not foresee (a stack overflow on a pathological AST): not analysed is not clean
    const why = err instanceof Error ? err.message : String(err);
    return [{ ruleId: 'LT-TPL-003', message: `chat template could not be analysed (${why.slice(0, 200)})`, evidence: { error: why.slice(0, 500) } }];
  }
}

class Walker {
  /** name (or `ns.attr`) → the expressions assigned to it anywhere ('unknown' for macro parameters, tuple targets). */
  private readonly bindings = new Map<string, (Node | 'unknown' | { elementOf: Node })[]>();
  private readonly findings: TemplateFinding[] = [];
  private readonly reported = new Set<string>();
  private readonly folding = new Set<string>();
  /** A name's folded value, once known: a chain of `set`s that each use the last twice stays linear. */
  private readonly folded = new Map<string, Folded>();

  constructor(private readonly program: Node) {}

  run(): TemplateFinding[] {
    const nodes = this.nodes();
    for (const n of nodes) this.bind(n);
    this.bindMacroArguments(nodes);
    const callees = new Set<Node>();
    const notReferences = new Set<unknown>();
    for (const n of nodes) {
      if (n.type === 'CallExpression' && isNode(n.callee)) callees.add(n.callee);
      // identifiers that name no variable: `.property`, filter and test names, keyword names
      if (n.type === 'MemberExpression' && !n.computed) notReferences.add(n.property);
      if (n.type === 'FilterExpression' || n.type === 'FilterStatement') notReferences.add(isNode(n.filter) && n.filter.type === 'CallExpression' ? n.filter.callee : n.filter);
      if (n.type === 'TestExpression') notReferences.add(n.test);
      if (n.type === 'KeywordArgumentExpression') notReferences.add(n.key);
    }
    for (const n of nodes) if (!notReferences.has(n)) this.check(n, callees);
    // a string that spells an internal name adds nothing once the name's use was found
    const used = this.findings.some((f) => f.ruleId === 'LT-TPL-001');
    return used ? this.findings.filter((f) => !('literal' in f.evidence)) : this.findings;
  }

  /** Every node of the AST, iteratively (no recursion on the template's nesting), bounded. */
  private nodes(): Node[] {
    const out: Node[] = [];
    const stack: unknown[] = [this.program];
    while (stack.length) {
      const x = stack.pop();
      if (Array.isArray(x)) stack.push(...(x as unknown[]));
      else if (x instanceof Map) for (const [k, v] of x) stack.push(k, v);
      else if (isNode(x)) {
        if (out.length >= MAX_NODES) throw new Error(`more than ${MAX_NODES} nodes`);
        out.push(x);
        for (const [k, v] of Object.entries(x)) if (k !== 'operator' && typeof v === 'object' && v !== null) stack.push(v);
      }
    }
    return out;
  }

  private addBinding(name: string, value: Node | 'unknown' | { elementOf: Node }): void {
    const list = this.bindings.get(name) ?? [];
    list.push(value);
    this.bindings.set(name, list);
  }

  private bind(n: Node): void {
    if (n.type === 'Set') {
      const target = n.assignee;
      // `{% set x %}…{% endset %}` captures its body's output: the text and expressions, joined
      const value = isNode(n.value) ? n.value : Array.isArray(n.body) ? joinedOutput(n.body) : 'unknown';
      const name = str(target) ?? memberPath(target);
      if (name) this.addBinding(name, value);
      else if (isNode(target)) for (const part of tupleNames(target)) this.addBinding(part, 'unknown');
    } else if (n.type === 'For') {
      const v = str(n.loopvar);
      if (v && isNode(n.iterable)) this.addBinding(v, { elementOf: n.iterable });
      else if (isNode(n.loopvar)) for (const part of tupleNames(n.loopvar)) this.addBinding(part, 'unknown');
    } else if (n.type === 'CallStatement') {
      for (const a of Array.isArray(n.callerArgs) ? n.callerArgs : []) {
        const name = str(a) ?? (isNode(a) ? str(a.key) : undefined);
        if (name) this.addBinding(name, 'unknown');
      }
    }
  }

  /**
   * A macro's parameters take the arguments of its call sites and its defaults. A macro whose
   * name is used other than as a direct callee (passed around, called indirectly) may be called
   * with anything: its parameters are unknown.
   */
  private bindMacroArguments(nodes: Node[]): void {
    const macros = new Map<string, Node[]>();
    for (const n of nodes) if (n.type === 'Macro' && str(n.name) !== undefined) macros.set(str(n.name)!, Array.isArray(n.args) ? (n.args as unknown[]).filter(isNode) : []);
    const direct = new Set<unknown>();
    const calls: Node[] = [];
    for (const n of nodes) {
      if (n.type === 'Macro') direct.add(n.name);
      if (n.type === 'CallExpression' && macros.has(str(n.callee) ?? '')) {
        direct.add(n.callee);
        calls.push(n);
      }
    }
    const escaped = new Set(nodes.filter((n) => n.type === 'Identifier' && macros.has(String(n.value)) && !direct.has(n)).map((n) => String(n.value)));
    for (const [name, params] of macros) {
      const names = params.map((p) => str(p) ?? str(p.key));
      params.forEach((p, i) => {
        const param = names[i];
        if (param === undefined) return;
        if (escaped.has(name)) this.addBinding(param, 'unknown');
        else if (p.type === 'KeywordArgumentExpression' && isNode(p.value)) this.addBinding(param, p.value);
      });
      if (escaped.has(name)) continue;
      for (const call of calls.filter((c) => str(c.callee) === name)) {
        const args = (Array.isArray(call.args) ? (call.args as unknown[]) : []).filter(isNode);
        let i = 0;
        for (const a of args) {
          if (a.type === 'SpreadExpression' || a.type === 'KeywordSpreadExpression') {
            for (const param of names) if (param !== undefined) this.addBinding(param, 'unknown');
          } else if (a.type === 'KeywordArgumentExpression') {
            const key = str(a.key);
            if (key !== undefined && names.includes(key) && isNode(a.value)) this.addBinding(key, a.value);
          } else {
            const param = names[i++];
            if (param !== undefined) this.addBinding(param, a);
          }
        }
      }
    }
  }

  private check(n: Node, callees: Set<Node>): void {
    if (n.type === 'MemberExpression') {
      if (!n.computed) {
        const name = str(n.property);
        if (name !== undefined) this.nameUse(name, 'attribute', `.${name}`);
      } else if (isNode(n.property) && n.property.type !== 'SliceExpression') {
        this.computedName(n.property, 'subscript', false);
      }
    } else if (n.type === 'FilterExpression' || n.type === 'FilterStatement') {
      this.filterUse(n.filter);
    } else if (n.type === 'Identifier') {
      const name = String(n.value);
      if (EXPOSING_GLOBALS.has(name) && !this.bindings.has(name) && !(name === 'namespace' && callees.has(n))) {
        this.report('LT-TPL-002', `global:${name}`, `chat template uses the Jinja global \`${name}\`, which exposes Python objects (its functions' globals reach os and builtins)`, { global: name });
      }
    } else if (n.type === 'StringLiteral' && typeof n.value === 'string' && DUNDER.test(n.value)) {
      this.report('LT-TPL-004', `literal:${n.value.slice(0, 80)}`, `chat template holds the string ${JSON.stringify(n.value.slice(0, 80))}, which spells a Python internal name`, {
        literal: n.value.slice(0, 200),
      });
    }
  }

  /** `x|attr(name)`, `x|map(attribute=name)`, `x|selectattr(name, …)`, `x|map('attr', name)`. */
  private filterUse(filter: unknown): void {
    if (!isNode(filter)) return;
    const name = str(filter) ?? (filter.type === 'CallExpression' ? str(filter.callee) : undefined);
    const args = filter.type === 'CallExpression' && Array.isArray(filter.args) ? (filter.args as unknown[]).filter(isNode) : [];
    const positional = args.filter((a) => a.type !== 'KeywordArgumentExpression');
    const keyword = (key: string) => args.find((a) => a.type === 'KeywordArgumentExpression' && str(a.key) === key)?.value;
    if (name === 'attr') {
      if (positional[0]) this.computedName(positional[0], '|attr', true);
      return;
    }
    if (name === undefined || !ATTRIBUTE_FILTERS.has(name)) return;
    const attribute = keyword('attribute');
    if (isNode(attribute)) this.computedName(attribute, `|${name}(attribute=)`, true);
    if (POSITIONAL_ATTRIBUTE.has(name) && positional[0]) this.computedName(positional[0], `|${name}`, true);
    if (name === 'map' && positional[0] && positional[1]) {
      const via = this.fold(positional[0], 0);
      if (via === undefined || via.includes('attr')) this.computedName(positional[1], '|map(attr)', true);
    }
  }

  /**
   * A looked-up name computed by an expression: any string it can fold to that is internal is
   * reported; one that cannot be folded is reported when a name is what the expression is for
   * (`|attr`, attribute=) or when it builds a string (a subscript key spelled by `~`, format, …).
   */
  private computedName(expr: Node, how: string, alwaysName: boolean): void {
    const values = this.fold(expr, 0);
    if (values === undefined) {
      if (alwaysName || BUILDS_STRINGS.has(expr.type) || isStringBuildingCall(expr) || this.isMetadataValue(expr)) {
        this.report('LT-TPL-004', `unknown:${how}:${this.findings.length}`, `chat template looks up a name computed at render time (${how}); it cannot be checked statically`, { via: how });
      }
      return;
    }
    for (const v of values) {
      if (typeof v === 'string' && isInternalName(v)) {
        this.nameUse(v, how, `${how} ${JSON.stringify(v)}`);
      }
    }
  }

  /**
   * A special token the renderer passes in (bos_token, eos_token, …): its text comes from the
   * model's own metadata, so the file's author chooses it, and `x[bos_token]` falls back to an
   * attribute lookup in jinja2 when the item is missing.
   */
  private isMetadataValue(expr: Node): boolean {
    const name = str(expr);
    return name !== undefined && !this.bindings.has(name) && (name.endsWith('_token') || name === 'additional_special_tokens');
  }

  private nameUse(name: string, how: string, shown: string): void {
    if (!isInternalName(name)) return;
    this.report(
      'LT-TPL-001',
      `name:${name}`,
      `chat template reaches the Python internal \`${name}\` (${shown.slice(0, 120)}): rendered outside a strict sandbox, it walks to classes, globals and builtins`,
      { name, via: how },
    );
  }

  private report(ruleId: TemplateRule, key: string, message: string, evidence: Record<string, unknown>): void {
    if (this.reported.has(key) || this.findings.length >= MAX_FINDINGS) return;
    this.reported.add(key);
    this.findings.push({ ruleId, message, evidence });
  }

  /** The constants an expression can evaluate to, or undefined; never more than MAX_CANDIDATES. */
  private fold(n: unknown, depth: number): Folded {
    if (!isNode(n) || depth > MAX_FOLD_DEPTH) return undefined;
    const d = depth + 1;
    switch (n.type) {
      case 'StringLiteral':
        return [String(n.value)];
      case 'IntegerLiteral':
      case 'FloatLiteral':
        return [Number(n.value)];
      case 'ArrayLiteral':
      case 'TupleLiteral':
        return this.foldList(Array.isArray(n.value) ? n.value : [], d);
      case 'ObjectLiteral':
        return n.value instanceof Map ? this.foldDict([...n.value.entries()], d) : undefined;
      case 'Identifier':
        return this.foldName(String(n.value), d);
      case 'MemberExpression':
        return this.foldMember(n, d);
      case 'BinaryExpression':
        return this.foldBinary(n, d);
      case 'UnaryExpression':
        return undefined;
      case 'FilterExpression': {
        const operand = this.fold(n.operand, d);
        const filter = n.filter;
        const name = str(filter) ?? (isNode(filter) ? str(filter.callee) : undefined);
        const args = isNode(filter) && filter.type === 'CallExpression' && Array.isArray(filter.args) ? filter.args : [];
        return name === undefined ? undefined : this.apply(name, operand, args, d);
      }
      case 'CallExpression':
        return this.foldCall(n, d);
      case 'Ternary':
        return union(this.fold(n.trueExpr, d), this.fold(n.falseExpr, d));
      case 'SelectExpression':
        return union(this.fold(n.lhs, d), ['']);
      default:
        return undefined;
    }
  }

  private foldName(name: string, depth: number): Folded {
    const constant = CONSTANTS.get(name);
    if (constant !== undefined) return [constant];
    const bound = this.bindings.get(name);
    if (!bound || this.folding.has(name)) return undefined; // free (a render-time value) or self-referential
    if (this.folded.has(name)) return this.folded.get(name);
    this.folding.add(name);
    let out: Folded = [];
    for (const b of bound) {
      out = b === 'unknown' ? undefined : union(out, isNode(b) ? this.fold(b, depth) : elements(this.fold(b.elementOf, depth)));
      if (out === undefined) break;
    }
    this.folding.delete(name);
    this.folded.set(name, out);
    return out;
  }

  private foldList(items: unknown[], depth: number): Folded {
    if (items.length > MAX_CANDIDATES) return undefined;
    let lists: Value[][] = [[]];
    for (const item of items) {
      const vs = this.fold(item, depth);
      if (vs === undefined || lists.length * vs.length > MAX_CANDIDATES) return undefined;
      lists = lists.flatMap((l) => vs.map((v) => [...l, v]));
    }
    return lists;
  }

  private foldDict(entries: [unknown, unknown][], depth: number): Folded {
    if (entries.length > MAX_CANDIDATES) return undefined;
    const m = new Map<string, Value>();
    for (const [k, v] of entries) {
      const ks = this.fold(k, depth);
      if (ks?.length !== 1) return undefined;
      const key = ks[0];
      // keys are scalars; a tuple key (a list here) spells no name: the dict is unknown
      if (typeof key === 'object' && key !== null) return undefined;
      const vs = this.fold(v, depth);
      m.set(String(key), vs?.length === 1 ? vs[0]! : null);
    }
    return [m];
  }

  private foldMember(n: Node, depth: number): Folded {
    const path = memberPath(n);
    if (path && this.bindings.has(path)) return this.foldName(path, depth);
    if (!n.computed) {
      // a string method looked up to be called: folded by foldCall; anything else is a render-time value
      return undefined;
    }
    const object = this.fold(n.object, depth);
    if (object === undefined) return undefined;
    const prop = n.property;
    if (isNode(prop) && prop.type === 'SliceExpression') {
      const [start, stop, step] = [prop.start, prop.stop, prop.step].map((e) => (e === undefined || e === null ? [null] : this.fold(e, depth)));
      if (!start || !stop || !step || start.length * stop.length * step.length * object.length > MAX_CANDIDATES) return undefined;
      const out: Value[] = [];
      for (const o of object)
        for (const a of start)
          for (const b of stop)
            for (const c of step) {
              const s = slice(o, a, b, c);
              if (s === undefined) return undefined;
              out.push(s);
            }
      return out;
    }
    const keys = this.fold(prop, depth);
    if (keys === undefined || keys.length * object.length > MAX_CANDIDATES) return undefined;
    const out: Value[] = [];
    for (const o of object)
      for (const k of keys) {
        const v = index(o, k);
        if (v === undefined) return undefined;
        out.push(v);
      }
    return out;
  }

  private foldBinary(n: Node, depth: number): Folded {
    const op = isNode(n.operator) ? String(n.operator.value) : '';
    const left = this.fold(n.left, depth);
    const right = left === undefined ? undefined : this.fold(n.right, depth);
    if (left === undefined || right === undefined || left.length * right.length > MAX_CANDIDATES) return undefined;
    const out: Value[] = [];
    for (const a of left)
      for (const b of right) {
        const v = binary(op, a, b);
        if (v === undefined) return undefined;
        out.push(v);
      }
    return out;
  }

  private foldCall(n: Node, depth: number): Folded {
    const callee = n.callee;
    const args = Array.isArray(n.args) ? n.args : [];
    if (str(callee) === 'dict') {
      const entries: [unknown, unknown][] = [];
      for (const a of args) {
        if (!isNode(a) || a.type !== 'KeywordArgumentExpression') return undefined;
        entries.push([{ type: 'StringLiteral', value: str(a.key) }, a.value]);
      }
      return this.foldDict(entries, depth);
    }
    if (!isNode(callee) || callee.type !== 'MemberExpression' || callee.computed) return undefined;
    const method = str(callee.property);
    if (method === undefined) return undefined;
    return this.apply(method, this.fold(callee.object, depth), args, depth);
  }

  /** A filter or string method by name on folded operands: the ones that build names. */
  private apply(name: string, operand: Folded, rawArgs: unknown[], depth: number): Folded {
    if (operand === undefined) return undefined;
    const positional: Folded[] = [];
    for (const a of rawArgs) {
      if (isNode(a) && a.type === 'KeywordArgumentExpression') continue;
      positional.push(this.fold(a, depth));
    }
    if (positional.some((p) => p === undefined)) return undefined;
    const argSets = product(positional as Value[][]);
    if (argSets === undefined || argSets.length * operand.length > MAX_CANDIDATES) return undefined;
    const out: Value[] = [];
    for (const o of operand)
      for (const args of argSets) {
        const v = method(name, o, args);
        if (v === undefined) return undefined;
        out.push(v);
      }
    return out;
  }
}

/** Expressions whose value is a string someone built: a key spelled this way is a name in disguise. */
const BUILDS_STRINGS = new Set(['BinaryExpression', 'FilterExpression', 'Ternary']);
const STRING_METHODS = new Set(['format', 'join', 'replace', 'lower', 'upper', 'strip', 'lstrip', 'rstrip', 'title', 'capitalize']);
const isStringBuildingCall = (n: Node): boolean => n.type === 'CallExpression' && isNode(n.callee) && n.callee.type === 'MemberExpression' && STRING_METHODS.has(str(n.callee.property) ?? '');

const DUNDER = /__[A-Za-z0-9_]+__/;
const CONSTANTS = new Map<string, Value>([
  ['true', true],
  ['True', true],
  ['false', false],
  ['False', false],
  ['none', null],
  ['None', null],
]);

function memberPath(n: unknown): string | undefined {
  if (!isNode(n) || n.type !== 'MemberExpression' || n.computed) return undefined;
  const object = str(n.object);
  const property = str(n.property);
  return object !== undefined && property !== undefined ? `${object}.${property}` : undefined;
}

function joinedOutput(body: unknown[]): Node {
  const parts = body.filter(isNode);
  if (parts.length === 0) return { type: 'StringLiteral', value: '' };
  return parts.reduce((left, right) => ({ type: 'BinaryExpression', operator: { type: 'AdditiveBinaryOperator', value: '~' }, left, right }));
}

function tupleNames(n: Node): string[] {
  return n.type === 'TupleLiteral' && Array.isArray(n.value) ? n.value.map(str).filter((s): s is string => s !== undefined) : [];
}

/**
 * A template the parser refused (jinja2 accepts more: `()`, `(1,)`, octal and \N{} escapes) is
 * still read: the text of its `{{ }}` and `{% %}` blocks, Python string escapes decoded and
 * quoted pieces joined across `~`/`+`, searched for internal names and exposing globals. Coarser
 * than the AST walk, so a template that breaks the parser cannot hide its payload behind it.
 */
function unparsed(source: string): TemplateFinding[] {
  const out: TemplateFinding[] = [];
  const seen = new Set<string>();
  const add = (ruleId: TemplateRule, key: string, message: string, evidence: Record<string, unknown>) => {
    if (seen.has(key) || out.length >= MAX_FINDINGS) return;
    seen.add(key);
    out.push({ ruleId, message, evidence });
  };
  const code = [...source.matchAll(/\{[{%]([\s\S]*?)[%}]\}/g)].map((m) => m[1]!).join('\n');
  const joined = pythonUnescape(code).replace(/(['"])\s*[~+]\s*(['"])/g, '');
  for (const m of joined.matchAll(/__[A-Za-z0-9_]+__|\b_[A-Za-z]\w*__\w+|\.\s*([A-Za-z_]\w*)/g)) {
    const name = (m[1] ?? m[0]).trim();
    if (m[1] !== undefined && !isInternalName(name)) continue;
    add(
      'LT-TPL-001',
      `name:${name}`,
      `chat template (read as text: it does not parse) names the Python internal \`${name}\`: rendered outside a strict sandbox, it walks to classes, globals and builtins`,
      { name, via: 'text' },
    );
  }
  for (const m of joined.matchAll(/\b(cycler|joiner|lipsum|self|config|request|url_for|get_flashed_messages|namespace)\b/g)) {
    const name = m[1]!;
    if (name === 'namespace' && /^namespace\s*\(/.test(joined.slice(m.index))) continue;
    add('LT-TPL-002', `global:${name}`, `chat template (read as text: it does not parse) uses the Jinja global \`${name}\`, which exposes Python objects`, { global: name, via: 'text' });
  }
  if (/\|\s*attr\b/.test(joined)) add('LT-TPL-004', 'attr', 'chat template (read as text: it does not parse) looks names up with |attr', { via: 'text' });
  return out;
}

/** Python's unicode-escape for the escapes jinja2's lexer honours in string literals. */
function pythonUnescape(text: string): string {
  return text.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|N\{[^}]{1,40}\})/g, (m, e: string) => {
    if (e[0] === 'N') return /^N\{LOW LINE\}$/i.test(e) ? '_' : m;
    const code = /^[0-7]/.test(e) ? parseInt(e, 8) : parseInt(e.slice(1), 16);
    return code <= 0x10ffff ? String.fromCodePoint(code) : m;
  });
}
