import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyseTemplate, isInternalName } from '../../src/static/template.js';
import { configTemplates, templateCarrier } from '../../src/static/template-carriers.js';
import { FIXTURES } from '../helpers/fixtures.js';

const rules = (template: string): string[] => analyseTemplate(template).map((f) => f.ruleId);
const names = (template: string): unknown[] =>
  analyseTemplate(template)
    .filter((f) => f.ruleId === 'LT-TPL-001')
    .map((f) => f.evidence.name);

/** The fixtures' ordinary ChatML template with tools (fixtures/gen/depth_loaders.py). */
const BENIGN = readFileSync(join(FIXTURES, 'depth_loaders', 'snapshot_benign', 'chat_template.jinja'), 'utf8');

/** Shapes real chat templates have: loop state in a namespace, role checks, tojson, slicing, string methods. */
const ORDINARY = [
  BENIGN,
  "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{% endfor %}",
  "{%- set ns = namespace(found=false) -%}{%- for m in messages -%}{%- if m.role == 'system' -%}{%- set ns.found = true -%}{%- endif -%}{%- endfor -%}{{ ns.found }}",
  "{{ bos_token }}{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ '[INST] ' + m['content'].strip() + ' [/INST]' if m['role'] == 'user' else m['content'] + eos_token }}{% endfor %}",
  "{% for tool in tools %}{{ tool | tojson(indent=2) }}{% endfor %}{{ messages[-1]['content'][:100] | lower }}{{ strftime_now('%d %b %Y') }}",
  "{% for m in messages %}{% for key in m %}{{ key }}={{ m[key] }}{% endfor %}{{ m.content.split('</think>')[-1] | replace('\\n', ' ') }}{% endfor %}",
  "{{ messages | map(attribute='content') | join('\\n') }}{{ messages | selectattr('role', 'equalto', 'user') | list | length }}",
];

