import { describe, expect, it } from 'vitest';
import type { Detection } from '../../src/core/finding.js';
import type { SandboxResult } from '../../src/sandbox/index.js';
import type { PlanModel } from '../../src/vet/plan.js';
import { settleUnknowns } from '../../src/vet/settle.js';
import { templateDetections } from '../../src/static/template-carriers.js';

const models: PlanModel[] = [{ hostPath: '/stage/1/model.gguf', format: 'gguf', reportPaths: ['/m/model.gguf'] }];
const sandbox = (ok: boolean): SandboxResult =>
  ({ phases: [{ phase: 'load', startNs: 0, endNs: 1, ok, detail: { models: [{ path: '/candidate/model.gguf', format: 'gguf', ok }] } }] }) as unknown as SandboxResult;

describe('chat templates static analysis cannot decide are settled by a traced render', () => {
  // a name computed at render time (LT-TPL-004): nothing static says what it spells
  const computed = templateDetections('/m/model.gguf', [], [{ key: 'tokenizer.chat_template', template: '{{ messages | attr(messages[0].content) }}', offset: 0 }]);

  it('the analysis marks what it could not decide', () => {
    expect(computed.map((d) => d.ruleId)).toContain('LT-TPL-004');
    expect(computed.find((d) => d.ruleId === 'LT-TPL-004')?.evidence.settle).toBe('render');
  });

  it('--static-only: incomplete, never pass; a completed render settles it; a failed one does not', () => {
    expect(settleUnknowns(computed, undefined)).toEqual([expect.stringMatching(/^\/m\/model\.gguf: chat templates .*tokenizer\.chat_template \(LT-TPL-004\).*--static-only/)]);
    expect(settleUnknowns(computed, { sandbox: sandbox(true), models, events: [] })).toEqual([]);
    expect(settleUnknowns(computed, { sandbox: sandbox(false), models, events: [] })).toEqual([expect.stringMatching(/render failed/)]);
  });

  it('a decided finding (an internal name, LT-TPL-001) is not left to a render: it blocks on its own', () => {
    const decided: Detection[] = templateDetections('/m/model.gguf', [], [{ key: 'tokenizer.chat_template', template: "{{ ''.__class__ }}", offset: 0 }]);
    expect(decided.map((d) => d.ruleId)).toContain('LT-TPL-001');
    expect(settleUnknowns(decided, undefined)).toEqual([]);
  });
});
