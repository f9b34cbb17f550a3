/**
 * The `summary` trait (docs/protocol.md): per field ("priority", "td_error") a histogram of |value| and the
 * top-K slots by |value|, all as binary arrays. Parsing and bar geometry are DOM-free (unit-tested).
 */
import { decode } from "../codec";
import { fmtInt, fmtNum } from "./format";

export interface FieldSummary {
  edges: Float32Array;
  counts: Uint32Array;
  slots: Uint32Array;
  values: Float32Array;
}

export interface Summary {
  fields: string[];
  byField: Map<string, FieldSummary>;
  /** Replay counts of the drawn rows, when the buffer's sampling is counted (docs/capture.md). */
  replays: ReplaySummary | null;
}

/** Header statistics: `of` says over what ("drawn": the map's rows, an even sample of the buffer by age). */
export interface ReplayStats {
  of: string;
  n: number;
  never: number | null;
  median: number | null;
  mean: number | null;
  spearman_priority?: number | null;
}

export interface ReplaySummary {
  stats: ReplayStats;
  edges: Float32Array;
  counts: Uint32Array;
}

export const FIELD_LABEL: Record<string, string> = {
  priority: "priority (p^α)",
  td_error: "|TD-error|",
  replays: "replays",
};

/** "38 % of the 1,000 drawn transitions never replayed · median 2.1 replays per transition" (+ Spearman). */
export function replayLine(s: ReplayStats): string {
  const pct = s.never === null || s.never === undefined ? "–" : `${Math.round(100 * s.never)} %`;
  const med = s.median === null || s.median === undefined ? "–" : fmtNum(s.median);
  const over = s.of === "drawn" ? `the ${fmtInt(s.n)} drawn transitions` : `${fmtInt(s.n)} transitions`;
  let line = `${pct} of ${over} never replayed · median ${med} replays per transition`;
  const rho = s.spearman_priority;
  if (typeof rho === "number" && Number.isFinite(rho)) line += ` · priority vs replays: Spearman ${rho.toFixed(2)}`;
  return line;
}

function parseReplays(meta: Record<string, unknown>, arrays: Record<string, { data: unknown }>): ReplaySummary | null {
  const st = meta.replays;
  if (!st || typeof st !== "object") return null;
  const edges = arrays.hist_replays_edges?.data as Float32Array | undefined;
  const counts = arrays.hist_replays_counts?.data as Uint32Array | undefined;
  if (!edges || !counts) throw new Error("summary replays lacks hist_replays_edges/counts");
  if (edges.length !== counts.length + 1)
    throw new Error(`summary replays: ${edges.length} edges for ${counts.length} bins`);
  const o = st as Record<string, unknown>;
  const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
  return {
    stats: {
      of: typeof o.of === "string" ? o.of : "drawn",
      n: num(o.n) ?? 0,
      never: num(o.never),
      median: num(o.median),
      mean: num(o.mean),
      spearman_priority: num(o.spearman_priority),
    },
    edges,
    counts,
  };
}

/** Decode a summary blob; null for an empty trait. Throws on a malformed blob (shown as a local error). */
export function parseSummary(blob: DataView | ArrayBuffer | ArrayBufferView | null | undefined): Summary | null {
  if (!blob || blob.byteLength === 0) return null;
  const { meta, arrays } = decode<{ kind?: string; fields?: unknown; replays?: unknown }>(blob);
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
  const replays = parseReplays(meta as Record<string, unknown>, arrays);
  return { fields: fields.filter((f) => byField.has(f)), byField, replays };
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