describe('chat template analysis: names however they are spelled', () => {
  it.each([
    ['a literal dunder walk', "{{ cycler.__init__.__globals__.os.popen('id').read() }}", '__init__'],
    ['|attr with \\x escapes', "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}", '__class__'],
    ['|attr with \\u escapes', "{{ ''|attr('\\u005f\\u005fclass\\u005f\\u005f') }}", '__class__'],
    ['~ through a set variable', "{% set a = '__cla' ~ 'ss__' %}{{ x|attr(a) }}", '__class__'],
    ['+ in a subscript', "{{ x[('__cl' + 'ass__')] }}", '__class__'],
    ['the format filter', "{{ x|attr('%s%sclass%s%s'|format('_','_','_','_')) }}", '__class__'],
    ['str.format in a subscript', "{{ x['{}{}class{}{}'.format('_','_','_','_')] }}", '__class__'],
    ['join of a list', "{{ x|attr(['_','_','class','_','_']|join) }}", '__class__'],
    ['a reversed slice', "{{ x|attr('__ssalc__'[::-1]) }}", '__class__'],
    ['replace', "{{ x|attr('XXclassXX'|replace('X','_')) }}", '__class__'],
    ['a dict key', '{{ x|attr(dict(__class__=1)|first) }}', '__class__'],
    ['a loop over pieces', "{% for k in ['__cla'] %}{{ x|attr(k ~ 'ss__') }}{% endfor %}", '__class__'],
    ['map(attribute=)', "{{ x|map(attribute='__class__') }}", '__class__'],
    ["map('attr', name)", "{{ x|map('attr', '__class__') }}", '__class__'],
    ['a macro argument', "{% macro m(n) %}{{ x|attr(n) }}{% endmacro %}{{ m('__cl' ~ 'ass__') }}", '__class__'],
    ['a private name', '{{ self._TemplateReference__context }}', '_TemplateReference__context'],
    ['mro without underscores', '{{ x.mro() }}', 'mro'],
    ['a block set', '{% set n %}__cla{{ "ss__" }}{% endset %}{{ x|attr(n) }}', '__class__'],
    ['a namespace attribute', "{% set ns = namespace(n='') %}{% set ns.n = '__glo' ~ 'bals__' %}{{ f|attr(ns.n) }}", '__globals__'],
  ])('%s', (_what, template, name) => {
    expect(names(template)).toContain(name);
  });

  it('reports the globals that expose Python objects, not the namespace() idiom', () => {
    expect(rules('{{ lipsum }}')).toEqual(['LT-TPL-002']);
    expect(rules('{{ joiner() }}')).toEqual(['LT-TPL-002']);
    expect(rules('{{ url_for.__globals__ }}')).toEqual(expect.arrayContaining(['LT-TPL-001', 'LT-TPL-002']));
    expect(rules('{% set ns = namespace(a=1) %}{{ ns.a }}')).toEqual([]);
    expect(rules('{{ namespace }}')).toEqual(['LT-TPL-002']);
    expect(rules('{{ m.config }}{% set request = 1 %}{{ request }}')).toEqual([]); // an attribute, a local variable
  });

  it('a name computed at render time is reported for |attr but not for an ordinary subscript', () => {
    expect(rules('{{ x|attr(bos_token) }}')).toEqual(['LT-TPL-004']);
    expect(rules("{{ x[bos_token ~ 'a'] }}")).toEqual(['LT-TPL-004']);
    expect(rules('{{ x[key] }}{{ y[loop.index0] }}')).toEqual([]);
    // special tokens come from the model's metadata: a subscript by one is a name the file's author picked
    expect(rules('{{ cycler[bos_token] }}').sort()).toEqual(['LT-TPL-002', 'LT-TPL-004']);
    expect(rules("{{ '__class__' }}")).toEqual(['LT-TPL-004']);
  });

  it('ordinary chat templates have no findings', () => {
    for (const t of ORDINARY) expect(analyseTemplate(t), t).toEqual([]);
  });

  it('a template the parser refuses is a finding, and its text is still read', () => {
    expect(rules('{{ (1,) }}')).toEqual(['LT-TPL-003']);
    const hidden = "{% for x in ().__class__.__base__.__subclasses__() %}{{ x()._module.__builtins__['__import__']('os') }}{% endfor %}";
    expect(rules(hidden)[0]).toBe('LT-TPL-003');
    expect(names(hidden)).toEqual(expect.arrayContaining(['__class__', '__subclasses__', '_module', '__builtins__']));
    // octal and \N{} escapes: jinja2 decodes them, the Hub's parser refuses them
    expect(names("{{ x|attr('\\137\\137cla' ~ 'ss\\137\\137') }}")).toContain('__class__');
    expect(names("{{ x|attr('\\N{LOW LINE}\\N{LOW LINE}class\\N{LOW LINE}\\N{LOW LINE}') }}")).toContain('__class__');
  });

  it('a template over the size bound is a finding and still read as text', () => {
    const huge = '{{ m.content }}'.repeat(80_000) + '{{ x.__class__ }}';
    expect(rules(huge)[0]).toBe('LT-TPL-003');
    expect(names(huge)).toContain('__class__');
  });

  it('internal names', () => {
    expect(['__class__', '_private', 'a.__dict__', 'f_globals', 'gi_frame'].every(isInternalName)).toBe(true);
    expect(['content', 'role', 'tool_calls', 'a.b', 'format'].some(isInternalName)).toBe(false);
  });
});

describe('chat-template carriers', () => {
  it('are named by what transformers opens', () => {
    expect(templateCarrier('tokenizer_config.json')).toBe('tokenizer-config');
    expect(templateCarrier('chat_template.json')).toBe('tokenizer-config');
    expect(templateCarrier('chat_template.jinja')).toBe('chat-template');
    expect(templateCarrier('tool_use.jinja')).toBe('chat-template');
    expect(templateCarrier('config.json')).toBeUndefined();
  });

  it('tokenizer_config.json holds a string or a list of {name, template}', () => {
    expect(configTemplates('{"chat_template": "x"}')).toEqual([{ key: 'chat_template', template: 'x' }]);
    expect(configTemplates('{"chat_template": [{"name": "default", "template": "a"}, {"name": "rag", "template": "b"}]}')).toEqual([
      { key: 'chat_template.default', template: 'a' },
      { key: 'chat_template.rag', template: 'b' },
    ]);
    expect(configTemplates('{"model_max_length": 8}')).toEqual([]);
    expect(configTemplates('{"chat_template": 3}')).toHaveProperty('problem');
    expect(configTemplates('{"chat_template": [{"name": "x"}]}')).toHaveProperty('problem');
    expect(configTemplates('not json')).toHaveProperty('problem');
  });
});

