// Parses Kubernetes-style quantities ("64Mi", "1G", "500m") into bytes and CPU cores, and
// exports the patterns the JSON schema uses, so that what the schema accepts and what the
// parser accepts cannot drift apart.
//
// Arithmetic is exact (BigInt over the decimal digits): "1.1M" must be 1100000 bytes, not
// the 1100000.0000000002 a float multiply gives, since bytes are rounded up.

import { ConvergeError } from '../errors.js';
import { quote } from './quote.js';

/** The number part of a quantity: "1", "1.5", "1.", ".5". No sign: limits are never negative. */
const NUMBER = '(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)';

/**
 * Memory quantity: a number with an optional binary suffix (Ki Mi Gi Ti Pi Ei), decimal
 * suffix (m k M G T P E; "m" is milli) or exponent ("1e3"). Keep in step with parseBytes.
 */
export const MEMORY_PATTERN = `^${NUMBER}(?:Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$`;

/** CPU quantity as a string: cores ("1", "1.5") or millicores ("500m"). Keep in step with parseCpu. */
export const CPU_PATTERN = `^${NUMBER}m?$`;

export type QuantityErrorCode = 'InvalidQuantity';

/** Under the one error root, so a caller (the OCI builder, the schema checks) branches on the code. */
export class QuantityError extends ConvergeError {
  declare readonly code: QuantityErrorCode;
  constructor(message: string) {
    super('InvalidQuantity', message);
  }
}

const MEMORY_RE = new RegExp(`^(${NUMBER})(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$`);
const CPU_RE = new RegExp(`^(${NUMBER})(m)?$`);

const BINARY_POWER: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const DECIMAL_EXPONENT: Record<string, number> = { m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

/** Exponents past this can only give a value too large (or rounding to one unit); refuse them early. */
const MAX_EXPONENT = 40;

/** An exact non-negative rational: numerator / denominator. */
interface Ratio {
  num: bigint;
  den: bigint;
}

/** "12.50" -> 1250/100. */
function decimal(text: string): Ratio {
  const dot = text.indexOf('.');
  if (dot < 0) return { num: BigInt(text), den: 1n };
  const frac = text.slice(dot + 1);
  const digits = text.slice(0, dot) + frac;
  return { num: BigInt(digits === '' ? '0' : digits), den: 10n ** BigInt(frac.length) };
}

function scale(value: Ratio, exponent10: number, power1024 = 0): Ratio {
  let { num, den } = value;
  num *= 1024n ** BigInt(power1024);
  if (exponent10 >= 0) num *= 10n ** BigInt(exponent10);
  else den *= 10n ** BigInt(-exponent10);
  return { num, den };
}

function ceilOf(value: Ratio): bigint {
  return (value.num + value.den - 1n) / value.den;
}

/** The input as a message repeats it: a string quoted and escaped (it may come from a spec), a number as it is. */
function shown(q: string | number): string {
  return typeof q === 'string' ? quote(q, { mark: '"' }) : String(q);
}

function toSafeNumber(value: bigint, what: string, input: string | number): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new QuantityError(`${what} ${shown(input)} is too large (at most ${Number.MAX_SAFE_INTEGER})`);
  }
  return Number(value);
}

/** A plain JS number as an exact ratio (its shortest decimal form, as the user wrote it). */
function fromNumber(q: number, what: string): Ratio {
  if (!Number.isFinite(q) || q < 0) {
    throw new QuantityError(`${what} ${q} must be a finite number >= 0`);
  }
  const text = String(q);
  const match = /^([0-9.]+)(?:e([+-]?[0-9]+))?$/.exec(text);
  if (!match) throw new QuantityError(`${what} ${q} must be a finite number >= 0`);
  return scale(decimal(match[1]), Number(match[2] ?? 0));
}

/**
 * Bytes of a memory quantity: "64Mi" -> 67108864, "1G" -> 1e9, "1e3" -> 1000, 1048576.
 * Fractions of a byte round up ("100m" -> 1), as Kubernetes does.
 */
export function parseBytes(q: string | number): number {
  const what = 'memory quantity';
  if (typeof q === 'number') return toSafeNumber(ceilOf(fromNumber(q, what)), what, q);
  const match = typeof q === 'string' ? MEMORY_RE.exec(q) : null;
  if (!match) {
    throw new QuantityError(
      `${what} ${shown(q)} must be a number of bytes with an optional suffix ` +
        `(Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P, E, m) or exponent, e.g. "64Mi", "1G", "1048576"`,
    );
  }
  const [, number, suffix = ''] = match;
  let value: Ratio;
  if (suffix in BINARY_POWER) {
    value = scale(decimal(number), 0, BINARY_POWER[suffix]);
  } else {
    const exponent = suffix in DECIMAL_EXPONENT ? DECIMAL_EXPONENT[suffix] : suffix === '' ? 0 : Number(suffix.slice(1));
    if (Math.abs(exponent) > MAX_EXPONENT) {
      throw new QuantityError(`${what} ${shown(q)} has an exponent out of range (at most ±${MAX_EXPONENT})`);
    }
    value = scale(decimal(number), exponent);
  }
  return toSafeNumber(ceilOf(value), what, q);
}

/**
 * CPU cores of a CPU quantity: "500m" -> 0.5, "1.5" -> 1.5, 2 -> 2. Precision is a
 * millicore; finer values round up to the next millicore, as Kubernetes does.
 */
export function parseCpu(q: string | number): number {
  const what = 'cpu quantity';
  let value: Ratio;
  if (typeof q === 'number') {
    value = fromNumber(q, what);
  } else {
    const match = typeof q === 'string' ? CPU_RE.exec(q) : null;
    if (!match) {
      throw new QuantityError(
        `${what} ${shown(q)} must be a number of cores or millicores, e.g. "500m", "1.5", 2`,
      );
    }
    value = scale(decimal(match[1]), match[2] === 'm' ? -3 : 0);
  }
  const millicores = toSafeNumber(ceilOf(scale(value, 3)), what, q);
  return millicores / 1000;
}
