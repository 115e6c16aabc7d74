import type { LogitCandidates } from './logit-scan.js';

/**
 * Cuts a candidate list (in id order) to a prefix of its rank order, the order of top-k and top-p: value
 * descending, lower id first on ties. The prefix is the smallest one whose count reaches `k` (top-k), or whose
 * weight reaches `mass` (top-p). The list stays in id order; nothing is sorted but the few candidates that share
 * the boundary's bucket.
 *
 * Technique: a threshold search by bucketing (the radix/bucket select of GPU top-k and top-p kernels, e.g.
 * FlashInfer's and PyTorch's radix select): one pass puts every candidate in one of 1,024 buckets of equal
 * value width from the max down (equal values share a bucket, so ties stay together) and sums each bucket's
 * count or weight; the running sum over buckets from the top finds the bucket holding the boundary; only that
 * bucket's members are searched further (again by bucketing; sorted once there are at most 64; walked in id
 * order, without sorting, when they all share one value).
 */
export interface RankCutScratch {
  counts: Int32Array;
  mass: Float64Array;
  /** Each candidate's bucket in the first round; grows to the candidate count once. */
  buckets: Uint16Array;
  /** The members of the bucket that holds a boundary. */
  groupIds: Int32Array;
  groupValues: Float32Array;
  groupWeights: Float64Array;
}

const BUCKETS = 1024;
const SORT_BELOW = 64;

export function createRankCutScratch(): RankCutScratch {
  return {
    counts: new Int32Array(BUCKETS),
    mass: new Float64Array(BUCKETS),
    buckets: new Uint16Array(0),
    groupIds: new Int32Array(0),
    groupValues: new Float32Array(0),
    groupWeights: new Float64Array(0),
  };
}

/** Keeps the k best-ranked candidates (all when there are no more than k). */
export function keepTopCount(c: LogitCandidates, k: number, scratch: RankCutScratch): void {
  if (c.count <= k) return;
  const [value, id] = boundary(c.ids, c.values, null, c.count, k, c.max, c.min, scratch);
  keepRankedAtLeast(c, value, id);
}

/** The last candidate of a rank prefix, and the total weight of the prefix. */
export interface RankBoundary {
  value: number;
  id: number;
  total: number;
}

/**
 * Top-p's cut: the smallest rank prefix of `c` whose summed weights reach `target` (at least one candidate; all
 * of them when float rounding keeps the total below `target`), as its last candidate and its total weight; `c`
 * is not changed (a candidate j is in the prefix when rankedAtLeast(value_j, id_j, boundary)). The weights'
 * exponent buckets and their masses must be in c.kernels (RowKernels.weigh with buckets: bucket order is rank
 * order): the running sum over buckets finds the one holding the boundary, and only its members (found by a SIMD
 * search, RowKernels.nextInBucket) are searched.
 */
export function topMassBoundary(c: LogitCandidates, target: number, scratch: RankCutScratch): RankBoundary {
  const count = c.count;
  const bucketMass = c.kernels.mass;
  let before = 0;
  let bucket = 0;
  while (bucket < bucketMass.length && before + bucketMass[bucket] < target) before += bucketMass[bucket++];
  if (bucket === bucketMass.length) {
    const [value, id] = worstRanked(c.ids, c.values, count);
    return { value, id, total: before };
  }
  if (scratch.groupIds.length < count) {
    scratch.groupIds = new Int32Array(c.ids.length);
    scratch.groupValues = new Float32Array(c.ids.length);
    scratch.groupWeights = new Float64Array(c.ids.length);
  }
  const { ids, values, weights } = c;
  const { groupIds, groupValues, groupWeights } = scratch;
  let hi = -Infinity;
  let lo = Infinity;
  let size = 0;
  for (let j = c.kernels.nextInBucket(0, count, bucket); j < count; j = c.kernels.nextInBucket(j + 1, count, bucket)) {
    const v = values[j];
    if (v > hi) hi = v;
    if (v < lo) lo = v;
    groupIds[size] = ids[j];
    groupValues[size] = v;
    groupWeights[size++] = weights[j];
  }
  const [value, id] = boundary(groupIds, groupValues, groupWeights, size, target - before, hi, lo, scratch);
  let total = before;
  for (let g = 0; g < size; g++) if (rankedAtLeast(groupValues[g], groupIds[g], value, id)) total += groupWeights[g];
  return { value, id, total };
}

/** Whether (value, id) is ranked at or above (boundaryValue, boundaryId): larger value, or equal and lower id. */
export function rankedAtLeast(value: number, id: number, boundaryValue: number, boundaryId: number): boolean {
  return value > boundaryValue || (value === boundaryValue && id <= boundaryId);
}

