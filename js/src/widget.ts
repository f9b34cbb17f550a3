/**
 * anywidget entry point (anywidget >= 0.9 `render` returning a cleanup).
 *
 * Traits (docs/protocol.md): keyframe, inspection, status, gauge, summary,
 * thumbnails, saliency (Py → JS), color_by (both), clicked, selection_bytes
 * (JS → Py). Custom messages: {type: "delta"} + one BRW1 buffer (Py → JS),
 * {type: "request_keyframe", seq}, {type: "saliency", slot, method},
 * {type: "thumbnail_saliency", on} (JS → Py).
 *
 * The root element `.brw-root` carries data attributes kept current for
 * tests: data-points, data-seq, data-clicked, data-inspected, data-selected,
 * data-selected-python, data-keyframe-requests, data-history (snapshots kept),
 * data-scrubbed (1 while a snapshot is shown), data-shown-step; and a `__brw`
 * test hook.
 *
 * Time scrubber (docs/protocol.md, "Map history"): `history_index` lists the
 * kept snapshots; {type: "request_snapshot", id} (JS → Py) is answered by
 * {type: "snapshot", id} + one BRW1 buffer. While a snapshot is shown, live
 * frames keep updating `state` but are not drawn; `view()` is what is drawn.
 */
import type { AnyModel, RenderProps } from "@anywidget/types";
import { decode } from "./codec";
import { CATEGORICAL, parseCssColor } from "./colors";
import { type LoadedSnapshot, parseHistoryIndex, Scrub, SnapshotLoader } from "./history";
import { fmtInt, h } from "./panels/format";
import { Gauge, type GaugeTrait } from "./panels/gauge";
import { EmptyHint } from "./panels/hint";
import { PriorityHistogram } from "./panels/histogram";
import { InfluentialList } from "./panels/influential";
import { Inspector } from "./panels/inspector";
import { InterpretPanel } from "./panels/interpret";
import { parseInterpret, raggedPart, slotsWithValue } from "./panels/interpret_data";
import { PathOverlay } from "./panels/paths";
import { SaliencyPanel } from "./panels/saliency";
import { Scrubber } from "./panels/scrubber";
import { StatusLine, type StatusTrait } from "./panels/status";
import { parseSummary } from "./panels/summary";
import { parseThumbnails } from "./panels/thumbnails";
import { Toolbar } from "./panels/toolbar";
import { Tooltip } from "./panels/tooltip";
import { receiveDelta, receiveKeyframe } from "./receive";
import { Scatter } from "./scatter";
import { PointState } from "./state";

type Bytes = DataView | ArrayBuffer | ArrayBufferView | null | undefined;

export interface WidgetTraits {
  keyframe: Bytes;
  inspection: Bytes;
  saliency: Bytes;
  status: StatusTrait;
  gauge: GaugeTrait;
  color_by: string;
  clicked: number;
  selection_bytes: DataView;
  history_index: Bytes;
  [key: string]: unknown;
}

export interface BrwTestHook {
  /** CSS pixels relative to the canvas, or null when the slot is not drawn. */
  screenPositionOfSlot(slot: number): [number, number] | null;
  /** Slots of the drawn points, in draw order. */
  slots(): number[];
  /** Slots currently selected in the view. */
  selectedSlots(): number[];
  /** True when no redraw is scheduled or in flight. */
  idle(): boolean;
  /** Data coordinates [x, y] of `slot` in the map drawn now (live or a scrubbed snapshot), or null. */
  shownCoords(slot: number): [number, number] | null;
}

export const PLOT_HEIGHT = 420;

