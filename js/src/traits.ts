/**
 * The synced traits of `BufferWidget` (better_rl_widget/widget/buffer_widget.py), as the view sees them: every one,
 * no other (tests/test_view_messages.py compares these keys with the Python class). Binary traits arrive as
 * DataViews (an empty one before Python first fills them); the HTML export's page model gives the same shapes.
 */
import type { GaugeTrait } from "./panels/gauge";
import type { StatusTrait } from "./panels/status";

export type Bytes = DataView | ArrayBuffer | ArrayBufferView;

export interface WidgetTraits {
  /** BRW1 keyframe: every drawn row (Py → JS). */
  keyframe: Bytes | null;
  /** BRW1 answer to a click: the row as Python's buffer holds it (Py → JS). */
  inspection: Bytes | null;
  status: StatusTrait;
  gauge: GaugeTrait;
  /** Colour channel of the map (both ways). */
  color_by: string;
  /** What a point embeds: "states", "state-actions" or "windows" (both ways; docs/map_modes.md). */
  map_mode: string;
  /** Pairs per window in the "windows" map mode, 1..32 (both ways). */
  window_k: number;
  /** Point id clicked, -1 for none (JS → Py). */
  clicked: number;
  /** Lasso selection: uint32 point ids (JS → Py). */
  selection_bytes: Bytes;
  /** Problems Python reported, newest last (also in `status.last_error`). */
  errors: string[];
  /** BRW1 saliency maps of the inspected slot (Py → JS). */
  saliency: Bytes | null;
  /** BRW1 priority / TD-error histograms and influential states (Py → JS). */
  summary: Bytes | null;
  /** BRW1 skills, calibration, value trace, paths, segments, influence; empty until enable_interpret (Py → JS). */
  interpret: Bytes | null;
  /** BRW1 thumbnails (+ saliency) of the influential states (Py → JS). */
  thumbnails: Bytes | null;
  /** BRW1 index of the kept map snapshots, for the time scrubber (Py → JS). */
  history_index: Bytes | null;
}

export function isBytes(v: unknown): v is Bytes {
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

/** A binary trait's value, or null when it is empty or not binary. */
export function nonEmptyBytes(v: unknown): Bytes | null {
  return isBytes(v) && v.byteLength > 0 ? v : null;
}
