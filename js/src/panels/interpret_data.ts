/**
 * The `interpret` trait (docs/protocol.md, docs/interpretability.md): skill graph, calibration, value trace,
 * episode paths, recurring segments and influence, as BRW1 arrays. Parsing and geometry are DOM-free (unit-tested).
 */
import { decode } from "../codec";

export interface InterpretMeta {
  kind: "interpret";
  n: number;
  k: number;
  last: number;
  episode: number | null;
  message: string;
  refresh: number;
  scores?: Record<string, number>;
  calibration?: { value: string; n: number; bias: number | null; mae: number | null; corr: number | null } | null;
  paths?: number[];
  trace_episode?: number;
  segments?: { label: string; count: number; n_episodes: number }[];
  influence?: {
    group?: string;
    groups?: string[];
    sizes?: number[];
    complete?: boolean;
    steps?: number;
    elapsed_s?: number;
    message?: string;
  };
}

export interface Interpret {
  meta: InterpretMeta;
  arrays: Record<string, Float32Array | Uint32Array>;
}

/** Decode an interpret blob; null for an empty trait. Throws on a malformed blob (shown as a local error). */
export function parseInterpret(blob: DataView | ArrayBuffer | ArrayBufferView | null | undefined): Interpret | null {
  if (!blob || blob.byteLength === 0) return null;
  const { meta, arrays } = decode<InterpretMeta>(blob);
  if (meta.kind !== "interpret") throw new Error(`expected interpret data, got kind ${String(meta.kind)}`);
  const out: Record<string, Float32Array | Uint32Array> = {};
  for (const [name, a] of Object.entries(arrays)) out[name] = a.data as Float32Array | Uint32Array;
  const off = out.path_offsets;
  if (off && off.length > 0 && off[off.length - 1] !== (out.path_slots?.length ?? 0)) {
    throw new Error(
      `interpret: path offsets end at ${off[off.length - 1]} but there are ${out.path_slots?.length ?? 0} slots`,
    );
  }
  return { meta, arrays: out };
}

/** Part `i` of a ragged array (flat values split by offsets). */
export function raggedPart(flat: Uint32Array | undefined, offsets: Uint32Array | undefined, i: number): Uint32Array {
  if (!flat || !offsets || i < 0 || i + 1 >= offsets.length) return new Uint32Array(0);
  return flat.subarray(offsets[i]!, offsets[i + 1]!);
}

/** Slots of the drawn points whose `skill` column equals `skill`. */
export function slotsWithValue(slots: ArrayLike<number>, column: ArrayLike<number> | null, value: number): number[] {
  const out: number[] = [];
  if (!column) return out;
  for (let i = 0; i < Math.min(slots.length, column.length); i++) if (column[i] === value) out.push(slots[i]!);
  return out;
}

/** A linear map from [d0, d1] to [r0, r1]; a degenerate domain maps to the middle of the range. */
export function linear(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const span = d1 - d0;
  if (!(Number.isFinite(span) && span !== 0)) return () => (r0 + r1) / 2;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

/** Finite min and max over several arrays (NaN-safe); [0, 1] when there is nothing finite. */
export function finiteRange(...arrays: (ArrayLike<number> | undefined)[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of arrays) {
    if (!a) continue;
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}

/** Node radius for a skill with `count` visits (area ∝ visits, the largest `rMax`). */
export function nodeRadius(count: number, maxCount: number, rMin = 5, rMax = 22): number {
  if (!(maxCount > 0)) return rMin;
  return rMin + (rMax - rMin) * Math.sqrt(Math.max(0, count) / maxCount);
}
