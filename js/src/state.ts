/**
 * DOM-free mirror of the points the Python side streams (keyframes + deltas,
 * keyed by buffer slot; see docs/protocol.md).
 *
 * Rows of present points are stored densely (index 0..n-1) in one typed column
 * per array; `slotIndex` maps a buffer slot to its row. Removal swaps the last
 * row into the hole so the columns stay dense and can be drawn as-is.
 */
import { type Decoded, type DecodedArray, type DType, type TypedArray, typedArrayFor } from "./codec";
import { checkFrame, REQUIRED_COLUMNS } from "./frame_check";

export { REQUIRED_COLUMNS };

export type ChannelKind = "continuous" | "categorical";

export interface ChannelSpec {
  kind: ChannelKind;
  [extra: string]: unknown;
}

export interface FrameMeta {
  kind: "keyframe" | "delta";
  seq: number;
  generation?: number;
  capacity?: number;
  extent?: [number, number, number, number];
  newest_step?: number;
  channels?: Record<string, ChannelSpec>;
  [extra: string]: unknown;
}

/** Optional float32 columns. Any other per-row array in a frame is kept too. */
export const OPTIONAL_COLUMNS = ["td_error", "priority"] as const;

const NON_ROW_ARRAYS = new Set(["slots", "removed"]);

export interface Column {
  dtype: DType;
  data: TypedArray;
}

export type DeltaOutcome = "applied" | "stale" | "gap" | "ignored";

export interface DeltaResult {
  outcome: DeltaOutcome;
  /** True exactly once per gap: the caller must send {type: "request_keyframe", seq}. */
  requestKeyframe: boolean;
}

export type SlotStatus =
  | { kind: "present"; step: number }
  | { kind: "replaced"; step: number }
  | { kind: "removed" }
  | { kind: "unknown" };

export type ColorValues =
  | {
      kind: "categorical";
      channel: string;
      /** Integer category per row: raw value modulo the palette size. */
      values: Float32Array;
      /** Distinct raw values (sorted, at most `maxDistinct`), for the legend. */
      distinct: number[];
      /** True when there were more distinct values than `maxDistinct`. */
      moreDistinct: boolean;
    }
  | {
      kind: "continuous";
      channel: string;
      /** Values normalised to [0, 1] with min/max; NaN / inf rows become 0. */
      values: Float32Array;
      min: number;
      max: number;
      nanCount: number;
    };

/**
 * Most rows / slot-index entries allocated up front from `meta.capacity`, a
 * number the header merely claims; past it, columns grow with the rows that
 * arrive and stray slots go to a Map.
 */
const PRESIZE_ROWS = 1 << 16;
const PRESIZE_SLOTS = 1 << 20;

/** Slot → row index: an Int32Array sized by capacity (at most PRESIZE_SLOTS), with a Map for stray slots. */
class SlotIndex {
  private dense: Int32Array;
  private overflow = new Map<number, number>();

  constructor(capacity: number) {
    this.dense = new Int32Array(Math.min(Math.max(0, capacity), PRESIZE_SLOTS)).fill(-1);
  }

  get(slot: number): number {
    if (slot < this.dense.length) return this.dense[slot]!;
    const v = this.overflow.get(slot);
    return v === undefined ? -1 : v;
  }

  set(slot: number, index: number): void {
    if (slot < this.dense.length) this.dense[slot] = index;
    else if (index < 0) this.overflow.delete(slot);
    else this.overflow.set(slot, index);
  }
}

/**
 * Whether `arr` is a per-row column of a frame with `n` rows; other arrays
 * (not 1-D of length n) are ignored (checkFrame refused malformed required ones).
 */
function isRowArray(name: string, arr: DecodedArray, n: number): boolean {
  return !NON_ROW_ARRAYS.has(name) && arr.shape.length === 1 && arr.data.length === n;
}

function toNumberOr(v: unknown, fallback: number): number {
  return typeof v === "number" && Number.isFinite(v) ? v : fallback;
}

