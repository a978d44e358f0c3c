// Table tests of the quantity parser, and that the exported schema patterns accept exactly
// what the parser accepts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConvergeError, codeOf } from '../../src/errors.js';
import { CPU_PATTERN, MEMORY_PATTERN, QuantityError, parseBytes, parseCpu } from '../../src/spec/quantity.js';

const bytesCases: Array<[string | number, number]> = [
  ['0', 0],
  ['1048576', 1048576],
  ['64Mi', 64 * 1024 * 1024],
  ['1Ki', 1024],
  ['1.5Gi', 1.5 * 2 ** 30],
  ['2Ti', 2 * 2 ** 40],
  ['1Pi', 2 ** 50],
  ['1G', 1e9],
  ['1.1M', 1100000], // exact, not 1100000.0000000002 rounded up
  ['512k', 512000],
  ['1T', 1e12],
  ['1P', 1e15],
  ['1e3', 1000],
  ['1E3', 1000],
  ['5e-1', 1], // half a byte rounds up
  ['100m', 1], // milli-bytes round up
  ['1500m', 2],
  ['0.1Ki', 103], // 102.4 rounds up
  ['.5Ki', 512],
  ['1.', 1],
  [4096, 4096],
  [1.5, 2],
  [1e6, 1000000],
];

const badBytes: Array<string | number> = [
  '', ' 1Mi', '1Mi ', '-1', '+1', '1MB', '1mi', '1KI', 'Mi', '1.2.3', '1e', 'abc', '0x10', '1e41', '9E',
  -1, NaN, Infinity, 1e300,
];

describe('parseBytes', () => {
  for (const [input, want] of bytesCases) {
    it(`${JSON.stringify(input)} -> ${want}`, () => assert.equal(parseBytes(input), want));
  }
  for (const input of badBytes) {
    it(`${typeof input === 'string' ? JSON.stringify(input) : String(input)} is rejected`, () => {
      assert.throws(() => parseBytes(input), (err: unknown) => {
        assert.ok(err instanceof QuantityError);
        assert.equal(err.code, 'InvalidQuantity');
        assert.match(err.message, /memory quantity/);
        return true;
      });
    });
  }
  it('says what was expected', () => {
    assert.throws(() => parseBytes('1MB'), /"1MB" must be a number of bytes with an optional suffix/);
  });
  it('is a ConvergeError with a stable code, so callers branch on the code as on every other error', () => {
    assert.throws(() => parseBytes('1MB'), (err: unknown) => {
      assert.ok(err instanceof ConvergeError);
      assert.equal(codeOf(err), 'InvalidQuantity');
      assert.equal((err as Error).name, 'QuantityError');
      return true;
    });
  });
});

const cpuCases: Array<[string | number, number]> = [
  ['500m', 0.5],
  ['1', 1],
  ['1.5', 1.5],
  ['0.1', 0.1],
  ['250m', 0.25],
  ['1m', 0.001],
  ['0.0001', 0.001], // below a millicore rounds up to one
  ['2000m', 2],
  ['0', 0],
  [2, 2],
  [0.5, 0.5],
  [0.25, 0.25],
];

const badCpu: Array<string | number> = ['', 'm', '1k', '500M', '-1', '1 ', 'one', '1e3', '1.5.', -0.5, NaN, Infinity];

describe('parseCpu', () => {
  for (const [input, want] of cpuCases) {
    it(`${JSON.stringify(input)} -> ${want}`, () => assert.equal(parseCpu(input), want));
  }
  for (const input of badCpu) {
    it(`${typeof input === 'string' ? JSON.stringify(input) : String(input)} is rejected`, () => {
      assert.throws(() => parseCpu(input), (err: unknown) => {
        assert.ok(err instanceof QuantityError);
        assert.equal(err.code, 'InvalidQuantity');
        assert.match(err.message, /cpu quantity/);
        return true;
      });
    });
  }
});

describe('schema patterns', () => {
  const memory = new RegExp(MEMORY_PATTERN);
  const cpu = new RegExp(CPU_PATTERN);
  it('MEMORY_PATTERN accepts every valid memory string and no invalid one', () => {
    for (const [input] of bytesCases) if (typeof input === 'string') assert.ok(memory.test(input), input);
    // 1e41 matches the pattern but is refused for its size; that is the parser's job.
    for (const input of badBytes) {
      if (typeof input === 'string' && input !== '1e41' && input !== '9E') assert.ok(!memory.test(input), input);
    }
  });
  it('CPU_PATTERN accepts every valid cpu string and no invalid one', () => {
    for (const [input] of cpuCases) if (typeof input === 'string') assert.ok(cpu.test(input), input);
    for (const input of badCpu) if (typeof input === 'string') assert.ok(!cpu.test(input), input);
  });
  it('are anchored', () => {
    assert.ok(MEMORY_PATTERN.startsWith('^') && MEMORY_PATTERN.endsWith('$'));
    assert.ok(CPU_PATTERN.startsWith('^') && CPU_PATTERN.endsWith('$'));
  });
});
