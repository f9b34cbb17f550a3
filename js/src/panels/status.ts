/** Status line from the `status` trait (plus front-end decode errors), last error in red. */
import { fmtInt, fmtNum, h } from "./format";

export interface StatusTrait {
  frames_shown?: number;
  frames_dropped?: number;
  worker_lag_s?: number;
  nan_skipped?: number;
  last_error?: string | null;
  projection?: string;
  running?: boolean;
  hook_step?: number;
  /** Python's newest frame sequence number: a view behind it with no delta coming asks for a keyframe. */
  seq?: number;
  selected?: number | number[];
  /** Visible remarks that are not errors (degraded modes, flattened observations). */
  notes?: string[];
  engine?: EngineInfo;
  /** A recorded history (replay widget, HTML export), not a live run. */
  replay?: boolean;
  /** What the map draws of the buffer (a bounded sample of large buffers). */
  map?: MapInfo;
  /** Measured share of the training's CPU the live map takes (0.03 = 3 %), and the budget it is held to. */
  cost?: number;
  cost_budget?: number;
  /** Rows kept off the map because their frames failed (each failure is reported). */
  rows_lost?: number;
  /** Rows the buffer received after the hook was closed: counted, not drawn. */
  rows_after_close?: number;
  /** Rows the mirror refused (wrong shape or dtype), NaN/inf/negative priorities and rewards, points the
   * projection could not place: each reported once in the error line, counted here. */
  rejected?: number;
  bad_priority?: number;
  bad_reward?: number;
  unplaced?: number;
  /** The final settle pass after training: progress 0..1. */
  settle?: { progress?: number; seconds?: number; done?: boolean };
}

export interface MapInfo {
  points?: number;
  capacity?: number;
  resident?: number;
  sampled_by?: string;
}

/** "map: 5,000 of 1,000,000 slots, sampled by age" — only when the map draws a sample of the buffer. */
export function mapText(m: MapInfo | null | undefined): string {
  if (!m || typeof m !== "object" || m.sampled_by === "all" || typeof m.points !== "number") return "";
  const of = typeof m.resident === "number" ? m.resident : m.capacity;
  return `map: ${fmtInt(m.points)} of ${fmtInt(of ?? 0)} slots, sampled by ${m.sampled_by ?? "age"}`;
}

/** Scalar state of the projection engine (live t-SNE: phase, iterations, kNN-preservation, pending, notes). */
export interface EngineInfo {
  phase?: string;
  iterations?: number;
  knn_preservation?: number;
  pending?: number;
  note?: string;
  [key: string]: unknown;
}

/** "t-SNE 1,234 it · kNN 0.62 · 40 pending · note": only what the engine reported. */
export function engineText(e: EngineInfo | null | undefined): string {
  if (!e || typeof e !== "object") return "";
  const parts: string[] = [];
  if (typeof e.phase === "string" && e.phase) parts.push(e.phase);
  if (typeof e.iterations === "number" && e.iterations > 0) parts.push(`${fmtInt(e.iterations)} it`);
  if (typeof e.knn_preservation === "number") parts.push(`kNN ${e.knn_preservation.toFixed(2)}`);
  if (typeof e.pending === "number" && e.pending > 0) parts.push(`${fmtInt(e.pending)} pending`);
  if (typeof e.note === "string" && e.note) parts.push(e.note);
  return parts.join(", ");
}

/** Counters of rows that are not drawn as they came, shown only when non-zero. */
const COUNTERS: [keyof StatusTrait, string][] = [
  ["rejected", "rows refused"],
  ["bad_priority", "bad priorities"],
  ["bad_reward", "bad rewards"],
  ["unplaced", "points not placed"],
  ["rows_lost", "rows not drawn (failed frames)"],
  ["rows_after_close", "rows after close (not drawn)"],
];

export function statusText(s: StatusTrait): string {
  if (s.replay) {
    // A recorded history (replay widget, HTML export): no worker, so no frame/lag counters.
    const notes = Array.isArray(s.notes) ? s.notes.filter((n): n is string => typeof n === "string" && n !== "") : [];
    return ["replay", ...notes].join(" · ");
  }
  const parts = [
    s.running === false ? "paused" : "live",
    `frames ${fmtInt(s.frames_shown ?? 0)}`,
    `dropped ${fmtInt(s.frames_dropped ?? 0)}`,
    `lag ${fmtNum(Number(s.worker_lag_s ?? 0))} s`,
    `NaN skipped ${fmtInt(s.nan_skipped ?? 0)}`,
  ];
  if (s.projection) {
    const eng = engineText(s.engine);
    parts.push(eng ? `projection ${s.projection} (${eng})` : `projection ${s.projection}`);
  }
  const map = mapText(s.map);
  if (map) parts.push(map);
  if (typeof s.cost === "number" && Number.isFinite(s.cost))
    parts.push(`map ≈ ${Math.round(s.cost * 1000) / 10} % of training`);
  if (s.settle && typeof s.settle.progress === "number" && !s.settle.done) {
    parts.push(`settling the map ${Math.round(s.settle.progress * 100)} %`);
  }
  for (const [key, label] of COUNTERS) {
    const n = s[key];
    if (typeof n === "number" && n > 0) parts.push(`${label} ${fmtInt(n)}`);
  }
  if (s.hook_step !== undefined && s.hook_step !== null) parts.push(`hook step ${fmtInt(s.hook_step)}`);
  if (Array.isArray(s.notes)) for (const n of s.notes) if (typeof n === "string" && n) parts.push(`note: ${n}`);
  return parts.join(" · ");
}

export class StatusLine {
  readonly el: HTMLDivElement;
  private readonly text: HTMLSpanElement;
  private readonly error: HTMLSpanElement;
  private status: StatusTrait | null = null;
  private localError: string | null = null;
  private readonly note: HTMLSpanElement;

  constructor() {
    this.el = h("div", "brw-status");
    this.text = h("span", "brw-status-text", "waiting for the Python side…");
    this.error = h("span", "brw-error");
    this.note = h("span", "brw-status-note");
    this.note.hidden = true;
    this.el.append(this.note, this.text, this.error);
  }

  update(s: StatusTrait | null | undefined): void {
    this.status = s && typeof s === "object" ? s : null;
    this.render();
  }

  /** An error found in this view (e.g. an undecodable frame); null clears it. */
  setLocalError(msg: string | null): void {
    this.localError = msg;
    this.render();
  }

  /** A remark from this view shown first (e.g. "map scrubbed to step S; live frames not drawn"); null clears it. */
  setNote(text: string | null): void {
    this.note.textContent = text ?? "";
    this.note.hidden = !text;
  }

  private render(): void {
    if (this.status) this.text.textContent = statusText(this.status);
    const errs = [this.status?.last_error, this.localError].filter(
      (e): e is string => typeof e === "string" && e.length > 0,
    );
    this.error.textContent = errs.length ? `error: ${errs.join(" | ")}` : "";
    this.error.hidden = errs.length === 0;
  }
}