export class PointState {
  /** Sequence number of the state (−1 before the first keyframe). */
  seq = -1;
  generation = -1;
  capacity = 0;
  extent: [number, number, number, number] = [-1, 1, -1, 1];
  newestStep = 0;
  channels: Record<string, ChannelSpec> = {};
  /** Number of present rows. */
  n = 0;
  /** True once a keyframe was applied. */
  hasKeyframe = false;
  /** Seq of the delta that revealed a gap, or null when in sync. */
  gapSeq: number | null = null;

  /** Buffer slot of each row. */
  slots: Uint32Array = new Uint32Array(0);
  readonly columns = new Map<string, Column>();
  private index = new SlotIndex(0);
  private rowCapacity = 0;

  // ---------------------------------------------------------------- accessors

  column(name: string): TypedArray | null {
    const c = this.columns.get(name);
    return c ? c.data.subarray(0, this.n) : null;
  }

  get x(): Float32Array {
    return this.column("x") as Float32Array;
  }
  get y(): Float32Array {
    return this.column("y") as Float32Array;
  }

  /** Row index of `slot`, or −1. */
  indexOfSlot(slot: number): number {
    return this.index.get(slot);
  }

  /** Step currently held in `slot`, or −1 when the slot is not drawn. */
  stepOfSlot(slot: number): number {
    const i = this.index.get(slot);
    if (i < 0) return -1;
    return this.columns.get("step")!.data[i]!;
  }

  /**
   * What became of the transition (slot, step) since it was inspected:
   * `present` (same step still there), `replaced` (the slot now holds a newer
   * step), `removed` (the slot is no longer drawn), `unknown` (no keyframe
   * yet, or this view has not caught up with that step).
   */
  slotStatus(slot: number, step: number): SlotStatus {
    if (!this.hasKeyframe) return { kind: "unknown" };
    const current = this.stepOfSlot(slot);
    if (current < 0) return this.newestStep >= step ? { kind: "removed" } : { kind: "unknown" };
    if (current > step) return { kind: "replaced", step: current };
    if (current < step) return { kind: "unknown" };
    return { kind: "present", step: current };
  }

  /** Present slots, in row order. */
  slotList(): number[] {
    return Array.from(this.slots.subarray(0, this.n));
  }

  // ------------------------------------------------------------------ frames

  /**
   * Replace the whole state with a keyframe (or a map-history snapshot, whose
   * only required columns are x and y: a recorded run may lack the others).
   */
  applyKeyframe(frame: Decoded<FrameMeta>, required: readonly string[] = REQUIRED_COLUMNS): void {
    checkFrame(frame, required); // throws CodecError before anything changes
    const meta = frame.meta;
    const slots = frame.arrays.slots!;
    const n = slots.data.length;
    this.updateMeta(meta);
    this.generation = toNumberOr(meta.generation, this.generation);
    this.capacity = Math.max(0, Math.floor(toNumberOr(meta.capacity, n)));

    this.rowCapacity = Math.max(Math.min(this.capacity, PRESIZE_ROWS), n, 1);
    this.index = new SlotIndex(Math.max(this.capacity, 1));
    this.slots = new Uint32Array(this.rowCapacity);
    this.slots.set(slots.data);
    this.columns.clear();
    for (const [name, arr] of Object.entries(frame.arrays)) {
      if (!isRowArray(name, arr, n)) continue;
      const data = typedArrayFor(arr.dtype, this.rowCapacity);
      data.set(arr.data);
      this.columns.set(name, { dtype: arr.dtype, data });
    }
    this.n = n;
    for (let i = 0; i < n; i++) this.index.set(this.slots[i]!, i);

    this.seq = meta.seq;
    this.hasKeyframe = true;
    if (this.gapSeq !== null && meta.seq >= this.gapSeq) this.gapSeq = null;
  }

  /**
   * Apply a delta if it is the next one. Rules (docs/protocol.md):
   * seq == state.seq + 1 → apply; seq <= state.seq → ignore (stale);
   * otherwise a gap → request a keyframe once and ignore deltas until a
   * keyframe with seq >= the gap's seq arrives. Before the first keyframe
   * every delta is a gap.
   */
  applyDelta(frame: Decoded<FrameMeta>): DeltaResult {
    checkFrame(frame, []); // throws CodecError before anything changes
    const seq = frame.meta.seq;
    if (this.gapSeq !== null) return { outcome: "ignored", requestKeyframe: false };
    if (this.hasKeyframe && seq <= this.seq) return { outcome: "stale", requestKeyframe: false };
    if (!this.hasKeyframe || seq !== this.seq + 1) {
      this.gapSeq = seq;
      return { outcome: "gap", requestKeyframe: true };
    }
    this.upsertRows(frame.arrays);
    const removed = frame.arrays.removed;
    if (removed) this.removeSlots(removed.data);
    this.updateMeta(frame.meta);
    if (typeof frame.meta.capacity === "number") this.capacity = frame.meta.capacity; // checkFrame: an integer >= 0
    this.seq = seq;
    return { outcome: "applied", requestKeyframe: false };
  }

