import type { Decoded } from "../src/codec";
import { type DType, decode, type EncodeArray, encode } from "../src/codec";
import type { FrameMeta } from "../src/state";

export interface Row {
  slot: number;
  x?: number;
  y?: number;
  step: number;
  episode?: number;
  action?: number;
  reward?: number;
  done?: number;
  td_error?: number;
}

const CHANNELS = {
  reward: { kind: "continuous" },
  action: { kind: "categorical" },
  episode: { kind: "categorical" },
  done: { kind: "categorical" },
};

function columns(rows: Row[], withTd: boolean): Record<string, EncodeArray> {
  const col = (dtype: DType, f: (r: Row) => number): EncodeArray => ({ dtype, data: rows.map(f) });
  const out: Record<string, EncodeArray> = {
    slots: col("uint32", (r) => r.slot),
    x: col("float32", (r) => r.x ?? r.slot),
    y: col("float32", (r) => r.y ?? -r.slot),
    step: col("uint32", (r) => r.step),
    episode: col("uint32", (r) => r.episode ?? 0),
    action: col("uint32", (r) => r.action ?? 0),
    reward: col("float32", (r) => r.reward ?? 0),
    done: col("uint8", (r) => r.done ?? 0),
  };
  if (withTd) out.td_error = col("float32", (r) => r.td_error ?? 0);
  return out;
}

export function keyframe(seq: number, rows: Row[], extra: Partial<FrameMeta> = {}, withTd = false): Decoded<FrameMeta> {
  const newest = rows.reduce((m, r) => Math.max(m, r.step), 0);
  const meta = {
    kind: "keyframe",
    seq,
    generation: 1,
    capacity: 16,
    extent: [0, 16, -16, 0],
    newest_step: newest,
    channels: withTd ? { ...CHANNELS, td_error: { kind: "continuous" } } : CHANNELS,
    ...extra,
  };
  return decode<FrameMeta>(encode(meta, columns(rows, withTd)));
}

export function delta(
  seq: number,
  rows: Row[],
  removed: number[] = [],
  extra: Partial<FrameMeta> = {},
  withTd = false,
): Decoded<FrameMeta> {
  const newest = rows.reduce((m, r) => Math.max(m, r.step), 0);
  const meta = {
    kind: "delta",
    seq,
    capacity: 16,
    extent: [0, 16, -16, 0],
    newest_step: newest,
    channels: CHANNELS,
    ...extra,
  };
  return decode<FrameMeta>(encode(meta, { ...columns(rows, withTd), removed: { dtype: "uint32", data: removed } }));
}

/** A BRW1 map snapshot (what Python's encode_snapshot writes): points 0..n-1 at x = xs, y = −xs. */
export function snapshotBlob(id: number, step: number, xs: number[], extraFields = true): Uint8Array {
  const slots = xs.map((_, i) => i);
  const arrays: Parameters<typeof encode>[1] = {
    slots: { dtype: "uint32", data: slots },
    x: { dtype: "float32", data: xs },
    y: { dtype: "float32", data: xs.map((x) => -x) },
  };
  if (extraFields) arrays.skill = { dtype: "uint32", data: slots.map((s) => s % 2) };
  return encode(
    {
      kind: "snapshot",
      id,
      step,
      time_s: step / 10,
      extent: [-1, 1, -1, 1],
      newest_step: 0,
      capacity: xs.length,
      channels: extraFields ? { skill: { kind: "categorical" } } : {},
    },
    arrays,
  );
}
