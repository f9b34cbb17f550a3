/**
 * The `summary` trait (docs/protocol.md): per field ("priority", "td_error") a histogram of |value| and the
 * top-K slots by |value|, all as binary arrays. Parsing and bar geometry are DOM-free (unit-tested).
 */
import { decode } from "../codec";

export interface FieldSummary {
  edges: Float32Array;
  counts: Uint32Array;
  slots: Uint32Array;
  values: Float32Array;
}

export interface Summary {
  fields: string[];
  byField: Map<string, FieldSummary>;
}

export const FIELD_LABEL: Record<string, string> = {
  priority: "priority (p^α)",
  td_error: "|TD-error|",
};

/** Decode a summary blob; null for an empty trait. Throws on a malformed blob (shown as a local error). */
export function parseSummary(blob: DataView | ArrayBuffer | ArrayBufferView | null | undefined): Summary | null {
  if (!blob || blob.byteLength === 0) return null;
  const { meta, arrays } = decode<{ kind?: string; fields?: unknown }>(blob);
  if (meta.kind !== "summary") throw new Error(`expected a summary, got kind ${String(meta.kind)}`);
  const fields = Array.isArray(meta.fields) ? meta.fields.filter((f): f is string => typeof f === "string") : [];
  const byField = new Map<string, FieldSummary>();
  for (const f of fields) {
    const get = (name: string) => {
      const a = arrays[name];
      if (!a) throw new Error(`summary for ${f} lacks ${name}`);
      return a.data;
    };
    const s: FieldSummary = {
      edges: get(`hist_${f}_edges`) as Float32Array,
      counts: get(`hist_${f}_counts`) as Uint32Array,
      slots: get(`top_${f}_slots`) as Uint32Array,
      values: get(`top_${f}_values`) as Float32Array,
    };
    if (s.edges.length !== s.counts.length + 1)
      throw new Error(`summary ${f}: ${s.edges.length} edges for ${s.counts.length} bins`);
    if (s.slots.length !== s.values.length)
      throw new Error(`summary ${f}: ${s.slots.length} slots, ${s.values.length} values`);
    byField.set(f, s);
  }
  return { fields: fields.filter((f) => byField.has(f)), byField };
}

/** Bar heights in [0, height] proportional to counts (the tallest bin fills the height). */
export function barHeights(counts: ArrayLike<number>, height: number): number[] {
  let max = 0;
  for (let i = 0; i < counts.length; i++) max = Math.max(max, counts[i]!);
  const out: number[] = [];
  for (let i = 0; i < counts.length; i++) out.push(max > 0 ? (height * counts[i]!) / max : 0);
  return out;
}

/** The field to show: the one asked for when present, else the first available (priority before TD-error). */
export function pickField(summary: Summary | null, wanted: string | null): string | null {
  if (!summary || summary.fields.length === 0) return null;
  return wanted && summary.byField.has(wanted) ? wanted : summary.fields[0]!;
}