  /**
   * A delta was refused (malformed): the state may miss its rows, so ignore
   * deltas until the next keyframe (Python's seq never trails ours, so any
   * answer to the request ends the gap). True once per gap: ask for a keyframe.
   */
  rejectDelta(): boolean {
    if (this.gapSeq !== null) return false;
    this.gapSeq = this.seq;
    return true;
  }

  private updateMeta(meta: FrameMeta): void {
    const e = meta.extent;
    if (Array.isArray(e) && e.length === 4) this.extent = [Number(e[0]), Number(e[1]), Number(e[2]), Number(e[3])];
    this.newestStep = toNumberOr(meta.newest_step, this.newestStep);
    if (meta.channels && typeof meta.channels === "object") this.channels = meta.channels;
  }

  private ensureRowCapacity(needed: number): void {
    if (needed <= this.rowCapacity) return;
    const cap = Math.max(needed, this.rowCapacity * 2, 16);
    const slots = new Uint32Array(cap);
    slots.set(this.slots.subarray(0, this.n));
    this.slots = slots;
    for (const col of this.columns.values()) {
      const data = typedArrayFor(col.dtype, cap);
      data.set(col.data.subarray(0, this.n));
      col.data = data;
    }
    this.rowCapacity = cap;
  }

  /** Make sure a column named like `arr` exists and can hold its values. */
  private columnFor(name: string, arr: DecodedArray): Column {
    let col = this.columns.get(name);
    if (!col) {
      const data = typedArrayFor(arr.dtype, this.rowCapacity);
      // Rows that never had this column: NaN for floats, 0 for integers.
      if (data instanceof Float32Array || data instanceof Float64Array) data.fill(NaN);
      col = { dtype: arr.dtype, data };
      this.columns.set(name, col);
    } else if (col.dtype !== arr.dtype) {
      // dtype changed between frames: widen to float64, which holds all values.
      const data = new Float64Array(this.rowCapacity);
      for (let i = 0; i < this.n; i++) data[i] = col.data[i]!;
      col = { dtype: "float64", data };
      this.columns.set(name, col);
    }
    return col;
  }

  private upsertRows(arrays: Record<string, DecodedArray>): void {
    const slots = arrays.slots;
    if (!slots) return;
    const m = slots.data.length;
    if (m === 0) return;
    const rowArrays: [Column, TypedArray][] = [];
    const covered = new Set<string>();
    for (const [name, arr] of Object.entries(arrays)) {
      if (isRowArray(name, arr, m)) covered.add(name);
    }
    // Count new rows first so columns grow once.
    let fresh = 0;
    for (let k = 0; k < m; k++) if (this.index.get(slots.data[k]!) < 0) fresh++;
    this.ensureRowCapacity(this.n + fresh);
    for (const name of covered) rowArrays.push([this.columnFor(name, arrays[name]!), arrays[name]!.data]);
    const missing: Column[] = [];
    for (const [name, col] of this.columns) if (!covered.has(name)) missing.push(col);

    for (let k = 0; k < m; k++) {
      const slot = slots.data[k]!;
      let i = this.index.get(slot);
      if (i < 0) {
        i = this.n++;
        this.slots[i] = slot;
        this.index.set(slot, i);
      }
      for (const [col, src] of rowArrays) col.data[i] = src[k]!;
      for (const col of missing)
        col.data[i] = col.data instanceof Float32Array || col.data instanceof Float64Array ? NaN : 0;
    }
  }

