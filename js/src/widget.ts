/**
 * anywidget entry point (anywidget >= 0.9 `render` returning a cleanup). `render` only wires the pieces together:
 * - traits.ts: the synced traits; messages.ts: every custom message, both ways (docs/protocol.md);
 * - receive.ts: frames from Python into the live `PointState` (state.ts), and when to ask for a keyframe;
 * - live_or_scrubbed.ts: whether the live map or a snapshot picked with the time scrubber is drawn (history.ts);
 * - picks.ts: clicks and selections from every source; redraw.ts: one redraw per animation frame;
 * - scatter.ts: the point cloud (regl-scatterplot); panels/: one panel per trait, each shown once its data exists.
 *
 * The root element `.brw-root` carries data attributes kept current for tests: data-points, data-seq, data-clicked,
 * data-inspected, data-selected, data-selected-python, data-keyframe-requests, data-history (snapshots kept),
 * data-scrubbed (1 while a snapshot is shown), data-shown-step, data-paths, data-saliency, data-window-points (points
 * of the clicked window highlighted, windows map mode; -1: none); and a `__brw` test hook.
 */
import type { AnyModel, RenderProps } from "@anywidget/types";
import { backgroundTheme, CATEGORICAL } from "./colors";
import { parseHistoryIndex } from "./history";
import { LiveOrScrubbed } from "./live_or_scrubbed";
import { type PythonMessage, parsePythonMessage, type ViewMessage } from "./messages";
import { ChurnPanel } from "./panels/churn";
import { fmtInt, h } from "./panels/format";
import { Gauge } from "./panels/gauge";
import { EmptyHint } from "./panels/hint";
import { PriorityHistogram, ReplayHistograms } from "./panels/histogram";
import { InfluentialList } from "./panels/influential";
import { Inspector } from "./panels/inspector";
import { InterpretPanel } from "./panels/interpret";
import { parseInterpret, raggedPart, slotsWithValue } from "./panels/interpret_data";
import { PathOverlay } from "./panels/paths";
import { SaliencyPanel } from "./panels/saliency";
import { Scrubber } from "./panels/scrubber";
import { StatusLine, type StatusTrait } from "./panels/status";
import { parseSummary, replayLine, type Summary } from "./panels/summary";
import { parseThumbnails } from "./panels/thumbnails";
import { type MapModeInfo, Toolbar } from "./panels/toolbar";
import { Tooltip } from "./panels/tooltip";
import { Picks } from "./picks";
import { KeyframeRequests, receiveDelta, receiveKeyframe } from "./receive";
import { RedrawLoop } from "./redraw";
import { Scatter } from "./scatter";
import { PointState } from "./state";
import { isBytes, nonEmptyBytes, type WidgetTraits } from "./traits";

export type { WidgetTraits } from "./traits";

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

