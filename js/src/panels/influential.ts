/**
 * "Influential states": the top-K slots by |TD-error| or priority. Clicking a row selects that slot exactly like
 * a click on the map (the `clicked` trait), so the inspector shows it. Image observations get a thumbnail per row
 * (the `thumbnails` trait), with actor/critic saliency blended over it when the list's toggle is on.
 */
import { fmtInt, fmtNum, h } from "./format";
import { FIELD_LABEL, pickField, type Summary } from "./summary";
import { type Thumbs, thumbPixels } from "./thumbnails";

const THUMB_TARGET_PX = 32; // displayed size of the longer side, in whole CSS pixels per thumbnail pixel

export class InfluentialList {
  readonly el: HTMLDivElement;
  private readonly tabs: HTMLDivElement;
  private readonly list: HTMLOListElement;
  private readonly toggleBox: HTMLLabelElement;
  private readonly toggle: HTMLInputElement;
  private readonly note: HTMLSpanElement;
  private wanted: string | null = null;
  private summary: Summary | null = null;
  private thumbs: Thumbs | null = null;
  /** The field shown now (null when none is available). */
  field: string | null = null;

  constructor(
    private readonly onPick: (slot: number) => void,
    private readonly onField: (f: string | null) => void,
    private readonly onSaliency: (on: boolean) => void = () => {},
  ) {
    this.el = h("div", "brw-influential");
    const title = h("div", "brw-panel-title", "influential states");
    this.tabs = h("div", "brw-tabs");
    this.toggle = h("input", "brw-thumb-saliency");
    this.toggle.type = "checkbox";
    this.toggleBox = h("label", "brw-thumb-toggle");
    this.toggleBox.title = "saliency on the thumbnails: actor red, critic blue (computed in the background)";
    this.toggleBox.append(this.toggle, document.createTextNode(" saliency"));
    this.toggleBox.hidden = true;
    this.note = h("span", "brw-note");
    const head = h("div", "brw-influential-head");
    head.append(this.tabs, this.toggleBox, this.note);
    this.list = h("ol", "brw-influential-list");
    this.el.append(title, head, this.list);
    this.el.hidden = true;
    this.list.addEventListener("click", this.onClick);
    this.toggle.addEventListener("change", this.onToggle);
  }

  private readonly onClick = (e: Event): void => {
    const li = (e.target as HTMLElement | null)?.closest?.("li");
    const slot = li ? Number(li.getAttribute("data-slot")) : NaN;
    if (Number.isInteger(slot) && slot >= 0) this.onPick(slot);
  };

  private readonly onToggle = (): void => {
    this.onSaliency(this.toggle.checked);
    this.render();
  };

  update(summary: Summary | null): void {
    this.summary = summary;
    this.render();
  }

  /** The `thumbnails` trait changed (null: none, e.g. vector observations). */
  updateThumbnails(thumbs: Thumbs | null): void {
    this.thumbs = thumbs;
    const t = thumbs;
    this.toggleBox.hidden = !t || t.saliency === "unavailable";
    if (t && t.saliency !== "unavailable") this.toggle.checked = t.saliency === "on";
    this.note.textContent = t?.message ?? "";
    this.render();
  }

  private thumbCanvas(i: number): HTMLCanvasElement {
    const t = this.thumbs!;
    const c = h("canvas", "brw-thumb");
    c.width = t.width;
    c.height = t.height;
    const scale = Math.max(1, Math.round(THUMB_TARGET_PX / Math.max(t.width, t.height)));
    c.style.width = `${t.width * scale}px`;
    c.style.height = `${t.height * scale}px`;
    const ctx = c.getContext("2d");
    if (ctx) {
      const img = ctx.createImageData(t.width, t.height);
      img.data.set(thumbPixels(t, i, this.toggle.checked));
      ctx.putImageData(img, 0, 0);
    }
    return c;
  }

  private render(): void {
    const s = this.summary;
    this.field = pickField(s, this.wanted);
    this.onField(this.field);
    this.el.hidden = this.field === null;
    if (!s || this.field === null) return;
    this.tabs.replaceChildren(
      ...s.fields.map((f) => {
        const b = h("button", f === this.field ? "brw-tab brw-tab-on" : "brw-tab", FIELD_LABEL[f] ?? f);
        b.addEventListener("click", () => {
          this.wanted = f;
          this.render();
        });
        return b;
      }),
    );
    const top = s.byField.get(this.field)!;
    const t = this.thumbs;
    const rows: HTMLLIElement[] = [];
    for (let i = 0; i < top.slots.length; i++) {
      const slot = top.slots[i]!;
      const li = h("li", "brw-influential-row");
      li.setAttribute("data-slot", String(slot));
      const k = t?.bySlot.get(slot);
      if (t && k !== undefined) {
        li.append(this.thumbCanvas(k));
        li.dataset.thumb = "1";
        li.dataset.saliency = this.toggle.checked && t.hasSaliency?.[k] === 1 ? "1" : "0";
      }
      li.append(h("span", "brw-influential-text", `slot ${fmtInt(slot)} · ${fmtNum(top.values[i])}`));
      rows.push(li);
    }
    this.list.replaceChildren(...rows);
  }

  destroy(): void {
    this.list.removeEventListener("click", this.onClick);
    this.toggle.removeEventListener("change", this.onToggle);
  }
}