/** Drops candidates ranked below (value, id); ids, values and weights move together, order kept. */
export function keepRankedAtLeast(c: LogitCandidates, value: number, id: number): void {
  const { ids, values, weights } = c;
  const count = c.count;
  let kept = 0;
  for (let j = 0; j < count; j++) {
    const v = values[j];
    if (v > value || (v === value && ids[j] <= id)) {
      ids[kept] = ids[j];
      values[kept] = v;
      weights[kept++] = weights[j];
    }
  }
  c.count = kept;
}

/**
 * The (value, id) of the last candidate, in rank order, of the smallest prefix whose count (weights null) or
 * weight reaches `target`; the worst-ranked candidate when no prefix does. `hi` and `lo` bound the values
 * (the candidates' max and min, or looser bounds).
 */
function boundary(
  ids: Int32Array,
  values: Float32Array,
  weights: Float32Array | Float64Array | null,
  count: number,
  target: number,
  hi: number,
  lo: number,
  scratch: RankCutScratch,
): [number, number] {
  const { counts, mass } = scratch;
  for (let round = 0; ; round++) {
    if (round > 0) {
      hi = -Infinity;
      lo = Infinity;
      for (let j = 0; j < count; j++) {
        const v = values[j];
        if (v > hi) hi = v;
        if (v < lo) lo = v;
      }
    }
    // Equal values rank by id, which is the list's own order: walked, not sorted, however many share the value.
    if (hi === lo) return walkedBoundary(ids, values, weights, null, count, target);
    if (count <= SORT_BELOW) return sortedBoundary(ids, values, weights, count, target);

    if (scratch.buckets.length < count) scratch.buckets = new Uint16Array(count);
    const buckets = scratch.buckets;
    counts.fill(0);
    mass.fill(0);
    const scale = BUCKETS / (hi - lo);
    for (let j = 0; j < count; j++) {
      const b = Math.min(BUCKETS - 1, Math.floor((hi - values[j]) * scale));
      buckets[j] = b;
      counts[b]++;
      if (weights !== null) mass[b] += weights[j];
    }
    const totals = weights === null ? counts : mass;
    let before = 0;
    let bucket = 0;
    while (bucket < BUCKETS && before + totals[bucket] < target) before += totals[bucket++];
    if (bucket === BUCKETS) return worstRanked(ids, values, count);

    // That bucket's members, in id order, hold the boundary: search them for what is left of the target.
    const size = counts[bucket];
    const groupIds = new Int32Array(size);
    const groupValues = new Float32Array(size);
    const groupWeights = weights === null ? null : new Float64Array(size);
    let g = 0;
    for (let j = 0; j < count; j++) {
      if (buckets[j] !== bucket) continue;
      groupIds[g] = ids[j];
      groupValues[g] = values[j];
      if (groupWeights !== null) groupWeights[g] = weights![j];
      g++;
    }
    ids = groupIds;
    values = groupValues;
    weights = groupWeights;
    count = size;
    target -= before;
  }
}

/** The lowest value, highest id among those that share it. */
function worstRanked(ids: Int32Array, values: Float32Array, count: number): [number, number] {
  let worst = count - 1;
  for (let j = count - 2; j >= 0; j--) if (values[j] < values[worst]) worst = j;
  return [values[worst], ids[worst]];
}

/**
 * Walks a group in rank order to the target: `order` lists its indices best first, or is null when the group is
 * in rank order already (all values equal: id order). The last one when no prefix reaches the target.
 */
function walkedBoundary(
  ids: Int32Array,
  values: Float32Array,
  weights: Float32Array | Float64Array | null,
  order: number[] | null,
  count: number,
  target: number,
): [number, number] {
  let sum = 0;
  for (let r = 0; r < count; r++) {
    const j = order === null ? r : order[r];
    sum += weights === null ? 1 : weights[j];
    if (sum >= target) return [values[j], ids[j]];
  }
  const last = order === null ? count - 1 : order[count - 1];
  return [values[last], ids[last]];
}

/** Sorts a small group in rank order and walks it to the target. */
function sortedBoundary(
  ids: Int32Array,
  values: Float32Array,
  weights: Float32Array | Float64Array | null,
  count: number,
  target: number,
): [number, number] {
  const order = Array.from({ length: count }, (_, j) => j);
  order.sort((a, b) => values[b] - values[a] || ids[a] - ids[b]);
  return walkedBoundary(ids, values, weights, order, count, target);
}
