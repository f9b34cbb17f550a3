/**
 * Saliency overlay for image inspections (the `saliency` trait: BRW1, meta {slot, method, step, layout, message},
 * arrays `actor` + `critic` (perturbation, Greydanus et al. 2018) or `map` (gradients), float32 (H, W) in 0..1).
 *
 * Actor in red and critic in blue, as the paper draws them; a gradient map in red. The overlay is a second canvas
 * laid over each frame of the inspected image, so frame stacks show the map on every frame.
 */
import { decode } from "../codec";
import { h } from "./format";

export const METHODS: [string, string][] = [
  ["perturbation", "perturbation (actor red / critic blue)"],
  ["saliency", "gradient (Captum Saliency)"],
  ["integrated_gradients", "Integrated Gradients"],
];

export interface SaliencyMeta {
  slot?: number;
  method?: string;
  message?: string;
}

/** RGBA pixels of the overlay: red = actor (or map), blue = critic, alpha = strongest × opacity. */
export function overlayPixels(
  red: Float32Array | null,
  blue: Float32Array | null,
  n: number,
  opacity: number,
): Uint8ClampedArray {
  const out = new Uint8ClampedArray(n * 4);
  for (let k = 0; k < n; k++) {
    const r = red ? Math.min(1, Math.max(0, red[k] ?? 0)) : 0;
    const b = blue ? Math.min(1, Math.max(0, blue[k] ?? 0)) : 0;
    out[4 * k] = Math.round(255 * r);
    out[4 * k + 2] = Math.round(255 * b);
    out[4 * k + 3] = Math.round(255 * Math.max(r, b) * opacity);
  }
  return out;
}

export class SaliencyPanel {
  readonly el: HTMLDivElement;
  private readonly method: HTMLSelectElement;
  private readonly opacity: HTMLInputElement;
  private readonly note: HTMLSpanElement;
  private target: { slot: number; canvases: HTMLCanvasElement[] } | null = null;
  private last: {
    meta: SaliencyMeta;
    red: Float32Array | null;
    blue: Float32Array | null;
    w: number;
    h: number;
  } | null = null;
  private overlays: HTMLCanvasElement[] = [];
  private readonly onMethod = (): void => this.ask();
  private readonly onOpacity = (): void => this.draw();

  constructor(private readonly request: (slot: number, method: string) => void) {
    this.el = h("div", "brw-saliency");
    this.method = h("select", "brw-saliency-method");
    for (const [value, label] of METHODS) {
      const o = h("option", undefined, label);
      o.value = value;
      this.method.append(o);
    }
    this.opacity = h("input", "brw-saliency-opacity");
    this.opacity.type = "range";
    this.opacity.min = "0";
    this.opacity.max = "1";
    this.opacity.step = "0.05";
    this.opacity.value = "0.6";
    this.note = h("span", "brw-note");
    this.el.append(
      h("span", "brw-saliency-label", "saliency"),
      this.method,
      h("span", "brw-note", "opacity"),
      this.opacity,
      this.note,
    );
    this.method.addEventListener("change", this.onMethod);
    this.opacity.addEventListener("input", this.onOpacity);
    this.el.hidden = true;
    this.el.dataset.slot = "-1";
  }

  /** A new inspection: its image canvases (none → hide) and slot; asks Python for maps. */
  setTarget(slot: number, canvases: HTMLCanvasElement[]): void {
    this.clearOverlays();
    this.target = slot >= 0 && canvases.length ? { slot, canvases } : null;
    this.el.hidden = this.target === null;
    this.el.dataset.slot = "-1";
    this.note.textContent = "";
    if (this.target) this.ask();
  }

  private ask(): void {
    if (!this.target) return;
    this.note.textContent = "computing…";
    this.request(this.target.slot, this.method.value);
  }

  /** The `saliency` trait changed. */
  update(blob: DataView | ArrayBuffer | ArrayBufferView | null): void {
    if (!blob || blob.byteLength === 0) return;
    const { meta, arrays } = decode<SaliencyMeta>(blob);
    if (!this.target || meta.slot !== this.target.slot) return; // an answer for an older click
    if (meta.method && meta.method !== this.method.value) return;
    this.note.textContent = meta.message ?? "";
    const red = arrays.actor ?? arrays.map ?? null;
    const blue = arrays.critic ?? null;
    const shape = (red ?? blue)?.shape ?? [];
    this.last =
      red || blue
        ? {
            meta,
            red: (red?.data as Float32Array) ?? null,
            blue: (blue?.data as Float32Array) ?? null,
            h: shape[0] ?? 0,
            w: shape[1] ?? 0,
          }
        : null;
    this.draw();
    this.el.dataset.slot = String(meta.slot);
  }

  private draw(): void {
    this.clearOverlays();
    const t = this.target;
    const l = this.last;
    if (!t || !l || l.meta.slot !== t.slot) return;
    const pixels = overlayPixels(l.red, l.blue, l.w * l.h, Number(this.opacity.value));
    for (const base of t.canvases) {
      if (base.width !== l.w || base.height !== l.h) continue;
      const over = h("canvas", "brw-saliency-overlay");
      over.width = l.w;
      over.height = l.h;
      over.style.width = base.style.width;
      over.style.height = base.style.height;
      const ctx = over.getContext("2d");
      if (ctx) {
        const img = ctx.createImageData(l.w, l.h);
        img.data.set(pixels);
        ctx.putImageData(img, 0, 0);
      }
      base.parentElement?.append(over);
      over.style.left = `${base.offsetLeft}px`;
      over.style.top = `${base.offsetTop}px`;
      this.overlays.push(over);
    }
  }

  private clearOverlays(): void {
    for (const o of this.overlays) o.remove();
    this.overlays = [];
  }

  destroy(): void {
    this.method.removeEventListener("change", this.onMethod);
    this.opacity.removeEventListener("input", this.onOpacity);
    this.clearOverlays();
  }
}
