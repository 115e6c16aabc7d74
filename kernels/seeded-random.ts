import { randomBytes } from 'node:crypto';

/** The one method samplers need; lets tests drive a sampler with fixed draws. */
export interface RandomSource {
  /** Uniform float in [0, 1). */
  next(): number;
}

const UINT64_MASK = (1n << 64n) - 1n;

/** One splitmix64 step (Vigna); used only to spread a 64-bit seed over the 128-bit state. */
function splitmix64(state: bigint): { state: bigint; output: bigint } {
  const next = (state + 0x9e3779b97f4a7c15n) & UINT64_MASK;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & UINT64_MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & UINT64_MASK;
  return { state: next, output: z ^ (z >> 31n) };
}

function toUint64Seed(seed: number | bigint): bigint {
  if (typeof seed === 'bigint') return BigInt.asUintN(64, seed);
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  // Negative seeds wrap as two's complement, like a C uint64_t cast.
  return BigInt.asUintN(64, BigInt(seed));
}

/**
 * Deterministic, platform-independent PRNG for sampling.
 *
 * The 64-bit seed goes through splitmix64 twice (BigInt, constructor only); the two outputs
 * give the xoshiro128** state words s0 = low32(a), s1 = high32(a), s2 = low32(b),
 * s3 = high32(b). xoshiro128** then runs on uint32 math (Math.imul, >>> 0), so every
 * platform produces the same stream. Since splitmix64's output is a bijection of its
 * state, two consecutive outputs are never both zero: the state is never all-zero.
 */
export class SeededRandom implements RandomSource {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number | bigint) {
    const first = splitmix64(toUint64Seed(seed));
    const second = splitmix64(first.state);
    this.s0 = Number(first.output & 0xffffffffn);
    this.s1 = Number(first.output >> 32n);
    this.s2 = Number(second.output & 0xffffffffn);
    this.s3 = Number(second.output >> 32n);
  }

  /** Next raw xoshiro128** output as an unsigned 32-bit integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /**
   * Uniform float in [0, 1) with 53 bits of precision: consumes two 32-bit outputs
   * (top 27 bits of the first, top 26 of the second), as MT19937's genrand_res53.
   */
  next(): number {
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Crypto-random 64-bit seed for requests that did not ask for one. */
export function randomSeed(): bigint {
  return randomBytes(8).readBigUInt64LE(0);
}