  private removeSlots(removed: TypedArray): void {
    const cols = Array.from(this.columns.values(), (c) => c.data);
    for (let k = 0; k < removed.length; k++) {
      const slot = removed[k]!;
      const i = this.index.get(slot);
      if (i < 0) continue;
      const last = this.n - 1;
      if (i !== last) {
        const moved = this.slots[last]!;
        this.slots[i] = moved;
        for (const data of cols) data[i] = data[last]!;
        this.index.set(moved, i);
      }
      this.index.set(slot, -1);
      this.n = last;
    }
  }

  // ----------------------------------------------------------------- drawing

  /** Names that can be chosen in "colour by": 'age' plus meta.channels. */
  colorChannels(): string[] {
    return ["age", ...Object.keys(this.channels).filter((c) => c !== "age")];
  }

  channelKind(channel: string): ChannelKind {
    if (channel === "age") return "continuous";
    return this.channels[channel]?.kind === "categorical" ? "categorical" : "continuous";
  }

  /**
   * Colour values for a channel. 'age' = newest_step − step (continuous);
   * categorical channels → integer categories (value modulo `paletteSize`);
   * continuous → normalised to [0, 1] with min/max (NaN-safe). A channel with
   * no column gives zeros.
   */
  colorValues(channel: string, paletteSize: number, maxDistinct = 32): ColorValues {
    const n = this.n;
    const out = new Float32Array(n);
    const kind = this.channelKind(channel);
    let src: ArrayLike<number> | null;
    if (channel === "age") {
      const step = this.column("step");
      const ages = new Float64Array(n);
      if (step) for (let i = 0; i < n; i++) ages[i] = this.newestStep - step[i]!;
      src = ages;
    } else {
      src = this.column(channel);
    }
    if (kind === "categorical") {
      const p = Math.max(1, Math.floor(paletteSize));
      const distinct = new Set<number>();
      let more = false;
      if (src) {
        for (let i = 0; i < n; i++) {
          const v = src[i]!;
          const r = Number.isFinite(v) ? Math.round(v) : 0;
          out[i] = ((r % p) + p) % p;
          if (!more && !distinct.has(r)) {
            if (distinct.size >= maxDistinct) more = true;
            else distinct.add(r);
          }
        }
      }
      return { kind, channel, values: out, distinct: Array.from(distinct).sort((a, b) => a - b), moreDistinct: more };
    }
    if (!src) return { kind, channel, values: out, min: NaN, max: NaN, nanCount: 0 };
    const { values, min, max, nanCount } = normalizeContinuous(src, out);
    return { kind, channel, values, min, max, nanCount };
  }

  /** x, y mapped to [-1, 1] with meta.extent (non-finite → 0). */
  normalizedCoords(): { x: Float32Array; y: Float32Array } {
    const [xmin, xmax, ymin, ymax] = this.extent;
    return {
      x: normalizeAxis(this.column("x") ?? new Float32Array(0), xmin, xmax),
      y: normalizeAxis(this.column("y") ?? new Float32Array(0), ymin, ymax),
    };
  }
}

/**
 * Min/max-normalise `src` into `out` (values in [0, 1]). Non-finite values are
 * ignored for min/max and written as 0. Constant input maps to 0.5.
 */
export function normalizeContinuous(
  src: ArrayLike<number>,
  out: Float32Array = new Float32Array(src.length),
): { values: Float32Array; min: number; max: number; nanCount: number } {
  let min = Infinity;
  let max = -Infinity;
  let nanCount = 0;
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    if (!Number.isFinite(v)) {
      nanCount++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min > max) {
    out.fill(0);
    return { values: out, min: NaN, max: NaN, nanCount };
  }
  const span = max - min;
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    if (!Number.isFinite(v)) out[i] = 0;
    else if (span > 0) out[i] = Math.min(1, Math.max(0, (v - min) / span));
    else out[i] = 0.5;
  }
  return { values: out, min, max, nanCount };
}

/** Map [lo, hi] → [-1, 1]; a degenerate or non-finite extent maps everything to 0. */
export function normalizeAxis(src: ArrayLike<number>, lo: number, hi: number): Float32Array {
  const out = new Float32Array(src.length);
  const span = hi - lo;
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && span > 0)) return out;
  const scale = 2 / span;
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    out[i] = Number.isFinite(v) ? (v - lo) * scale - 1 : 0;
  }
  return out;
}
