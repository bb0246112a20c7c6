import { describe, expect, it } from 'vitest';
import { memoryForModels, parseMemory } from '../../src/sandbox/sizing.js';
import { DEFAULT_SANDBOX_LIMITS } from '../../src/sandbox/limits.js';

const GiB = 2 ** 30;

describe('sandbox memory sizing', () => {
  it('adds nothing for formats the loader memory-maps', () => {
    expect(
      memoryForModels(
        [
          { size: 5 * GiB, format: 'torch-zip' },
          { size: 3 * GiB, format: 'safetensors' },
        ],
        24 * GiB,
      ),
    ).toBe(DEFAULT_SANDBOX_LIMITS.memoryBytes);
  });

  it('adds twice the bytes of every copied model', () => {
    expect(
      memoryForModels(
        [
          { size: 1 * GiB, format: 'torch-legacy' },
          { size: 0.5 * GiB, format: 'joblib' },
        ],
        24 * GiB,
      ),
    ).toBe(DEFAULT_SANDBOX_LIMITS.memoryBytes + 3 * GiB);
  });

  it('never asks for more than the host has less a reserve', () => {
    expect(memoryForModels([{ size: 40 * GiB, format: 'pickle' }], 24 * GiB)).toBe(23 * GiB);
    expect(memoryForModels([{ size: 40 * GiB, format: 'pickle' }], 2 * GiB)).toBe(DEFAULT_SANDBOX_LIMITS.memoryBytes);
  });

  it('parses --memory sizes and refuses nonsense', () => {
    expect(parseMemory('8g')).toBe(8 * GiB);
    expect(parseMemory('512M')).toBe(512 * 2 ** 20);
    expect(parseMemory('1.5GiB')).toBe(1.5 * GiB);
    expect(parseMemory('1048576')).toBe(2 ** 20);
    for (const bad of ['', 'lots', '-1g', '8 gigs']) expect(() => parseMemory(bad)).toThrow(/--memory/);
  });
});
