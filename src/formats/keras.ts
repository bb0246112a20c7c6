/**
 * A Keras model's architecture (`config.json` of a `.keras` zip; the `model_config` attribute of
 * an HDF5 model): the layers whose loading runs code. A `Lambda` layer carries a Python function
 * (marshalled bytecode, or source) that Keras rebuilds and calls; a layer or object from a module
 * outside Keras needs that module's code imported to load at all.
 */
interface KerasCodeLayers {
  /** names of Lambda layers */
  lambdas: string[];
  /** `module.class_name` of objects from outside keras/tensorflow */
  customObjects: string[];
  /**
   * The JSON nests deeper than the bound (or than the parser's stack): what lies below was not
   * looked at, and a Lambda can hide there — the caller must block, never pass it silently.
   */
  tooDeep: boolean;
}

const KERAS_MODULES = /^(keras|tensorflow|tf_keras)(\.|$)/;

/** Walks the JSON; a config that does not parse yields undefined. Depth-bounded against hostile nesting. */
export function kerasCodeLayers(json: string, maxDepth = 64): KerasCodeLayers | undefined {
  let root: unknown;
  try {
    root = JSON.parse(json);
  } catch (err) {
    // V8's parser recurses: nesting beyond its stack is a RangeError, not a syntax error
    if (err instanceof RangeError) return { lambdas: [], customObjects: [], tooDeep: true };
    return undefined;
  }
  const found: KerasCodeLayers = { lambdas: [], customObjects: [], tooDeep: false };
  const visit = (node: unknown, depth: number): void => {
    if (node === null || typeof node !== 'object') return;
    if (depth > maxDepth) {
      found.tooDeep = true;
      return;
    }
    if (Array.isArray(node)) {
      for (const item of node) visit(item, depth + 1);
      return;
    }
    const o = node as Record<string, unknown>;
    if (o.class_name === 'Lambda') {
      const cfg = o.config as Record<string, unknown> | undefined;
      found.lambdas.push(typeof cfg?.name === 'string' ? cfg.name : '(unnamed)');
    }
    if (typeof o.class_name === 'string' && typeof o.module === 'string' && !KERAS_MODULES.test(o.module)) {
      found.customObjects.push(`${o.module}.${o.class_name}`);
    }
    for (const value of Object.values(o)) visit(value, depth + 1);
  };
  visit(root, 0);
  return found;
}

/** Offset of the first bracket that opens deeper than `maxDepth` (strings skipped), for a finding's region. */
export function nestingBeyond(json: string, maxDepth: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (++depth > maxDepth) return i;
    } else if (c === '}' || c === ']') depth--;
  }
  return undefined;
}
