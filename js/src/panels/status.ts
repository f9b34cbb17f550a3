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
  selected?: number | number[];
  /** Visible remarks that are not errors (degraded modes, flattened observations). */
  notes?: string[];
}

export function statusText(s: StatusTrait): string {
  const parts = [
    s.running === false ? "paused" : "live",
    `frames ${fmtInt(s.frames_shown ?? 0)}`,
    `dropped ${fmtInt(s.frames_dropped ?? 0)}`,
    `lag ${fmtNum(Number(s.worker_lag_s ?? 0))} s`,
    `NaN skipped ${fmtInt(s.nan_skipped ?? 0)}`,
  ];
  if (s.projection) parts.push(`projection ${s.projection}`);
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

  constructor() {
    this.el = h("div", "brw-status");
    this.text = h("span", "brw-status-text", "waiting for the Python side…");
    this.error = h("span", "brw-error");
    this.el.append(this.text, this.error);
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

  private render(): void {
    if (this.status) this.text.textContent = statusText(this.status);
    const errs = [this.status?.last_error, this.localError].filter((e): e is string => typeof e === "string" && e.length > 0);
    this.error.textContent = errs.length ? `error: ${errs.join(" | ")}` : "";
    this.error.hidden = errs.length === 0;
  }
}