const INITIAL_DATA = {
  points: 0,
  clicked: -1,
  inspected: -1,
  selected: 0,
  selectedPython: 0,
  keyframeRequests: 0,
  windowPoints: -1,
  history: 0,
  scrubbed: 0,
  shownStep: -1,
};

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function render({ model, el }: Pick<RenderProps<WidgetTraits>, "model" | "el">): () => void {
  const m: AnyModel<WidgetTraits> = model;
  const send = (msg: ViewMessage): void => m.send(msg);
  const state = new PointState();
  let destroyed = false;

  // ----------------------------------------------------------------------------------------- panels
  const root = h("div", "brw-root");
  root.tabIndex = -1;
  const setData = (key: string, value: number): void => {
    root.dataset[key] = String(value);
  };
  for (const [key, value] of Object.entries(INITIAL_DATA)) setData(key, value);
  setData("seq", state.seq);
  const toolbar = new Toolbar(
    (channel) => {
      m.set("color_by", channel);
      m.save_changes();
      loop.request();
    },
    (mode, k) => {
      // Python's hook rebuilds the projection; the new coordinates arrive as deltas.
      m.set("map_mode", mode);
      m.set("window_k", k);
      m.save_changes();
    },
  );
  const plotBox = h("div", "brw-plot");
  plotBox.style.height = `${PLOT_HEIGHT}px`;
  const canvas = h("canvas", "brw-canvas");
  const hint = new EmptyHint();
  const tooltip = new Tooltip();
  const paths = new PathOverlay();
  plotBox.append(canvas, paths.canvas, hint.el, tooltip.el);
  const scrubber = new Scrubber(
    (position) => view.scrubTo(position),
    () => view.scrubTo(Number.POSITIVE_INFINITY),
  );
  const gauge = new Gauge();
  const status = new StatusLine();
  const footer = h("div", "brw-footer");
  footer.append(gauge.el, status.el);
  // Priority histogram + influential states (summary trait); a click on the list acts exactly like one on the map.
  let summary: Summary | null = null;
  const histogram = new PriorityHistogram();
  const influential = new InfluentialList(
    (slot) => picks.click(slot),
    (field) => {
      histogram.update(field, field ? (summary?.byField.get(field) ?? null) : null);
      summaryRow.hidden = histogram.el.hidden && influential.el.hidden && replayHists.el.hidden;
    },
    (on) => send({ type: "thumbnail_saliency", on }),
  );
  const replayHists = new ReplayHistograms(); // replay counts beside priorities (summary.replays)
  const summaryRow = h("div", "brw-summary");
  summaryRow.append(histogram.el, influential.el, replayHists.el);
  summaryRow.hidden = true;
  const churn = new ChurnPanel(); // status.churn: hidden until Python reports policy churn
  // Skills, calibration, value trace, segments, influence (interpret trait; widget.enable_interpret).
  const interpret = new InterpretPanel({
    onSkill: (k) => {
      const v = view.shown; // the map drawn: live, or a scrubbed snapshot
      highlight(slotsWithValue(v.slots.subarray(0, v.n), v.column("skill"), k));
    },
    onSlots: (slots) => highlight(slots),
    send,
  });
  const inspector = new Inspector();
  const saliency = new SaliencyPanel((slot, method) => send({ type: "saliency", slot, method }));
  root.append(toolbar.el, plotBox, scrubber.el, footer, summaryRow, churn.el, interpret.el, inspector.el, saliency.el);
  el.append(root);

  // ----------------------------------------------------------------------------------------- map
  const theme = () => backgroundTheme(el.isConnected ? getComputedStyle(plotBox).backgroundColor : "");
  const t0 = theme();
  const scatter = new Scatter({
    canvas,
    width: plotBox.clientWidth || el.clientWidth || 640,
    height: PLOT_HEIGHT,
    background: t0.bg,
    dark: t0.dark,
    onClick: (slot) => picks.click(slot),
    onLasso: (slots) => picks.select(slots),
    onHover: (slot) => tooltip.show(view.shown, slot, slot === null ? null : scatter.screenPositionOfSlot(slot)),
    onView: () => drawPaths(),
    onDeselect: () => picks.clear(),
  });

  const picks = new Picks(
    {
      setClicked: (point) => {
        setData("clicked", point);
        m.set("clicked", point);
      },
      setSelection: (points) => {
        setData("selected", points.length);
        m.set("selection_bytes", new DataView(Uint32Array.from(points).buffer));
      },
      save: () => m.save_changes(),
    },
    (point) => showLocalRow(point),
  );
  const highlight = (slots: readonly number[]): void => picks.select(scatter.selectSlots(slots));

  const view = new LiveOrScrubbed(state, {
    shownChanged: () => {
      status.setNote(view.note());
      renderScrubber();
      onGauge();
      loop.request();
    },
    scrubberChanged: () => renderScrubber(),
    requestSnapshot: (id) => send({ type: "request_snapshot", id }),
  });

  const loop = new RedrawLoop(async () => {
    const channel = colorBy();
    const shown = view.shown;
    toolbar.setChannels(shown.colorChannels(), channel);
    const colors = shown.colorValues(channel, CATEGORICAL.length);
    try {
      const drawn = await scatter.draw(shown, colors);
      if (destroyed || drawn === null) return;
      setData("points", drawn);
      hint.update(drawn);
      toolbar.setLegend(drawn > 0 ? colors : null);
      setData("shownStep", view.snapshot ? view.snapshot.step : -1);
      inspector.refresh(state);
      drawPaths();
    } catch (err) {
      console.error("better_rl_widget: draw failed", err);
      status.setLocalError(`draw failed: ${errorText(err)}`);
    }
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

  function colorBy(): string {
    const v = m.get("color_by");
    return typeof v === "string" && v ? v : "age";
  }

  function renderScrubber(): void {
    scrubber.render(view.scrub, view.loading);
    setData("scrubbed", view.isLive ? 0 : 1);
  }

  /** A click on a scrubbed map (or a replay) shows the snapshot's own row of that slot at once. */
  function showLocalRow(slot: number): void {
    const snap = view.snapshot;
    if (!snap) return;
    inspector.showRow(snap.state, slot, `map at step ${fmtInt(snap.step)}`);
    setData("inspected", inspector.slot);
  }

  function drawPaths(): void {
    if (destroyed || (paths.count === 0 && paths.drawn === 0)) return;
    // A scrubbed snapshot holds older transitions in the same slots: the live episodes' paths would lie there.
    const n = paths.draw(plotBox.clientWidth || lastWidth, PLOT_HEIGHT, (slots) =>
      view.isLive ? scatter.screenPositions(slots) : null,
    );
    setData("paths", n);
  }

  // ----------------------------------------------------------------------------------------- from Python
  /** Something from Python that does not follow the protocol: logged and shown, the view goes on. */
  function refuse(what: string, err: unknown): void {
    console.warn(`better_rl_widget: bad ${what}`, err);
    status.setLocalError(`bad ${what}: ${errorText(err)}`);
  }

  function guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      refuse(what, err);
    }
  }

  const keyframes = new KeyframeRequests(() => {
    setData("keyframeRequests", keyframes.count);
    send({ type: "request_keyframe", seq: state.seq });
  });

  function liveFrame(): void {
    setData("seq", state.seq);
    if (view.liveFrame()) loop.request();
    else status.setNote(view.note());
  }

  function onKeyframe(): void {
    const got = receiveKeyframe(state, m.get("keyframe")); // logs its own refusals
    if (got.error) status.setLocalError(got.error);
    if (!got.applied) return;
    status.setLocalError(null);
    liveFrame();
  }

  function onMessage(content: unknown, buffers: unknown): void {
    let msg: PythonMessage;
    try {
      msg = parsePythonMessage(content);
    } catch (err) {
      console.warn("better_rl_widget: ignored a message", err);
      return;
    }
    if (msg.type === "delta") {
      const got = receiveDelta(state, buffers); // logs its own refusals
      if (got.error) status.setLocalError(got.error);
      if (got.requestKeyframe) keyframes.request();
      if (got.applied) liveFrame();
    } else {
      const blob = Array.isArray(buffers) && isBytes(buffers[0]) ? buffers[0] : null;
      guard("snapshot", () => view.receive(msg, blob));
    }
  }

  function onInspection(): void {
    const blob = m.get("inspection");
    try {
      if (!inspector.answer(isBytes(blob) ? blob : null, state)) return;
    } catch (err) {
      refuse("inspection", err);
    }
    setData("inspected", inspector.slot);
    saliency.setTarget(inspector.slot, inspector.imageCanvases());
    // A clicked window (windows map mode): its states stay highlighted (a selection), in every map mode.
    const win = inspector.windowPoints;
    setData("windowPoints", win ? win.length : -1);
    if (win?.length) highlight(win);
  }

  function onSaliency(): void {
    const blob = m.get("saliency");
    guard("saliency", () => saliency.update(isBytes(blob) ? blob : null));
    setData("saliency", Number(saliency.el.dataset.slot ?? -1));
  }

  function onStatus(): void {
    const raw = m.get("status");
    const s: StatusTrait = raw && typeof raw === "object" ? raw : {};
    status.update(s);
    guard("churn trace", () => churn.update((s as { churn?: unknown }).churn));
    toolbar.setMapModeApplied((s as { map_mode?: MapModeInfo }).map_mode);
    view.setReplay(!!s.replay);
    const seq = Number(s.seq);
    if (Number.isFinite(seq)) keyframes.pythonSeq(seq, state.seq);
    setData("selectedPython", Array.isArray(s.selected) ? s.selected.length : Number(s.selected ?? 0) || 0);
  }

  function onGauge(): void {
    const g = m.get("gauge");
    const snap = view.snapshot;
    // A snapshot shows its own size; rates belong to the live buffer.
    gauge.update(snap && g && typeof g === "object" ? { ...g, size: snap.state.n, inserts_per_s: Number.NaN } : g);
  }

  function onMapMode(): void {
    const mode = m.get("map_mode");
    const k = Number(m.get("window_k"));
    toolbar.setMapMode(typeof mode === "string" && mode ? mode : "states", Number.isInteger(k) && k > 0 ? k : 4);
  }

  function onColorBy(): void {
    toolbar.setChannels(view.shown.colorChannels(), colorBy());
    loop.request();
  }

  function onSummary(): void {
    guard("summary", () => {
      summary = parseSummary(nonEmptyBytes(m.get("summary")));
      influential.update(summary);
      replayHists.update(summary);
      gauge.setReplays(summary?.replays ? replayLine(summary.replays.stats) : null);
      summaryRow.hidden = histogram.el.hidden && influential.el.hidden && replayHists.el.hidden;
    });
  }

  function onThumbnails(): void {
    guard("thumbnails", () => influential.updateThumbnails(parseThumbnails(nonEmptyBytes(m.get("thumbnails")))));
  }

  function onInterpret(): void {
    guard("interpret data", () => {
      const data = parseInterpret(nonEmptyBytes(m.get("interpret")));
      interpret.update(data);
      const a = data?.arrays;
      const n = data?.meta.paths?.length ?? 0;
      paths.setPaths(
        Array.from({ length: n }, (_, i) =>
          raggedPart(a?.path_slots as Uint32Array, a?.path_offsets as Uint32Array, i),
        ),
      );
      drawPaths();
    });
  }

  /** Python's service published while this view is open: its requests will be answered. */
  function onInterpretChange(): void {
    interpret.setLive(true);
    onInterpret();
  }

  function onHistoryIndex(): void {
    guard("history index", () => {
      const index = parseHistoryIndex(m.get("history_index"));
      setData("history", index.entries.length);
      view.setEntries(index.entries);
    });
  }

  const listeners: [string, (...args: never[]) => void][] = [
    ["msg:custom", onMessage],
    ["change:keyframe", onKeyframe],
    ["change:inspection", onInspection],
    ["change:saliency", onSaliency],
    ["change:status", onStatus],
    ["change:gauge", onGauge],
    ["change:color_by", onColorBy],
    ["change:map_mode", onMapMode],
    ["change:window_k", onMapMode],
    ["change:summary", onSummary],
    ["change:interpret", onInterpretChange],
    ["change:thumbnails", onThumbnails],
    ["change:history_index", onHistoryIndex],
  ];
  for (const [event, fn] of listeners) m.on(event, fn as (...args: unknown[]) => void);

  onKeyframe();
  onMapMode();
  onInspection();
  onStatus();
  // A view that opens late holds whatever keyframe the trait had; ask once for the current state.
  keyframes.request();
  onGauge();
  onSummary();
  onInterpret();
  // Panels already published: ask the service (if one still runs) to refresh them; its answer makes them live.
  if (nonEmptyBytes(m.get("interpret"))) send({ type: "interpret" });
  onThumbnails();
  onHistoryIndex();
  toolbar.setChannels(state.colorChannels(), colorBy());
  hint.update(0);
  loop.request();

  const hook: BrwTestHook = {
    screenPositionOfSlot: (slot) => scatter.screenPositionOfSlot(slot),
    slots: () => scatter.slots(),
    selectedSlots: () => scatter.selectedSlots(),
    idle: () => loop.idle && !scatter.busy,
    shownCoords: (slot) => {
      const v = view.shown;
      const i = v.indexOfSlot(slot);
      return i < 0 ? null : [v.x[i]!, v.y[i]!];
    },
  };
  (root as HTMLElement & { __brw?: BrwTestHook }).__brw = hook;

  return () => {
    if (destroyed) return;
    destroyed = true;
    loop.stop();
    for (const [event, fn] of listeners) m.off(event, fn as (...args: unknown[]) => void);
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
