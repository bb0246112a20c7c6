/**
 * Whether a constant string a pickle hands to a callable is executable text: a shell command line
 * or Python source. An unknown callable given one is far more likely a gadget than a constructor
 * given a name, so the finding is raised (src/scoring/weigh.ts). Both checks are small grammars,
 * not keyword searches: the text must tokenize as the language and have the shape of code in it.
 */

export type PayloadKind = 'shell' | 'python';

export interface PayloadText {
  kind: PayloadKind;
  /** What made it code, for the report ("import statement", "command word /bin/sh", …). */
  why: string;
}

/** Text longer than this is judged by its first part (payloads are short; model data is not). */
const MAX_SCAN = 64 * 1024;

/**
 * Python source with strong evidence (an import, a dotted call, a code builtin, a definition) is
 * tried first: "import os" is also a valid (ImageMagick) command line.
 */
export function classifyPayload(text: string): PayloadText | undefined {
  const t = text.length > MAX_SCAN ? text.slice(0, MAX_SCAN) : text;
  if (t.trim().length < 2) return undefined;
  const py = pythonEvidence(t);
  if (py?.strong) return { kind: 'python', why: py.why };
  const sh = shellEvidence(t);
  if (sh) return { kind: 'shell', why: sh };
  // `A=b /bin/c` is both a shell assignment and Python arithmetic: an assignment or a lambda
  // alone is weaker evidence of Python than a command word is of a command line
  if (py) return { kind: 'python', why: py.why };
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Python: a tokenizer after the language reference (names, numbers, strings with prefixes and
// escapes, operators, brackets, comments, line continuations), then a statement check: adjacent
// operands need an operator or a keyword between them, a statement starts with something an
// expression or statement can start with and does not end in a binary operator. Valid Python is
// not enough ("Hello, world" is a tuple): it must also import, assign, define, or call a dotted
// name or an interpreter builtin.

type PyTok = { t: 'name' | 'kw' | 'num' | 'str' | 'op'; v: string };

const KEYWORDS = new Set([
  'False',
  'None',
  'True',
  'and',
  'as',
  'assert',
  'async',
  'await',
  'break',
  'class',
  'continue',
  'def',
  'del',
  'elif',
  'else',
  'except',
  'finally',
  'for',
  'from',
  'global',
  'if',
  'import',
  'in',
  'is',
  'lambda',
  'nonlocal',
  'not',
  'or',
  'pass',
  'raise',
  'return',
  'try',
  'while',
  'with',
  'yield',
]);
/** Keywords that are values: they behave as operands. */
const KEYWORD_VALUES = new Set(['False', 'None', 'True']);
/** Builtins whose call alone makes a string code: they run, compile or import what they are given. */
const CODE_BUILTINS = new Set(['exec', 'eval', 'compile', '__import__', 'open', 'getattr', 'setattr', 'globals', 'locals', 'breakpoint', 'input', 'print']);
const COMPOUND = new Set(['def', 'class', 'for', 'while', 'with', 'try', 'lambda', 'if', 'async']);
const OPERATORS = [
  '**=',
  '//=',
  '>>=',
  '<<=',
  '...',
  '->',
  ':=',
  '==',
  '!=',
  '<=',
  '>=',
  '**',
  '//',
  '<<',
  '>>',
  '+=',
  '-=',
  '*=',
  '/=',
  '%=',
  '&=',
  '|=',
  '^=',
  '@=',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ',',
  ':',
  '.',
  ';',
  '@',
  '=',
  '+',
  '-',
  '*',
  '/',
  '%',
  '&',
  '|',
  '^',
  '~',
  '<',
  '>',
];
const CLOSE: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
/** Tokens a statement may begin with (besides operands and keywords). */
const STATEMENT_START = new Set(['(', '[', '{', '-', '+', '~', '@', '*', '...']);
/** Tokens a statement may end with (besides operands). */
const STATEMENT_END = new Set([')', ']', '}', ':', ',', '...']);

function tokenizePython(text: string): PyTok[][] | undefined {
  const statements: PyTok[][] = [];
  let cur: PyTok[] = [];
  const brackets: string[] = [];
  const end = () => {
    if (cur.length) statements.push(cur);
    cur = [];
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\f') {
      i++;
    } else if (c === '\\' && (text[i + 1] === '\n' || (text[i + 1] === '\r' && text[i + 2] === '\n'))) {
      i += text[i + 1] === '\n' ? 2 : 3;
    } else if (c === '\n' || c === '\r') {
      if (brackets.length === 0) end();
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (/[\p{L}_]/u.test(c)) {
      const m = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*/u.exec(text.slice(i, i + 256))!;
      const word = m[0];
      const quote = text[i + word.length];
      if ((quote === "'" || quote === '"') && /^(r|u|R|U|f|F|b|B|br|Br|bR|BR|rb|rB|Rb|RB|fr|Fr|fR|FR|rf|rF|Rf|RF)$/.test(word)) {
        const n = stringEnd(text, i + word.length);
        if (n < 0) return undefined;
        cur.push({ t: 'str', v: text.slice(i, n) });
        i = n;
      } else {
        cur.push({ t: KEYWORDS.has(word) ? 'kw' : 'name', v: word });
        i += word.length;
      }
    } else if (c === "'" || c === '"') {
      const n = stringEnd(text, i);
      if (n < 0) return undefined;
      cur.push({ t: 'str', v: text.slice(i, n) });
      i = n;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const m = /^(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(\d[\d_]*)?\.?\d*(?:[eE][+-]?\d+)?[jJ]?)/.exec(text.slice(i, i + 128))!;
      if (!m[0] || /[\p{L}_]/u.test(text[i + m[0].length] ?? '')) return undefined; // 12abc is no token
      cur.push({ t: 'num', v: m[0] });
      i += m[0].length;
    } else {
      const op = OPERATORS.find((o) => text.startsWith(o, i));
      if (!op) return undefined; // $, ?, `, ! alone: not Python
      if (op === '(' || op === '[' || op === '{') brackets.push(op);
      else if (op in CLOSE && brackets.pop() !== CLOSE[op]) return undefined;
      if (op === ';' && brackets.length === 0) end();
      else cur.push({ t: 'op', v: op });
      i += op.length;
    }
  }
  if (brackets.length) return undefined;
  end();
  return statements;
}

/** The index after a string literal starting at `at` (a quote), or -1 when it never ends. */
function stringEnd(text: string, at: number): number {
  const q = text[at]!;
  const triple = text.startsWith(q.repeat(3), at);
  const close = triple ? q.repeat(3) : q;
  for (let i = at + close.length; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') {
      i++; // an escape; in a raw string too, a backslash keeps the quote after it from ending the string
      continue;
    }
    if (!triple && c === '\n') return -1;
    if (text.startsWith(close, i)) return i + close.length;
  }
  return -1;
}

const isOperand = (k: PyTok) => k.t === 'name' || k.t === 'num' || k.t === 'str' || (k.t === 'kw' && KEYWORD_VALUES.has(k.v));

function pythonEvidence(text: string): { why: string; strong: boolean } | undefined {
  const statements = tokenizePython(text);
  if (!statements || statements.length === 0) return undefined;
  let evidence: { why: string; strong: boolean } | undefined;
  for (const s of statements) {
    const first = s[0]!;
    const last = s[s.length - 1]!;
    if (!(isOperand(first) || first.t === 'kw' || (first.t === 'op' && STATEMENT_START.has(first.v)))) return undefined;
    if (!(isOperand(last) || (last.t === 'kw' && ['pass', 'break', 'continue', 'return', 'yield'].includes(last.v)) || (last.t === 'op' && STATEMENT_END.has(last.v)))) return undefined;
    for (let k = 1; k < s.length; k++) {
      const a = s[k - 1]!;
      const b = s[k]!;
      // two operands side by side are a syntax error, except adjacent string literals (implicit concatenation)
      if (isOperand(a) && isOperand(b) && !(a.t === 'str' && b.t === 'str')) return undefined;
    }
    const e = statementEvidence(s);
    if (e && (!evidence || (e.strong && !evidence.strong))) evidence = e;
  }
  return evidence;
}

function statementEvidence(s: PyTok[]): { why: string; strong: boolean } | undefined {
  const first = s[0]!;
  const strong = (why: string) => ({ why, strong: true });
  if (first.t === 'kw' && first.v === 'import' && s[1]?.t === 'name') return strong(`import statement (import ${s[1].v})`);
  if (first.t === 'kw' && first.v === 'from' && s.some((k) => k.t === 'kw' && k.v === 'import')) return strong('import statement (from … import)');
  if (first.t === 'kw' && (first.v === 'def' || first.v === 'class')) return strong(`${first.v} statement`);
  for (let k = 1; k < s.length; k++) {
    const tok = s[k]!;
    if (tok.t !== 'op' || tok.v !== '(') continue;
    const callee = s[k - 1]!;
    if (callee.t === 'name' && CODE_BUILTINS.has(callee.v) && s[k - 2]?.v !== '.') return strong(`call of ${callee.v}()`);
    if (callee.t === 'name' && s[k - 2]?.v === '.' && s[k - 3]?.t === 'name') return strong(`call of ${s[k - 3]!.v}.${callee.v}()`);
  }
  if (first.t === 'kw' && COMPOUND.has(first.v)) return { why: `${first.v} statement`, strong: false };
  if (first.t === 'name' && s[1]?.t === 'op' && s[1].v === '=') return { why: `assignment to ${first.v}`, strong: false };
  if (s.some((k) => k.t === 'kw' && k.v === 'lambda')) return { why: 'lambda expression', strong: false };
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Shell: POSIX word splitting (quotes, backslashes, expansions), control and redirection
// operators, then simple commands: leading assignments and redirections skipped, the first word
// is the command word. A command line is one whose command words resolve as programs — a path or
// a utility every Unix has on PATH — or that substitutes a command's output ($(…), `…`).

/**
 * Utilities on PATH everywhere a model is loaded: POSIX's utilities and the interpreters,
 * shells, downloaders and network tools that payloads reach for.
 */
export const UTILITIES: ReadonlySet<string> = new Set([
  // POSIX.1-2017 utilities (the common subset)
  'awk',
  'basename',
  'bc',
  'cat',
  'cd',
  'chgrp',
  'chmod',
  'chown',
  'cksum',
  'cmp',
  'command',
  'cp',
  'crontab',
  'cut',
  'date',
  'dd',
  'df',
  'diff',
  'dirname',
  'du',
  'echo',
  'env',
  'eval',
  'exec',
  'expr',
  'false',
  'file',
  'find',
  'grep',
  'head',
  'id',
  'kill',
  'ln',
  'logger',
  'ls',
  'mkdir',
  'mkfifo',
  'mv',
  'nice',
  'nohup',
  'od',
  'printf',
  'ps',
  'pwd',
  'read',
  'rm',
  'rmdir',
  'sed',
  'sh',
  'sleep',
  'sort',
  'split',
  'strings',
  'tail',
  'tee',
  'test',
  'time',
  'touch',
  'tr',
  'true',
  'tty',
  'umask',
  'uname',
  'uniq',
  'wc',
  'who',
  'xargs',
  // shells, interpreters, privilege and session tools
  'bash',
  'dash',
  'zsh',
  'ksh',
  'csh',
  'tcsh',
  'fish',
  'busybox',
  'python',
  'python2',
  'python3',
  'perl',
  'ruby',
  'node',
  'php',
  'lua',
  'sudo',
  'su',
  'setsid',
  'timeout',
  'stdbuf',
  'systemctl',
  'service',
  'mount',
  'chattr',
  'install',
  'pip',
  'pip3',
  'conda',
  'apt',
  'apt-get',
  // downloaders, network and encoding tools
  'curl',
  'wget',
  'nc',
  'ncat',
  'netcat',
  'socat',
  'ssh',
  'scp',
  'sftp',
  'rsync',
  'ftp',
  'telnet',
  'base64',
  'xxd',
  'openssl',
  'gpg',
  'tar',
  'gzip',
  'gunzip',
  'unzip',
  'zip',
  'git',
  'whoami',
  'hostname',
  'ifconfig',
  'ip',
  'nslookup',
  'dig',
  'ping',
  'history',
  'which',
]);
/** Folders whose files are programs: a lone path there is a command even without arguments. */
const BIN_DIRS = /^\/(usr\/(local\/)?)?s?bin\/[^/\s]+$|^\/opt\/[^\s]*\/bin\/[^/\s]+$/;

/** `assignment`: NAME=… with the name and `=` unquoted (a quoted one is a command word). */
type ShTok = { t: 'word'; v: string; assignment: boolean } | { t: 'ctl'; v: string } | { t: 'redir'; v: string };

const CONTROL = ['&&', '||', ';;', ';', '|', '&', '\n', '(', ')'];
const REDIRECT = /^[0-9]?(>>|>&|<&|<<|<>|>\||>|<)/;

/** Word-splits a command line; undefined when a quote or substitution never closes. */
function tokenizeShell(text: string): { tokens: ShTok[]; substitution: boolean } | undefined {
  const tokens: ShTok[] = [];
  let substitution = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    const redir = REDIRECT.exec(text.slice(i, i + 4));
    if (redir && (c !== '<' || !text.startsWith('<(', i))) {
      tokens.push({ t: 'redir', v: redir[0] });
      i += redir[0].length;
      continue;
    }
    const ctl = CONTROL.find((o) => text.startsWith(o, i));
    if (ctl) {
      tokens.push({ t: 'ctl', v: ctl });
      i += ctl.length;
      continue;
    }
    // a word: runs of unquoted characters, quoted strings and expansions until a blank or operator
    const start = i;
    let word = '';
    let quoted = false;
    while (i < text.length && !/[ \t\n;&|()<>]/.test(text[i]!)) {
      const d = text[i]!;
      if (d === '\\') {
        word += text[i + 1] ?? '';
        i += 2;
      } else if (d === "'") {
        const n = text.indexOf("'", i + 1);
        if (n < 0) return undefined;
        word += text.slice(i + 1, n);
        quoted = true;
        i = n + 1;
      } else if (d === '"') {
        let n = i + 1;
        while (n < text.length && text[n] !== '"') n += text[n] === '\\' ? 2 : 1;
        if (n >= text.length) return undefined;
        const inner = text.slice(i + 1, n);
        if (/\$\(|`/.test(inner)) substitution = true;
        word += inner;
        quoted = true;
        i = n + 1;
      } else if (d === '$' && text[i + 1] === '(') {
        const n = closingParen(text, i + 1);
        if (n < 0) return undefined;
        substitution = true;
        word += text.slice(i, n + 1);
        i = n + 1;
      } else if (d === '`') {
        const n = text.indexOf('`', i + 1);
        if (n < 0) return undefined;
        substitution = true;
        word += text.slice(i, n + 1);
        i = n + 1;
      } else {
        word += d;
        i++;
      }
    }
    if (word === '' && !quoted) return undefined; // a lone character no rule above takes
    tokens.push({ t: 'word', v: word, assignment: ASSIGNMENT.test(text.slice(start, i)) });
  }
  return { tokens, substitution };
}

function closingParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return i;
  }
  return -1;
}

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;
const COMMAND_WORD = /^(\/[^\0]*|\.{1,2}\/[^\0]*|[A-Za-z0-9_][A-Za-z0-9_.+-]*)$/;

function shellEvidence(text: string): string | undefined {
  const lexed = tokenizeShell(text);
  if (!lexed || lexed.tokens.length === 0) return undefined;
  const { tokens } = lexed;
  // simple commands: words between control operators
  const commands: string[][] = [];
  let words: string[] = [];
  let operators = 0;
  for (let k = 0; k < tokens.length; k++) {
    const tok = tokens[k]!;
    if (tok.t === 'ctl') {
      if (words.length) commands.push(words);
      words = [];
      if (tok.v !== '\n') operators++;
    } else if (tok.t === 'redir') {
      operators++;
      const target = tokens[k + 1];
      if (!target || target.t !== 'word') return undefined; // a redirection needs a target
      k++;
    } else if (words.length === 0 && tok.assignment) {
      continue; // VAR=value before the command word
    } else {
      words.push(tok.v);
    }
  }
  if (words.length) commands.push(words);
  for (const [command, ...args] of commands) {
    if (!COMMAND_WORD.test(command!)) continue;
    const name = command!.split('/').pop()!;
    if (command!.includes('/')) {
      if (/\s/.test(command!)) continue;
      // a path alone is a command only in a folder of programs; with arguments or operators, any path
      if (BIN_DIRS.test(command!) || args.length > 0 || operators > 0) return `command word ${command}`;
    } else if (UTILITIES.has(name)) {
      return `command word ${name}${args.length ? ` with ${args.length} argument${args.length > 1 ? 's' : ''}` : ''}`;
    }
  }
  if (lexed.substitution) return 'command substitution';
  return undefined;
}