/** Pieces of Jinja, benign and hostile, that random templates are made of. */
const PIECES = [
  '{{',
  '}}',
  '{%',
  '%}',
  '{#',
  '#}',
  '{%-',
  '-%}',
  'for',
  'in',
  'endfor',
  'if',
  'else',
  'endif',
  'set',
  'macro',
  'endmacro',
  'call',
  'endcall',
  'x',
  'messages',
  'm',
  'ns',
  'namespace',
  'cycler',
  'lipsum',
  'self',
  '.',
  '[',
  ']',
  '(',
  ')',
  ',',
  '|',
  'attr',
  'map',
  'join',
  'format',
  'replace',
  '~',
  '+',
  '%',
  '*',
  '=',
  '==',
  'not',
  'and',
  "'__cla'",
  "'ss__'",
  "'\\x5f'",
  "'\\u005f'",
  "'\\137'",
  '"%s"',
  "'{}'",
  '::-1',
  ':',
  '1',
  '-1',
  '"a"',
  ' ',
  '\n',
  'attribute=',
  'dict',
  'k',
  '__init__',
  '__globals__',
  'mro',
  'true',
  'none',
];

describe('chat template analysis on random and mutated templates (never throws, bounded)', () => {
  const bounded = (template: string) => {
    const found = analyseTemplate(template);
    expect(Array.isArray(found)).toBe(true);
    expect(found.length).toBeLessThanOrEqual(101); // MAX_FINDINGS for the walk, again for the text read of an unparsable one
    for (const f of found) expect(['LT-TPL-001', 'LT-TPL-002', 'LT-TPL-003', 'LT-TPL-004']).toContain(f.ruleId);
  };

  it('token soup', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...PIECES), { maxLength: 60 }), (pieces) => bounded(pieces.join(' '))),
      { numRuns: 3000 },
    );
  });

  it('ordinary templates with characters inserted, deleted or replaced', () => {
    const edit = fc.tuple(fc.nat(), fc.constantFrom('insert', 'delete', 'replace'), fc.constantFrom(...PIECES, '{', '}', "'", '"', '\\'));
    fc.assert(
      fc.property(fc.constantFrom(...ORDINARY), fc.array(edit, { maxLength: 8 }), (seed, edits) => {
        let t = seed;
        for (const [at, how, piece] of edits) {
          const i = at % (t.length + 1);
          t = how === 'insert' ? t.slice(0, i) + piece + t.slice(i) : how === 'delete' ? t.slice(0, i) + t.slice(i + piece.length) : t.slice(0, i) + piece + t.slice(i + piece.length);
        }
        bounded(t);
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => bounded(s)),
      { numRuns: 2000 },
    );
  });

  it('deep nesting and long concatenations end in a finding, not a crash', () => {
    bounded('{{ ' + '('.repeat(5000) + 'x' + ')'.repeat(5000) + ' }}');
    bounded('{{ x|attr(' + Array.from({ length: 3000 }, (_, i) => `'${i % 10}'`).join(' ~ ') + ') }}');
    bounded('{% set a = b %}{% set b = a ~ c %}{% set c = b %}{{ x|attr(a) }}');
    // each name uses the one before twice: folded once per name, not 2^40 times
    const chain = Array.from({ length: 40 }, (_, i) => `{% set v${i + 1} = v${i} if q else v${i} %}`).join('');
    expect(names(`{% set v0 = '__class__' %}${chain}{{ x|attr(v40) }}`)).toContain('__class__');
    bounded('{{ x|attr(' + "['a','b','c','d']".repeat(1) + '|join * 100000) }}');
  });
});