function isBytes(v: unknown): v is DataView | ArrayBuffer | ArrayBufferView {
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function render({ model, el }: Pick<RenderProps<WidgetTraits>, "model" | "el">): () => void {
  const m = model as AnyModel<WidgetTraits>;
  const state = new PointState();
  let destroyed = false;
  let rafId: number | null = null;
  let dirty = false;
  let keyframeRequests = 0;
  let lastClicked = -1;
  let sentSelection = 0;
  // Map history: what is drawn is `shown` (the live `state`, or a snapshot picked with the scrubber).
  const scrub = new Scrub(true);
  let shown: PointState = state;
  let shownSnapshot: LoadedSnapshot | null = null;
  let liveFramesNotDrawn = 0;
  const view = (): PointState => shown;
  const loader = new SnapshotLoader((id) => m.send({ type: "request_snapshot", id }));

  // ------------------------------------------------------------------ DOM
  const root = h("div", "brw-root");
  root.tabIndex = -1;
  const toolbar = new Toolbar((channel) => {
    m.set("color_by", channel);
    m.save_changes();
    scheduleRedraw();
  });
  const plotBox = h("div", "brw-plot");
  plotBox.style.height = `${PLOT_HEIGHT}px`;
  const canvas = h("canvas", "brw-canvas");
  const hint = new EmptyHint();
  const tooltip = new Tooltip();
  const paths = new PathOverlay();
  plotBox.append(canvas, paths.canvas, hint.el, tooltip.el);
  const gauge = new Gauge();
  const status = new StatusLine();
  const inspector = new Inspector();
  const footer = h("div", "brw-footer");
  footer.append(gauge.el, status.el);
  // Priority histogram + influential states (summary trait); a list click acts exactly like a map click.
  const histogram = new PriorityHistogram();
  const influential = new InfluentialList(
    (slot) => {
      lastClicked = slot;
      showLocalRow(slot);
      setData("clicked", slot);
      m.set("clicked", slot);
      m.save_changes();
    },
    (field) => histogram.update(field, field ? (summaryNow?.byField.get(field) ?? null) : null),
    (on) => m.send({ type: "thumbnail_saliency", on }),
  );
  let summaryNow: ReturnType<typeof parseSummary> = null;
  const summaryRow = h("div", "brw-summary");
  summaryRow.append(histogram.el, influential.el);
  const saliency = new SaliencyPanel((slot, method) => m.send({ type: "saliency", slot, method }));
  // Skills, calibration, value trace, segments, influence (interpret trait; widget.enable_interpret).
  const highlight = (slots: number[]): void => {
    const sel = scatter.selectSlots(slots);
    sentSelection = sel.length;
    setData("selected", sel.length);
    m.set("selection_bytes", new DataView(Uint32Array.from(sel).buffer));
    m.save_changes();
  };
  const interpret = new InterpretPanel({
    onSkill: (k) => {
      const v = view(); // the map shown: live, or a scrubbed snapshot
      highlight(slotsWithValue(v.slots.subarray(0, v.n), v.column("skill"), k));
    },
    onSlots: highlight,
    send: (msg) => m.send(msg),
  });
  const scrubber = new Scrubber(
    (position) => scrubTo(position),
    () => scrubTo(Infinity),
  );
  root.append(toolbar.el, plotBox, scrubber.el, footer, summaryRow, interpret.el, inspector.el, saliency.el);
  el.append(root);

  const setData = (key: string, value: number): void => {
    root.dataset[key] = String(value);
  };
  setData("points", 0);
  setData("seq", state.seq);
  setData("clicked", -1);
  setData("inspected", -1);
  setData("selected", 0);
  setData("selectedPython", 0);
  setData("keyframeRequests", 0);
  setData("history", 0);
  setData("scrubbed", 0);
  setData("shownStep", -1);

  // ------------------------------------------------------------ scatter
  const theme = (): { bg: [number, number, number, number]; dark: boolean } => {
    const css = el.isConnected ? getComputedStyle(plotBox).backgroundColor : "";
    const c = parseCssColor(css);
    if (!c || c[3] === 0) return { bg: [1, 1, 1, 1], dark: false };
    const lum = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    return { bg: [c[0], c[1], c[2], 1], dark: lum < 0.5 };
  };
  const t0 = theme();
  const scatter = new Scatter({
    canvas,
    width: plotBox.clientWidth || el.clientWidth || 640,
    height: PLOT_HEIGHT,
    background: t0.bg,
    dark: t0.dark,
    onClick(slot) {
      lastClicked = slot;
      showLocalRow(slot);
      setData("clicked", slot);
      m.set("clicked", slot);
      m.save_changes();
    },
    onLasso(slots) {
      sentSelection = slots.length;
      setData("selected", slots.length);
      m.set("selection_bytes", new DataView(Uint32Array.from(slots).buffer));
      m.save_changes();
    },
    onHover(slot) {
      tooltip.show(view(), slot, slot === null ? null : scatter.screenPositionOfSlot(slot));
    },
    onView() {
      drawPaths();
    },
    onDeselect() {
      let changed = false;
      if (lastClicked !== -1) {
        lastClicked = -1;
        setData("clicked", -1);
        m.set("clicked", -1);
        changed = true;
      }
      if (sentSelection !== 0) {
        sentSelection = 0;
        setData("selected", 0);
        m.set("selection_bytes", new DataView(new ArrayBuffer(0)));
        changed = true;
      }
      if (changed) m.save_changes();
    },
  });

  let lastWidth = -1;
  const ro = new ResizeObserver((entries) => {
    const w = Math.round(entries[entries.length - 1]?.contentRect.width ?? 0);
    if (w > 0 && w !== lastWidth) {
      if (lastWidth < 0) {
        // First time attached to the page: pick up the theme (JupyterLab dark/light).
        const t = theme();
        scatter.setTheme(t.bg, t.dark);
      }
      lastWidth = w;
      scatter.setSize(w, PLOT_HEIGHT);
      drawPaths();
    }
  });
  ro.observe(plotBox);

  // Keep presses on the map away from the notebook: JupyterLab treats a shift-press on an output as
  // "extend the cell selection" and then swallows mousemove in capture phase, which kills the lasso.
  // regl-scatterplot listens for mousedown on the canvas itself and for move/up on window, so stopping
  // the bubble here costs it nothing.
  const keepPress = (e: Event): void => e.stopPropagation();
  plotBox.addEventListener("mousedown", keepPress);
  plotBox.addEventListener("pointerdown", keepPress);

  // ------------------------------------------------------------- redraw
  function currentColorBy(): string {
    const v = m.get("color_by");
    return typeof v === "string" && v ? v : "age";
  }

  function scheduleRedraw(): void {
    dirty = true;
    if (rafId === null && !destroyed) rafId = requestAnimationFrame(redraw);
  }

  function redraw(): void {
    rafId = null;
    if (destroyed || !dirty) return;
    if (scatter.busy) return; // the in-flight draw reschedules when it ends
    dirty = false;
    const channel = currentColorBy();
    const drawnState = view();
    toolbar.setChannels(drawnState.colorChannels(), channel);
    const colors = drawnState.colorValues(channel, CATEGORICAL.length);
    scatter
      .draw(drawnState, colors)
      .then((drawn) => {
        if (destroyed || drawn === null) return;
        setData("points", drawn);
        hint.update(drawn);
        toolbar.setLegend(drawn > 0 ? colors : null);
        setData("shownStep", shownSnapshot ? shownSnapshot.step : -1);
        inspector.refresh(state);
        drawPaths();
      })
      .catch((err: unknown) => {
        console.error("better_rl_widget: draw failed", err);
        status.setLocalError(`draw failed: ${errorText(err)}`);
      })
      .finally(() => {
        if (dirty && !destroyed) {
          dirty = false;
          scheduleRedraw();
        }
      });
  }

  // ------------------------------------------------------------- frames
  /** A message from Python that does not follow the protocol: logged and shown, the view goes on. */
  function refuse(what: string, err: unknown): void {
    console.warn(`better_rl_widget: bad ${what}`, err);
    status.setLocalError(`bad ${what}: ${errorText(err)}`);
  }

  function loadKeyframe(): void {
    const got = receiveKeyframe(state, m.get("keyframe")); // logs its own refusals
    if (got.error) status.setLocalError(got.error);
    if (!got.applied) return;
    setData("seq", state.seq);
    status.setLocalError(null);
    liveChanged();
  }

  let lastRequest = -Infinity;
  function requestKeyframe(): void {
    lastRequest = performance.now();
    keyframeRequests++;
    setData("keyframeRequests", keyframeRequests);
    m.send({ type: "request_keyframe", seq: state.seq });
  }

  // Python's status carries its current seq. A view behind it with no delta coming (opened after the deltas were
  // sent while the stream is idle, or one lost) asks for a keyframe, at most every 2 s.
  let behindSince: number | null = null;
  function checkBehind(pythonSeq: number): void {
    if (!(pythonSeq > state.seq)) {
      behindSince = null;
      return;
    }
    const now = performance.now();
    behindSince ??= now;
    if (now - behindSince > 500 && now - lastRequest > 2000) requestKeyframe();
  }

  function onCustom(msg: unknown, buffers: unknown): void {
    const type = msg && typeof msg === "object" ? (msg as { type?: unknown }).type : undefined;
    if (type === "snapshot") {
      onSnapshot(msg as { id?: unknown }, buffers);
    } else if (type === "delta") {
      const got = receiveDelta(state, buffers); // logs its own refusals
      if (got.error) status.setLocalError(got.error);
      if (got.requestKeyframe) requestKeyframe();
      if (got.applied) {
        setData("seq", state.seq);
        liveChanged();
      }
    } else {
      console.warn("better_rl_widget: ignored a message of unknown type", msg);
    }
  }

  // ------------------------------------------------------- map history
  function liveChanged(): void {
    if (shown === state) {
      scheduleRedraw();
    } else {
      liveFramesNotDrawn++;
      scrubNote();
    }
  }

  function scrubNote(): void {
    if (!shownSnapshot || !scrub.hasLive) {
      status.setNote(null);
      return;
    }
    const missed = liveFramesNotDrawn
      ? ` (${fmtInt(liveFramesNotDrawn)} live frame${liveFramesNotDrawn === 1 ? "" : "s"} since)`
      : "";
    status.setNote(
      `showing the map at step ${fmtInt(shownSnapshot.step)}: live updates arrive but are not drawn${missed} · press live to return ·`,
    );
  }

  function renderScrubber(): void {
    scrubber.render(scrub, scrub.selectedId !== null && shownSnapshot?.id !== scrub.selectedId);
    setData("scrubbed", shown === state ? 0 : 1);
  }

  function show(snap: LoadedSnapshot | null): void {
    shown = snap ? snap.state : state;
    shownSnapshot = snap;
    liveFramesNotDrawn = 0;
    scrubNote();
    renderScrubber();
    onGauge();
    scheduleRedraw();
  }

  function scrubTo(position: number): void {
    const id = scrub.select(position);
    if (id === null) {
      show(null);
      return;
    }
    const got = loader.want(id);
    if (got) show(got);
    else renderScrubber();
  }

  function onSnapshot(msg: { id?: unknown; missing?: unknown }, buffers: unknown): void {
    const id = Number(msg.id);
    const buf = Array.isArray(buffers) ? (buffers[0] as unknown) : undefined;
    try {
      const got = loader.receive(id, msg.missing || !isBytes(buf) ? null : buf);
      if (got && got.id === scrub.selectedId) show(got);
      else if (scrub.selectedId !== null && scrub.selectedId !== shownSnapshot?.id && loader.inFlight === null) {
        const again = loader.want(scrub.selectedId); // e.g. answered from the cache after a newer wish
        if (again) show(again);
      }
    } catch (err) {
      refuse("snapshot", err);
    }
  }

  function onHistoryIndex(): void {
    try {
      const index = parseHistoryIndex(m.get("history_index"));
      setData("history", index.entries.length);
      if (scrub.setEntries(index.entries)) scrubTo(scrub.position);
      else renderScrubber();
    } catch (err) {
      refuse("history index", err);
    }
  }

  /** A click on a scrubbed map (or a replay) shows the snapshot's own row of that slot at once. */
  function showLocalRow(slot: number): void {
    if (shown === state || !shownSnapshot) return;
    inspector.showRow(shown, slot, `map at step ${fmtInt(shownSnapshot.step)}`);
    setData("inspected", inspector.slot);
  }

  // ------------------------------------------------------------- traits
  function onInspection(): void {
    const blob = m.get("inspection");
    try {
      if (inspector.localRow && isBytes(blob) && blob.byteLength > 0) {
        // Python answers from the buffer as it is now: use that answer only if it is the same transition.
        const meta = decode<{ slot?: number; step?: number }>(blob).meta;
        if (meta.slot !== inspector.localRow.slot || meta.step !== inspector.localRow.step) return;
      }
      inspector.update(isBytes(blob) ? blob : null, state);
    } catch (err) {
      refuse("inspection", err);
    }
    setData("inspected", inspector.slot);
    saliency.setTarget(inspector.slot, inspector.imageCanvases());
  }

  function onSaliency(): void {
    const blob = m.get("saliency");
    try {
      saliency.update(isBytes(blob) ? blob : null);
    } catch (err) {
      refuse("saliency", err);
    }
    setData("saliency", Number(saliency.el.dataset.slot ?? -1));
  }

  function onStatus(): void {
    const s = m.get("status");
    status.update(s);
    const replay = !!(s && typeof s === "object" && (s as { replay?: unknown }).replay);
    if (scrub.hasLive === replay) {
      scrub.hasLive = !replay; // a replay has no live map: the scrubber always shows a snapshot
      if (scrub.setEntries(scrub.entries)) scrubTo(scrub.position);
      else renderScrubber();
    }
    const sel = s && typeof s === "object" ? (s as StatusTrait).selected : undefined;
    const seq = s && typeof s === "object" ? Number((s as { seq?: unknown }).seq) : NaN;
    if (Number.isFinite(seq)) checkBehind(seq);
    setData("selectedPython", Array.isArray(sel) ? sel.length : Number(sel ?? 0) || 0);
  }

  function onGauge(): void {
    const g = m.get("gauge");
    // A snapshot shows its own size; rates belong to the live buffer.
    gauge.update(shownSnapshot && g && typeof g === "object" ? { ...g, size: shown.n, inserts_per_s: NaN } : g);
  }

  function onSummary(): void {
    try {
      summaryNow = parseSummary(m.get("summary") as DataView | null);
      influential.update(summaryNow);
    } catch (err) {
      refuse("summary", err);
    }
  }

  function drawPaths(): void {
    if (destroyed || (paths.count === 0 && paths.drawn === 0)) return;
    // A scrubbed snapshot holds older transitions in the same slots: the live episodes' paths would lie there.
    const n = paths.draw(plotBox.clientWidth || lastWidth, PLOT_HEIGHT, (slots) =>
      shownSnapshot ? null : scatter.screenPositions(slots),
    );
    setData("paths", n);
  }

  function onInterpret(): void {
    try {
      const data = parseInterpret(m.get("interpret") as DataView | null);
      interpret.update(data);
      const a = data?.arrays;
      const nPaths = data?.meta.paths?.length ?? 0;
      paths.setPaths(
        Array.from({ length: nPaths }, (_, i) =>
          raggedPart(a?.path_slots as Uint32Array, a?.path_offsets as Uint32Array, i),
        ),
      );
      drawPaths();
    } catch (err) {
      refuse("interpret data", err);
    }
  }

  function onThumbnails(): void {
    try {
      influential.updateThumbnails(parseThumbnails(m.get("thumbnails") as DataView | null));
    } catch (err) {
      refuse("thumbnails", err);
    }
  }

  function onColorBy(): void {
    toolbar.setChannels(view().colorChannels(), currentColorBy());
    scheduleRedraw();
  }

  const handlers: [string, (...args: never[]) => void][] = [
    ["change:keyframe", loadKeyframe],
    ["msg:custom", onCustom],
    ["change:inspection", onInspection],
    ["change:saliency", onSaliency],
    ["change:status", onStatus],
    ["change:gauge", onGauge],
    ["change:color_by", onColorBy],
    ["change:summary", onSummary],
    ["change:interpret", onInterpret],
    ["change:thumbnails", onThumbnails],
    ["change:history_index", onHistoryIndex],
  ];
  for (const [event, handler] of handlers) m.on(event, handler as (...args: unknown[]) => void);

  loadKeyframe();
  onInspection();
  onStatus();
  // A view that opens late holds whatever keyframe the trait had; ask once for the current state.
  requestKeyframe();
  onGauge();
  onSummary();
  onInterpret();
  onThumbnails();
  onHistoryIndex();
  toolbar.setChannels(state.colorChannels(), currentColorBy());
  hint.update(0);
  scheduleRedraw();

  const hook: BrwTestHook = {
    screenPositionOfSlot: (slot) => scatter.screenPositionOfSlot(slot),
    slots: () => scatter.slots(),
    selectedSlots: () => scatter.selectedSlots(),
    idle: () => rafId === null && !scatter.busy && !dirty,
    shownCoords: (slot) => {
      const v = view();
      const i = v.indexOfSlot(slot);
      return i < 0 ? null : [v.x[i]!, v.y[i]!];
    },
  };
  (root as HTMLElement & { __brw?: BrwTestHook }).__brw = hook;

  return () => {
    if (destroyed) return;
    destroyed = true;
    if (rafId !== null) cancelAnimationFrame(rafId);
    rafId = null;
    for (const [event, handler] of handlers) m.off(event, handler as (...args: unknown[]) => void);
    ro.disconnect();
    plotBox.removeEventListener("mousedown", keepPress);
    plotBox.removeEventListener("pointerdown", keepPress);
    toolbar.destroy();
    saliency.destroy();
    influential.destroy();
    interpret.destroy();
    scrubber.destroy();
    scatter.destroy();
    delete (root as HTMLElement & { __brw?: BrwTestHook }).__brw;
    root.remove();
  };
}

export default { render };
