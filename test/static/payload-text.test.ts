import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyPayload, UTILITIES } from '../../src/static/payload-text.js';

const kind = (s: string) => classifyPayload(s)?.kind;

describe('classifyPayload: shell command lines', () => {
  it.each([
    ['/bin/true', 'a program in a bin folder, alone'],
    ['true', 'a POSIX utility'],
    ['curl -s http://127.0.0.1:8000/x | sh', 'a pipe into a shell'],
    ['touch /tmp/ltrack-canary && /bin/true', '&&'],
    ['echo pwned > /tmp/ltrack-canary', 'a redirection'],
    ['FOO=1 BAR="a b" /usr/bin/env', 'assignments before the command word'],
    ["sh -c 'id; uname -a'", 'a quoted script'],
    ['x=$(id)', 'a command substitution in an assignment'],
    ['2>/dev/null nc 127.0.0.1 4444', 'a redirection before the command word'],
    ['./run.sh --fast', 'a relative program path with an argument'],
    ['python3 -c "import os; os.system(\'/bin/true\')"', 'an interpreter with inline code'],
  ])('%s (%s)', (text) => {
    expect(kind(text)).toBe('shell');
  });
});

describe('classifyPayload: Python source', () => {
  it.each([
    ["import os; os.system('/bin/true')", 'import statement (import os)'],
    ["__import__('os').system('true')", 'call of __import__()'],
    ['from subprocess import run\nrun(["/bin/true"])', 'import statement (from … import)'],
    ["exec(compile('1', '<s>', 'exec'))", 'call of exec()'],
    ['open("/tmp/ltrack-canary", "w").write("x")', 'call of open()'],
    ['def f():\n    return 1\nf()', 'def statement'],
    ['x = 1; y = x + 2', 'assignment to x'],
    ['os.popen("id").read()', 'call of os.popen()'],
    ["r'''raw\\'''' if True else b\"\\x00\"", undefined],
  ])('%s', (text, evidence) => {
    if (evidence === undefined) expect(kind(text)).toBeUndefined();
    else {
      expect(kind(text)).toBe('python');
      expect(classifyPayload(text)!.why).toBe(evidence);
    }
  });
});

describe('classifyPayload: data is neither', () => {
  it.each([
    'float32',
    'weight',
    'model.layers.0.attn',
    'Hello, world',
    'This is a model card.',
    'the cat sat',
    'hello world',
    '/data/models/weights.bin',
    '0.5',
    '1e-5',
    'torch._utils._rebuild_tensor_v2',
    'cuda:0',
    '',
    ' ',
    'utf-8',
    'a.b.c',
    '{"key": 1}',
    'relu',
    'LayerNorm',
    'transformers.models.bert',
    '12abc',
  ])('%j', (text) => {
    expect(classifyPayload(text)).toBeUndefined();
  });
});

// ------------------------------------------------------------------ property tests
const safeWord = fc.stringMatching(/^[a-z0-9_.-]{1,10}$/);
const program = fc.oneof(
  fc.constantFrom('sh', 'bash', 'curl', 'wget', 'nc', 'rm', 'touch', 'echo', 'cat', 'python3', 'true', 'id', 'uname'),
  fc.constantFrom('/bin/', '/usr/bin/', '/usr/local/bin/', '/sbin/').chain((d) => fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/).map((n) => d + n)),
);
const quoteWord = (w: string) => fc.constantFrom(w, `'${w}'`, `"${w}"`);
const simpleCommand = fc
  .tuple(
    fc.array(
      safeWord.map((w) => `V${w.replace(/[^a-z0-9_]/g, '')}=${w}`),
      { maxLength: 2 },
    ),
    program,
    fc.array(safeWord.chain(quoteWord), { maxLength: 4 }),
    fc.option(fc.constantFrom('> /tmp/x', '2>/dev/null', '< /dev/null', '>> /tmp/y')),
  )
  .map(([env, cmd, args, redir]) => [...env, cmd, ...args, ...(redir ? [redir] : [])].join(' '));
const commandLine = fc
  .tuple(simpleCommand, fc.array(fc.tuple(fc.constantFrom(' | ', ' && ', ' || ', '; ', ' & ', '\n'), simpleCommand), { maxLength: 3 }))
  .map(([first, rest]) => first + rest.map(([op, c]) => op + c).join(''));

const ident = fc
  .stringMatching(/^[a-z_][a-z0-9_]{0,8}$/)
  .filter(
    (s) =>
      ![
        'and',
        'as',
        'if',
        'in',
        'is',
        'or',
        'not',
        'for',
        'def',
        'del',
        'try',
        'with',
        'from',
        'else',
        'elif',
        'pass',
        'class',
        'while',
        'yield',
        'break',
        'raise',
        'async',
        'await',
        'global',
        'import',
        'lambda',
        'return',
        'assert',
        'except',
        'finally',
        'continue',
        'nonlocal',
      ].includes(s),
  );
const pyLiteral = fc.oneof(
  fc.integer().map(String),
  safeWord.map((w) => JSON.stringify(w)),
  safeWord.map((w) => `b'${w}'`),
  fc.constant('None'),
);
// A statement that starts with a shell utility's name is a command line too (`cd = b'a'` runs cd
// with two arguments): either reading raises the severity, so the property leaves those names out.
const pyName = ident.filter((s) => !UTILITIES.has(s));
const pyStatement = fc.oneof(
  ident.map((m) => `import ${m}`),
  fc.tuple(ident, ident).map(([m, n]) => `from ${m} import ${n}`),
  fc.tuple(pyName, ident, fc.array(pyLiteral, { maxLength: 3 })).map(([o, f, a]) => `${o}.${f}(${a.join(', ')})`),
  fc.tuple(pyName, pyLiteral).map(([n, v]) => `${n} = ${v}`),
  fc.tuple(fc.constantFrom('exec', 'eval', '__import__', 'open'), pyLiteral).map(([f, a]) => `${f}(${a})`),
);
const pySource = fc.tuple(fc.array(pyStatement, { minLength: 1, maxLength: 4 }), fc.constantFrom('; ', '\n')).map(([s, sep]) => s.join(sep));

describe('classifyPayload: properties', () => {
  it('every generated command line (programs, quoting, assignments, redirections, operators) is shell', () => {
    fc.assert(
      fc.property(commandLine, (line) => {
        expect(classifyPayload(line)?.kind).toBe('shell');
      }),
      { numRuns: 2000 },
    );
  });

  it('every generated Python statement list (imports, dotted calls, assignments, code builtins) is Python', () => {
    fc.assert(
      fc.property(pySource, (src) => {
        expect(classifyPayload(src)?.kind).toBe('python');
      }),
      { numRuns: 2000 },
    );
  });

  it('identifiers, dotted names, numbers and data paths are neither', () => {
    const data = fc.oneof(
      ident.filter((s) => !UTILITIES.has(s)),
      fc.array(ident, { minLength: 2, maxLength: 5 }).map((p) => p.join('.')),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
      fc.array(ident, { minLength: 1, maxLength: 4 }).map((p) => `/data/${p.join('/')}.bin`),
    );
    fc.assert(
      fc.property(data, (text) => {
        expect(classifyPayload(text)).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on arbitrary text and judges a long text by its beginning', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const r = classifyPayload(s);
        if (r !== undefined) expect(['shell', 'python']).toContain(r.kind);
      }),
      { numRuns: 3000 },
    );
    expect(kind(`import os; os.system('true')\n${'x = 1\n'.repeat(20_000)}`)).toBe('python');
  });
});
