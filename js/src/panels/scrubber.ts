/**
 * Time scrubber: a range slider over the kept map snapshots' training steps (rightmost = live in a live widget)
 * and a "live" button. Hidden until the history has a snapshot.
 */
import { fmtDuration, type Scrub } from "../history";
import { fmtInt, h } from "./format";

export class Scrubber {
  readonly el: HTMLDivElement;
  readonly input: HTMLInputElement;
  private readonly label: HTMLSpanElement;
  private readonly liveButton: HTMLButtonElement;
  private readonly onInput = (): void => this.onPosition(Number(this.input.value));
  private readonly onLiveClick = (): void => this.onLive();

  constructor(
    private readonly onPosition: (position: number) => void,
    private readonly onLive: () => void,
  ) {
    this.el = h("div", "brw-scrubber");
    this.el.hidden = true;
    const title = h("span", "brw-label", "map at");
    this.input = h("input", "brw-scrubber-range");
    this.input.type = "range";
    this.input.min = "0";
    this.input.step = "1";
    this.input.title = "Training step of the map shown (map history)";
    this.label = h("span", "brw-scrubber-label");
    this.liveButton = h("button", "brw-scrubber-live", "live");
    this.liveButton.type = "button";
    this.liveButton.title = "Show the live map";
    this.el.append(title, this.input, this.label, this.liveButton);
    this.input.addEventListener("input", this.onInput);
    this.liveButton.addEventListener("click", this.onLiveClick);
  }

  render(scrub: Scrub, loading: boolean): void {
    const n = scrub.entries.length;
    this.el.hidden = n === 0;
    this.input.max = String(scrub.max);
    this.input.disabled = scrub.max === 0;
    if (Number(this.input.value) !== scrub.position) this.input.value = String(scrub.position);
    this.liveButton.hidden = !scrub.hasLive;
    this.liveButton.disabled = scrub.live;
    this.el.dataset.live = scrub.live ? "1" : "0";
    const e = scrub.selectedEntry();
    if (!e) {
      this.label.textContent = `live · ${fmtInt(n)} snapshot${n === 1 ? "" : "s"} kept`;
      return;
    }
    const i = scrub.entries.indexOf(e);
    this.label.textContent =
      `step ${fmtInt(e.step)} · ${fmtDuration(e.time)} · ${fmtInt(e.points)} points · ` +
      `snapshot ${i + 1} of ${n}${loading ? " · loading…" : ""}`;
  }

  destroy(): void {
    this.input.removeEventListener("input", this.onInput);
    this.liveButton.removeEventListener("click", this.onLiveClick);
  }
}
