/**
 * The view's handling of live frames from Python (docs/protocol.md, "Frames"),
 * DOM-free so it is unit-tested: the `keyframe` trait and `{type: "delta"}`
 * messages. A malformed one is refused with a reason (logged with
 * console.warn; the widget shows it in the status line) and never reaches the
 * state half-applied; a refused delta or a sequence gap asks for a keyframe
 * once.
 */
import { decode } from "./codec";
import type { FrameMeta, PointState } from "./state";

export interface Receipt {
  /** The state changed: redraw. */
  applied: boolean;
  /** Send {type: "request_keyframe", seq}. */
  requestKeyframe: boolean;
  /** Why the frame was refused, or null. */
  error: string | null;
}

function isBytes(v: unknown): v is DataView | ArrayBuffer | ArrayBufferView {
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

function refuse(what: string, err: unknown, requestKeyframe: boolean): Receipt {
  const error = `bad ${what}: ${err instanceof Error ? err.message : String(err)}`;
  console.warn(`better_rl_widget: ${error}`);
  return { applied: false, requestKeyframe, error };
}

/** The `keyframe` trait changed; an empty one is no frame yet. */
export function receiveKeyframe(state: PointState, blob: unknown): Receipt {
  if (blob === null || blob === undefined || (isBytes(blob) && blob.byteLength === 0)) {
    return { applied: false, requestKeyframe: false, error: null };
  }
  try {
    if (!isBytes(blob)) throw new Error(`keyframe trait holds ${typeof blob}, not bytes`);
    const frame = decode<FrameMeta>(blob);
    if (frame.meta.kind !== "keyframe") throw new Error(`expected a keyframe, got kind ${String(frame.meta.kind)}`);
    state.applyKeyframe(frame);
    return { applied: true, requestKeyframe: false, error: null };
  } catch (err) {
    // No request: a bad trait answering each request would loop.
    return refuse("keyframe", err, false);
  }
}

/** A custom message of type "delta" with its buffers. */
export function receiveDelta(state: PointState, buffers: unknown): Receipt {
  try {
    const buf = Array.isArray(buffers) ? (buffers[0] as unknown) : undefined;
    if (!isBytes(buf)) throw new Error("delta message without a buffer");
    const frame = decode<FrameMeta>(buf);
    if (frame.meta.kind !== "delta") throw new Error(`expected a delta, got kind ${String(frame.meta.kind)}`);
    const res = state.applyDelta(frame);
    return { applied: res.outcome === "applied", requestKeyframe: res.requestKeyframe, error: null };
  } catch (err) {
    return refuse("delta", err, state.rejectDelta());
  }
}

/**
 * When the view asks Python for a keyframe: once on opening (the trait may predate deltas already sent), on a gap,
 * and when Python's status says it is ahead while no delta comes (a view opened late while the stream is idle, or
 * one that lost a delta): behind for 0.5 s, at most every 2 s.
 */
export class KeyframeRequests {
  /** Requests sent so far. */
  count = 0;
  private last = -Infinity;
  private behindSince: number | null = null;

  constructor(
    private readonly send: () => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  request(): void {
    this.last = this.now();
    this.count++;
    this.send();
  }

  /** Python's status reported its seq; `ownSeq` is the view's. */
  pythonSeq(pythonSeq: number, ownSeq: number): void {
    if (!(pythonSeq > ownSeq)) {
      this.behindSince = null;
      return;
    }
    const now = this.now();
    this.behindSince ??= now;
    if (now - this.behindSince > 500 && now - this.last > 2000) this.request();
  }
}
