/**
 * The `thumbnails` trait (docs/protocol.md): uint8 thumbnails of the influential states for image observations,
 * and optionally actor/critic saliency maps at the same size. Parsing and pixel composition are DOM-free
 * (unit-tested); drawing puts the RGBA pixels on a small canvas per row (CSS image-rendering: pixelated).
 */
import { decode } from "../codec";

/** "unavailable": no q_network (widget.enable_saliency not called); "off"/"on": the list's toggle. */
export type ThumbSaliency = "unavailable" | "off" | "on";

export interface Thumbs {
  height: number;
  width: number;
  channels: number; // 1 (gray) or 3 (RGB)
  slots: Uint32Array;
  steps: Uint32Array;
  images: Uint8Array; // (n, h, w, channels)
  actor: Uint8Array | null; // (n, h, w), 0..255 of each map's peak
  critic: Uint8Array | null;
  hasSaliency: Uint8Array | null; // (n,) 1 where the row has maps
  saliency: ThumbSaliency;
  message: string;
  bySlot: Map<number, number>; // slot → row index
}

/** Decode a thumbnails blob; null for an empty trait. Throws on a malformed blob (shown as a local error). */
export function parseThumbnails(blob: DataView | ArrayBuffer | ArrayBufferView | null | undefined): Thumbs | null {
  if (!blob || blob.byteLength === 0) return null;
  const { meta, arrays } = decode<{
    kind?: string;
    size?: unknown;
    channels?: unknown;
    saliency?: unknown;
    message?: unknown;
  }>(blob);
  if (meta.kind !== "thumbnails") throw new Error(`expected thumbnails, got kind ${String(meta.kind)}`);
  const get = (name: string) => {
    const a = arrays[name];
    if (!a) throw new Error(`thumbnails lack ${name}`);
    return a;
  };
  const images = get("images");
  const slots = get("slots").data as Uint32Array;
  const [n, height, width, channels] = images.shape as [number, number, number, number];
  if (images.shape.length !== 4 || n !== slots.length || (channels !== 1 && channels !== 3)) {
    throw new Error(`thumbnails: images of shape ${images.shape.join("×")} for ${slots.length} slots`);
  }
  const map = (name: string): Uint8Array | null => {
    const a = arrays[name];
    if (!a) return null;
    if (a.data.length !== n * height * width) throw new Error(`thumbnails: ${name} has ${a.data.length} values`);
    return a.data as Uint8Array;
  };
  const bySlot = new Map<number, number>();
  for (const [i, s] of slots.entries()) bySlot.set(s, i);
  const sal = meta.saliency === "on" || meta.saliency === "off" ? meta.saliency : "unavailable";
  return {
    height,
    width,
    channels,
    slots,
    bySlot,
    steps: get("steps").data as Uint32Array,
    images: images.data as Uint8Array,
    actor: map("actor"),
    critic: map("critic"),
    hasSaliency: (arrays.has_saliency?.data as Uint8Array | undefined) ?? null,
    saliency: sal,
    message: typeof meta.message === "string" ? meta.message : "",
  };
}

/** RGBA pixels of row `i`: the image, with the saliency maps blended over it when `overlay` (actor red,
 * critic blue, as in the inspector; each weighted by its strength × opacity). */
export function thumbPixels(t: Thumbs, i: number, overlay: boolean, opacity = 0.7): Uint8ClampedArray {
  const n = t.height * t.width;
  const out = new Uint8ClampedArray(n * 4);
  const c = t.channels;
  const base = i * n * c;
  const withMaps = overlay && t.hasSaliency !== null && t.hasSaliency[i] === 1;
  for (let k = 0; k < n; k++) {
    let r = t.images[base + k * c]!;
    let g = c === 3 ? t.images[base + k * c + 1]! : r;
    let b = c === 3 ? t.images[base + k * c + 2]! : r;
    if (withMaps) {
      const a = (t.actor ? t.actor[i * n + k]! : 0) / 255;
      const v = (t.critic ? t.critic[i * n + k]! : 0) / 255;
      const alpha = Math.max(a, v) * opacity;
      const red = Math.round(255 * a);
      const blue = Math.round(255 * v);
      r = r * (1 - alpha) + red * alpha;
      g = g * (1 - alpha);
      b = b * (1 - alpha) + blue * alpha;
    }
    out[4 * k] = r;
    out[4 * k + 1] = g;
    out[4 * k + 2] = b;
    out[4 * k + 3] = 255;
  }
  return out;
}
