/**
 * Interpretability panels under the map, mirroring the `interpret` trait: the skill graph (nodes sized by visits,
 * arrows = hand-over probabilities, click a node to highlight its points), the clustering scores, the calibration
 * scatter (predicted Q against realised return, identity line, binned means, bias), the value trace of one
 * episode, the recurring segments (click to highlight) and the influence of groups of states (run on demand).
 * Requests go to Python as custom messages ({type: "interpret" | "influence", ...}).
 *
 * Each chart shows only once its data exists (no calibration without Q-values, no value trace before an episode is
 * drawn...). The controls and the influence buttons need Python's service to answer them: they show only once the
 * view has seen it publish (`setLive`), never in a saved notebook or an HTML export.
 */
import { CATEGORICAL } from "../colors";
import type { InfluenceGroup, InfluenceRequest, InterpretRequest } from "../messages";
import { fmtInt, fmtNum, h } from "./format";
import { finiteRange, type Interpret, linear, nodeRadius, raggedPart } from "./interpret_data";

const NS = "http://www.w3.org/2000/svg";
const W = 240;
const H = 170;
const PAD = 26;

function svgEl<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function chart(title: string): { box: HTMLDivElement; svg: SVGSVGElement; caption: HTMLDivElement } {
  const box = h("div", "brw-interp-chart");
  const svg = svgEl("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  const caption = h("div", "brw-interp-caption");
  box.append(h("div", "brw-panel-title", title), svg, caption);
  return { box, svg, caption };
}

function axes(svg: SVGSVGElement, xl: string, yl: string): void {
  svg.append(
    svgEl("line", { x1: PAD, y1: H - PAD, x2: W - 6, y2: H - PAD, class: "brw-interp-axis" }),
    svgEl("line", { x1: PAD, y1: 6, x2: PAD, y2: H - PAD, class: "brw-interp-axis" }),
  );
  const tx = svgEl("text", { x: W / 2, y: H - 6, "text-anchor": "middle", class: "brw-interp-label" });
  tx.textContent = xl;
  const ty = svgEl("text", {
    x: 10,
    y: H / 2,
    "text-anchor": "middle",
    class: "brw-interp-label",
    transform: `rotate(-90 10 ${H / 2})`,
  });
  ty.textContent = yl;
  svg.append(tx, ty);
}

export interface InterpretCallbacks {
  /** A skill node was clicked: highlight its points. */
  onSkill(skill: number): void;
  /** A recurring segment was clicked: highlight these slots. */
  onSlots(slots: number[]): void;
  /** Send a request to Python. */
  send(msg: InterpretRequest | InfluenceRequest): void;
}

export class InterpretPanel {
  readonly el: HTMLDivElement;
  private readonly head: HTMLDivElement;
  private readonly message: HTMLDivElement;
  private readonly graph = chart("skill graph");
  private readonly cal = chart("calibration");
  private readonly trace = chart("value trace");
  private readonly timeline = chart("skill timeline");
  private readonly controls: HTMLDivElement;
  private readonly lower: HTMLDivElement;
  private readonly segBox: HTMLDivElement;
  private readonly segments: HTMLOListElement;
  private readonly influence: HTMLDivElement;
  private readonly influenceOut: HTMLDivElement;
  private readonly kSelect: HTMLSelectElement;
  private readonly lastSelect: HTMLSelectElement;
  private readonly episodeInput: HTMLInputElement;
  private readonly listeners: [EventTarget, string, EventListener][] = [];
  private data: Interpret | null = null;
  /** Skill highlighted last (−1: none). */
  selectedSkill = -1;

  constructor(private readonly cb: InterpretCallbacks) {
    this.el = h("div", "brw-interp");
    this.el.hidden = true;
    this.head = h("div", "brw-interp-head");
    this.kSelect = h("select", "brw-interp-k");
    for (const k of [2, 3, 4, 5, 6, 8, 10]) this.kSelect.append(new Option(`${k} skills`, String(k)));
    this.lastSelect = h("select", "brw-interp-last");
    for (const n of [1, 3, 5, 10, 20])
      this.lastSelect.append(new Option(`last ${n} episode${n > 1 ? "s" : ""}`, String(n)));
    this.episodeInput = h("input", "brw-interp-episode");
    this.episodeInput.type = "number";
    this.episodeInput.placeholder = "episode id";
    this.message = h("div", "brw-interp-message");
    this.controls = h("div", "brw-interp-controls");
    this.controls.append(this.kSelect, this.lastSelect, this.episodeInput);
    this.head.append(this.controls, this.message);
    const charts = h("div", "brw-interp-charts");
    charts.append(this.graph.box, this.cal.box, this.trace.box, this.timeline.box);
    this.lower = h("div", "brw-interp-lower");
    this.segBox = h("div", "brw-interp-segments");
    this.segments = h("ol", "brw-interp-segment-list");
    this.segBox.append(h("div", "brw-panel-title", "recurring segments (map regions)"), this.segments);
    this.influence = h("div", "brw-interp-influence");
    const buttons = h("div", "brw-interp-buttons");
    const groups: [InfluenceGroup, string][] = [
      ["td", "TD-error quartiles"],
      ["priority", "priority quartiles"],
      ["selection", "lasso selection"],
      ["skill", "skills"],
    ];
    for (const [group, label] of groups) {
      const b = h("button", "brw-tab", label);
      b.dataset.group = group;
      this.listen(b, "click", () => {
        this.influenceOut.textContent = `measuring the influence of ${label}…`;
        this.cb.send({ type: "influence", group, budget_s: 20 });
      });
      buttons.append(b);
    }
    this.influenceOut = h("div", "brw-interp-influence-out");
    this.influence.append(
      h("div", "brw-panel-title", "influence on the policy (vs random groups)"),
      buttons,
      this.influenceOut,
    );
    this.lower.append(this.segBox, this.influence);
    this.el.append(this.head, charts, this.lower);
    this.setLive(false);
    this.listen(this.kSelect, "change", () => this.cb.send({ type: "interpret", k: Number(this.kSelect.value) }));
    this.listen(this.lastSelect, "change", () =>
      this.cb.send({ type: "interpret", last: Number(this.lastSelect.value) }),
    );
    this.listen(this.episodeInput, "change", () => {
      const v = this.episodeInput.value.trim();
      this.cb.send({ type: "interpret", episode: v === "" ? -1 : Number(v) });
    });
    this.listen(this.segments, "click", (e) => {
      const li = (e.target as HTMLElement | null)?.closest?.("li");
      const i = li ? Number(li.getAttribute("data-index")) : NaN;
      if (Number.isInteger(i) && this.data) {
        this.cb.onSlots(
          Array.from(
            raggedPart(
              this.data.arrays.segment_slots as Uint32Array,
              this.data.arrays.segment_offsets as Uint32Array,
              i,
            ),
          ),
        );
      }
    });
    this.listen(this.graph.svg, "click", (e) => {
      const node = (e.target as Element | null)?.closest?.("[data-skill]");
      const k = node ? Number(node.getAttribute("data-skill")) : NaN;
      if (Number.isInteger(k)) {
        this.selectedSkill = k;
        this.el.dataset.selectedSkill = String(k);
        this.renderGraph();
        this.cb.onSkill(k);
      }
    });
  }

  private listen(target: EventTarget, event: string, fn: EventListener): void {
    target.addEventListener(event, fn);
    this.listeners.push([target, event, fn]);
  }

  /** Python's service answers requests (it published while this view was open): show the controls and buttons. */
  setLive(live: boolean): void {
    this.el.dataset.live = live ? "1" : "0";
    this.controls.hidden = !live;
    this.influence.hidden = !live;
    this.lower.hidden = this.segBox.hidden && this.influence.hidden;
  }

  update(data: Interpret | null): void {
    this.data = data;
    this.el.hidden = data === null;
    if (!data) return;
    const m = data.meta;
    this.el.dataset.refresh = String(m.refresh);
    this.el.dataset.skills = String(m.k);
    this.kSelect.value = String(m.k);
    if (m.episode === null || m.episode === undefined) {
      const v = String(m.last);
      if (!Array.from(this.lastSelect.options).some((o) => o.value === v)) {
        this.lastSelect.append(new Option(`last ${v} episodes`, v));
      }
      this.lastSelect.value = v;
    }
    this.message.textContent = m.message || `${fmtInt(m.n)} transitions`;
    this.graph.box.hidden = !this.renderGraph();
    this.cal.box.hidden = !this.renderCalibration();
    this.trace.box.hidden = !this.renderTrace();
    this.timeline.box.hidden = !this.renderTimeline();
    this.segBox.hidden = !this.renderSegments();
    this.renderInfluence();
    this.lower.hidden = this.segBox.hidden && this.influence.hidden;
  }

  /** Draws the chart; false when there is nothing to draw (the chart is hidden). */
  private renderGraph(): boolean {
    const { svg, caption } = this.graph;
    svg.replaceChildren();
    const d = this.data;
    const centers = d?.arrays.skill_centers;
    const counts = d?.arrays.skill_counts;
    const trans = d?.arrays.skill_transitions;
    if (!d || !centers || !counts || !trans) {
      caption.textContent = "";
      return false;
    }
    const k = counts.length;
    const xs = Array.from({ length: k }, (_, i) => centers[2 * i]!);
    const ys = Array.from({ length: k }, (_, i) => centers[2 * i + 1]!);
    const [x0, x1] = finiteRange(xs);
    const [y0, y1] = finiteRange(ys);
    const fx = linear(x0, x1, 28, W - 28);
    const fy = linear(y0, y1, H - 28, 28);
    let maxCount = 0;
    for (let i = 0; i < k; i++) maxCount = Math.max(maxCount, counts[i]!);
    const defs = svgEl("defs");
    const marker = svgEl("marker", {
      id: "brw-arrow",
      viewBox: "0 0 10 10",
      refX: 9,
      refY: 5,
      markerWidth: 8,
      markerHeight: 8,
      markerUnits: "userSpaceOnUse",
      orient: "auto-start-reverse",
    });
    marker.append(svgEl("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "brw-interp-arrowhead" }));
    defs.append(marker);
    svg.append(defs);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        const p = trans[i * k + j]!;
        if (i === j || !(p >= 0.05)) continue;
        // Offset both directions sideways so i→j and j→i do not overlap.
        const ax = fx(xs[i]!),
          ay = fy(ys[i]!),
          bx = fx(xs[j]!),
          by = fy(ys[j]!);
        const len = Math.hypot(bx - ax, by - ay) || 1;
        const nx = (-(by - ay) / len) * 3,
          ny = ((bx - ax) / len) * 3;
        const ri = nodeRadius(counts[i]!, maxCount),
          rj = nodeRadius(counts[j]!, maxCount);
        const ux = (bx - ax) / len,
          uy = (by - ay) / len;
        const line = svgEl("line", {
          x1: ax + ux * ri + nx,
          y1: ay + uy * ri + ny,
          x2: bx - ux * rj + nx,
          y2: by - uy * rj + ny,
          "stroke-width": 0.5 + 4 * p,
          "stroke-opacity": 0.25 + 0.75 * p,
          class: "brw-interp-edge",
          "marker-end": "url(#brw-arrow)",
        });
        const title = svgEl("title");
        title.textContent = `skill ${i} → ${j}: ${fmtNum(p)}`;
        line.append(title);
        svg.append(line);
      }
    }
    for (let i = 0; i < k; i++) {
      const c = svgEl("circle", {
        cx: fx(xs[i]!),
        cy: fy(ys[i]!),
        r: nodeRadius(counts[i]!, maxCount),
        fill: CATEGORICAL[i % CATEGORICAL.length]!,
        class: i === this.selectedSkill ? "brw-interp-node brw-interp-node-on" : "brw-interp-node",
        "data-skill": i,
      });
      const title = svgEl("title");
      title.textContent = `skill ${i}: ${fmtInt(counts[i])} states (click to highlight)`;
      c.append(title);
      const t = svgEl("text", {
        x: fx(xs[i]!),
        y: fy(ys[i]!) + 4,
        "text-anchor": "middle",
        class: "brw-interp-node-label",
        "data-skill": i,
      });
      t.textContent = String(i);
      svg.append(c, t);
    }
    const s = d.meta.scores ?? {};
    caption.textContent =
      `transition entropy ${fmtNum(s.transition_entropy)} · coherence ${fmtNum(s.coherence)} · ` +
      `explained ${fmtNum(s.explained_variance)}`;
    return true;
  }

  private renderCalibration(): boolean {
    const { svg, caption } = this.cal;
    svg.replaceChildren();
    const d = this.data;
    const c = d?.meta.calibration;
    const p = d?.arrays.cal_predicted;
    const g = d?.arrays.cal_realised;
    this.el.dataset.calibration = String(p?.length ?? 0);
    if (!d || !c || !p || !g) {
      caption.textContent = ""; // without Q-values Python's message says what is missing
      return false;
    }
    axes(svg, "realised return", `predicted ${c.value === "q" ? "Q(s,a)" : "V(s)"}`);
    const [lo, hi] = finiteRange(p, g);
    const fx = linear(lo, hi, PAD, W - 8);
    const fy = linear(lo, hi, H - PAD, 8);
    svg.append(svgEl("line", { x1: fx(lo), y1: fy(lo), x2: fx(hi), y2: fy(hi), class: "brw-interp-identity" }));
    for (let i = 0; i < p.length; i++) {
      if (!Number.isFinite(p[i]!) || !Number.isFinite(g[i]!)) continue;
      svg.append(svgEl("circle", { cx: fx(g[i]!), cy: fy(p[i]!), r: 1.5, class: "brw-interp-dot" }));
    }
    const bp = d.arrays.cal_bin_predicted;
    const bg = d.arrays.cal_bin_realised;
    if (bp && bg && bp.length) {
      const pts = Array.from(bp, (v, i) => `${fx(bg[i]!)},${fy(v)}`).join(" ");
      svg.append(svgEl("polyline", { points: pts, class: "brw-interp-bins" }));
      for (let i = 0; i < bp.length; i++)
        svg.append(svgEl("circle", { cx: fx(bg[i]!), cy: fy(bp[i]!), r: 3, class: "brw-interp-bin" }));
    }
    const bias = c.bias ?? NaN;
    caption.textContent =
      `bias ${bias > 0 ? "+" : ""}${fmtNum(bias)} (${bias > 0 ? "over" : "under"}-estimates) · ` +
      `MAE ${fmtNum(c.mae)} · n=${fmtInt(c.n)}`;
    return true;
  }

  private renderTrace(): boolean {
    const { svg, caption } = this.trace;
    svg.replaceChildren();
    const d = this.data;
    const step = d?.arrays.trace_step;
    if (!d || !step || step.length === 0) {
      caption.textContent = "";
      return false;
    }
    const a = d.arrays;
    axes(svg, "step in episode", "value");
    const [s0, s1] = finiteRange(step);
    const [v0, v1] = finiteRange(a.trace_value, a.trace_q, a.trace_return);
    const fx = linear(s0, s1, PAD, W - 8);
    const fy = linear(v0, v1, H - PAD, 8);
    const [r0, r1] = finiteRange(a.trace_reward);
    const rmax = Math.max(Math.abs(r0), Math.abs(r1)) || 1;
    const reward = a.trace_reward;
    if (reward) {
      for (let i = 0; i < reward.length; i++) {
        if (!reward[i]) continue;
        const hgt = (Math.abs(reward[i]!) / rmax) * 18;
        svg.append(
          svgEl("rect", {
            x: fx(step[i]!) - 1,
            y: H - PAD - hgt,
            width: 2,
            height: hgt,
            class: reward[i]! > 0 ? "brw-interp-reward" : "brw-interp-penalty",
          }),
        );
      }
    }
    for (const [name, cls] of [
      ["trace_value", "brw-interp-v"],
      ["trace_q", "brw-interp-q"],
      ["trace_return", "brw-interp-g"],
    ] as const) {
      const v = a[name];
      if (!v) continue;
      const pts: string[] = [];
      for (let i = 0; i < v.length; i++) if (Number.isFinite(v[i]!)) pts.push(`${fx(step[i]!)},${fy(v[i]!)}`);
      if (pts.length) svg.append(svgEl("polyline", { points: pts.join(" "), class: cls }));
    }
    caption.textContent = `episode ${d.meta.trace_episode}: V (blue), Q(s,a) (orange), return-to-go (dashed), rewards (bars)`;
    return true;
  }

  /** One row per episode drawn on the map: its steps coloured by skill. */
  private renderTimeline(): boolean {
    const { svg, caption } = this.timeline;
    svg.replaceChildren();
    const d = this.data;
    const ids = d?.meta.paths ?? [];
    const skill = d?.arrays.path_skill;
    const off = d?.arrays.path_offsets;
    if (!d || !skill || !off || ids.length === 0) {
      caption.textContent = "";
      return false;
    }
    let longest = 1;
    for (let i = 0; i < ids.length; i++) longest = Math.max(longest, off[i + 1]! - off[i]!);
    const rowH = Math.min(18, (H - PAD) / ids.length);
    const height = Math.ceil(8 + ids.length * rowH); // as tall as its rows, not a fixed chart
    svg.setAttribute("height", String(height));
    svg.setAttribute("viewBox", `0 0 ${W} ${height}`);
    const fx = linear(0, longest, PAD + 20, W - 6);
    for (let i = 0; i < ids.length; i++) {
      const y = 4 + i * rowH;
      const label = svgEl("text", { x: PAD + 16, y: y + rowH * 0.7, "text-anchor": "end", class: "brw-interp-label" });
      label.textContent = String(ids[i]);
      svg.append(label);
      // One rect per run of equal skill (not per step): a long episode stays a handful of elements.
      let start = off[i]!;
      for (let j = off[i]! + 1; j <= off[i + 1]!; j++) {
        if (j < off[i + 1]! && skill[j] === skill[start]) continue;
        const k = skill[start]!;
        const rect = svgEl("rect", {
          x: fx(start - off[i]!),
          y,
          width: Math.max(1, fx(j - off[i]!) - fx(start - off[i]!)),
          height: rowH * 0.8,
          fill: Number.isFinite(k) ? CATEGORICAL[k % CATEGORICAL.length]! : "#ccc",
          class: "brw-interp-run",
          "data-skill": Number.isFinite(k) ? k : -1,
        });
        const title = svgEl("title");
        title.textContent = `episode ${ids[i]}, steps ${start - off[i]!}–${j - 1 - off[i]!}: skill ${k}`;
        rect.append(title);
        svg.append(rect);
        start = j;
      }
    }
    caption.textContent = "episodes on the map (rows), steps coloured by skill";
    return true;
  }

  private renderSegments(): boolean {
    const segs = this.data?.meta.segments ?? [];
    this.segments.replaceChildren(
      ...segs.map((s, i) => {
        const li = h("li", "brw-influential-row", `${s.label} · ×${s.count} in ${s.n_episodes} episodes`);
        li.setAttribute("data-index", String(i));
        return li;
      }),
    );
    return segs.length > 0;
  }

  private renderInfluence(): void {
    const inf = this.data?.meta.influence;
    const a = this.data?.arrays;
    if (!inf || !a || !inf.groups) {
      if (inf?.message) this.influenceOut.textContent = inf.message;
      this.el.dataset.influence = "0";
      return;
    }
    const dq = a.influence_dq,
      dqr = a.influence_dq_random,
      sd = a.influence_dq_random_std;
    const fl = a.influence_flipped,
      flr = a.influence_flipped_random;
    const rows: HTMLElement[] = [];
    const [, top] = finiteRange(dq, dqr);
    for (let i = 0; i < inf.groups.length; i++) {
      const row = h("div", "brw-interp-infl-row");
      const bar = (v: number, cls: string) => {
        const b = h("span", cls);
        b.style.width = `${Math.max(1, (120 * (Number.isFinite(v) ? v : 0)) / (top || 1))}px`;
        return b;
      };
      row.append(
        h("span", "brw-interp-infl-name", `${inf.groups[i]} (${fmtInt(inf.sizes?.[i])})`),
        bar(dq?.[i] ?? NaN, "brw-interp-bar"),
        bar(dqr?.[i] ?? NaN, "brw-interp-bar-random"),
        h(
          "span",
          "brw-interp-infl-text",
          `|ΔQ| ${fmtNum(dq?.[i])} vs ${fmtNum(dqr?.[i])} ± ${fmtNum(sd?.[i])} · ` +
            `flipped ${fmtNum(fl?.[i])} vs ${fmtNum(flr?.[i])}`,
        ),
      );
      rows.push(row);
    }
    const note = h(
      "div",
      "brw-interp-caption",
      `${inf.steps} TD steps on a copy · ${fmtNum(inf.elapsed_s)} s` +
        (inf.complete ? "" : " · budget ran out: some groups missing"),
    );
    this.influenceOut.replaceChildren(...rows, note);
    this.el.dataset.influence = String(inf.groups.length);
  }

  destroy(): void {
    for (const [t, e, fn] of this.listeners) t.removeEventListener(e, fn);
    this.listeners.length = 0;
  }
}
