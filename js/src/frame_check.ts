/**
 * What a decoded keyframe, delta or map snapshot must hold before it may touch
 * a PointState (docs/protocol.md, "Frames"); mirrored by
 * better_rl_widget/widget/frame_codec.py. Throws CodecError with the reason.
 */
import { CodecError, type Decoded } from "./codec";

/** Columns every keyframe carries besides `slots`; when present in any frame they have one value per slot. */
export const REQUIRED_COLUMNS = ["x", "y", "step", "episode", "action", "reward", "done"] as const;

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Check `frame` (any kind: the caller checks `meta.kind`). `required`: the
 * columns it must have (a snapshot needs only x and y).
 */
export function checkFrame(frame: Decoded<unknown>, required: readonly string[] = REQUIRED_COLUMNS): void {
  const meta = frame.meta;
  if (!isObject(meta)) throw new CodecError("frame meta is not an object");
  if (!isCount(meta.seq)) throw new CodecError(`frame seq ${String(meta.seq)} is not an integer >= 0`);
  if (meta.capacity !== undefined && !isCount(meta.capacity))
    throw new CodecError(`frame capacity ${String(meta.capacity)} is not an integer >= 0`);
  const e = meta.extent;
  if (e !== undefined && !(Array.isArray(e) && e.length === 4 && e.every((v) => typeof v === "number"))) {
    throw new CodecError("frame extent is not 4 numbers");
  }
  if (meta.channels !== undefined && !(isObject(meta.channels) && Object.values(meta.channels).every(isObject))) {
    throw new CodecError("frame channels is not an object of objects");
  }
  const slots = frame.arrays.slots;
  if (slots?.dtype !== "uint32" || slots.shape.length !== 1)
    throw new CodecError("frame needs a 1-D uint32 slots array");
  const n = slots.data.length;
  for (const name of required) {
    if (!frame.arrays[name]) throw new CodecError(`frame has no ${name} array`);
  }
  for (const name of REQUIRED_COLUMNS) {
    const a = frame.arrays[name];
    if (a && (a.shape.length !== 1 || a.data.length !== n)) {
      throw new CodecError(`frame array ${name} has shape [${a.shape.join(", ")}], expected [${n}]`);
    }
  }
  const removed = frame.arrays.removed;
  if (removed && (removed.dtype !== "uint32" || removed.shape.length !== 1))
    throw new CodecError("frame removed is not a 1-D uint32 array");
}
