/**
 * The k largest logits of a row with their ids, best first. Reusable scratch: the arrays
 * grow when a larger k is asked for and are otherwise kept, so steady-state decoding does
 * not allocate. Only the first `count` entries are meaningful.
 */
export interface TopCandidates {
  ids: Int32Array;
  values: Float32Array;
  count: number;
  /** Whether the last selection met a NaN entry (skipped, as -Infinity is). */
  sawNaN: boolean;
}

export function createTopCandidates(capacity = 64): TopCandidates {
  return { ids: new Int32Array(capacity), values: new Float32Array(capacity), count: 0, sawNaN: false };
}

/**
 * Fills `into` with the min(k, #finite-or-+Infinity entries) largest entries of `row`,
 * sorted descending, ties broken by lower id first. NaN and -Infinity entries are never
 * candidates (they have zero probability), so `count` may be below k.
 *
 * A size-k min-heap over one pass: O(V) compares plus O(log k) per heap replacement, which
 * is rare once the heap floor is high, so the vocabulary is never sorted. `nextAbove(from, floor)`, when given,
 * returns the first index >= from whose value is above floor (or row.length), so the scan can skip what cannot
 * enter the heap, and runs of -Infinity while it fills (a SIMD search: RowKernels.firstAbove); it must see NaN as
 * not above, so `sawNaN` then only reports a NaN the scan happened to read (the caller checks the row for NaN).
 */
export function selectTopCandidates(
  row: Float32Array,
  k: number,
  into: TopCandidates = createTopCandidates(Math.max(0, Math.min(k, row.length))),
  nextAbove: ((from: number, floor: number) => number) | null = null,
): TopCandidates {
  const limit = Math.max(0, Math.min(Math.floor(k), row.length));
  if (into.ids.length < limit) {
    into.ids = new Int32Array(limit);
    into.values = new Float32Array(limit);
  }
  const ids = into.ids;
  const values = into.values;
  let size = 0;
  let i = 0;
  let nan = false;

  // Fill the heap with the first `limit` candidates.
  for (; i < row.length && size < limit; i++) {
    const value = row[i];
    if (!(value > -Infinity)) {
      if (value !== value) nan = true;
      // A masked run (grammar mask, suppressed ids) is skipped by the search, not walked.
      else if (nextAbove !== null) i = nextAbove(i, -Infinity) - 1;
      continue;
    }
    let child = size++;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      // The root holds the worst entry. Ids arrive in ascending order, so on equal values
      // the newcomer is the worse one and moves up.
      if (!(value <= values[parent])) break;
      values[child] = values[parent];
      ids[child] = ids[parent];
      child = parent;
    }
    values[child] = value;
    ids[child] = i;
  }

  // Replace the worst (the root) whenever something strictly larger shows up; a later
  // equal value loses the tie because its id is higher.
  if (size === limit && limit > 0) {
    let floor = values[0];
    if (nextAbove !== null) {
      // Every index it returns holds a value above the floor (never NaN).
      for (i = nextAbove(i, floor); i < row.length; i = nextAbove(i + 1, floor)) {
        siftDown(values, ids, row[i], i, size);
        floor = values[0];
      }
    } else {
      for (; i < row.length; i++) {
        const value = row[i];
        // Written so NaN takes the rare branch: the common path stays one compare.
        if (!(value <= floor)) {
          if (value !== value) {
            nan = true;
            continue;
          }
          siftDown(values, ids, value, i, size);
          floor = values[0];
        }
      }
    }
  }

  // Heap sort: moving the worst to the end each time leaves the best first.
  for (let end = size - 1; end > 0; end--) {
    const value = values[end];
    const id = ids[end];
    values[end] = values[0];
    ids[end] = ids[0];
    siftDown(values, ids, value, id, end);
  }
  into.count = size;
  into.sawNaN = nan;
  return into;
}

/** a is worse than b: smaller value, or equal value and higher id. */
function isWorse(valueA: number, idA: number, valueB: number, idB: number): boolean {
  return valueA < valueB || (valueA === valueB && idA > idB);
}

/** Puts (value, id) at the root of the min-heap of `size` entries and restores heap order. */
function siftDown(
  values: Float32Array,
  ids: Int32Array,
  value: number,
  id: number,
  size: number,
): void {
  let parent = 0;
  for (;;) {
    let child = 2 * parent + 1;
    if (child >= size) break;
    const right = child + 1;
    if (right < size && isWorse(values[right], ids[right], values[child], ids[child])) {
      child = right;
    }
    if (!isWorse(values[child], ids[child], value, id)) break;
    values[parent] = values[child];
    ids[parent] = ids[child];
    parent = child;
  }
  values[parent] = value;
  ids[parent] = id;
}
