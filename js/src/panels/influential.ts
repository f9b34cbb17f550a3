/**
 * "Influential states": the top-K slots by |TD-error| or priority. Clicking a row selects that slot exactly like
 * a click on the map (the `clicked` trait), so the inspector shows it.
 */
import { fmtInt, fmtNum, h } from "./format";
import { FIELD_LABEL, pickField, type Summary } from "./summary";

export class InfluentialList {
  readonly el: HTMLDivElement;
  private readonly tabs: HTMLDivElement;
  private readonly list: HTMLOListElement;
  private wanted: string | null = null;
  private summary: Summary | null = null;
  /** The field shown now (null when none is available). */
  field: string | null = null;

  constructor(private readonly onPick: (slot: number) => void, private readonly onField: (f: string | null) => void) {
    this.el = h("div", "brw-influential");
    const title = h("div", "brw-panel-title", "influential states");
    this.tabs = h("div", "brw-tabs");
    this.list = h("ol", "brw-influential-list");
    this.el.append(title, this.tabs, this.list);
    this.el.hidden = true;
    this.list.addEventListener("click", this.onClick);
  }

  private readonly onClick = (e: Event): void => {
    const li = (e.target as HTMLElement | null)?.closest?.("li");
    const slot = li ? Number(li.getAttribute("data-slot")) : NaN;
    if (Number.isInteger(slot) && slot >= 0) this.onPick(slot);
  };

  update(summary: Summary | null): void {
    this.summary = summary;
    this.render();
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
    const rows: HTMLLIElement[] = [];
    for (let i = 0; i < top.slots.length; i++) {
      const li = h("li", "brw-influential-row", `slot ${fmtInt(top.slots[i])} · ${fmtNum(top.values[i])}`);
      li.setAttribute("data-slot", String(top.slots[i]));
      rows.push(li);
    }
    this.list.replaceChildren(...rows);
  }

  destroy(): void {
    this.list.removeEventListener("click", this.onClick);
  }
}
