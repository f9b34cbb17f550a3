import { describe, expect, it } from "vitest";
import type { HistoryEntry } from "../src/history";
import { LiveOrScrubbed } from "../src/live_or_scrubbed";
import { Picks } from "../src/picks";
import { KeyframeRequests } from "../src/receive";
import { RedrawLoop } from "../src/redraw";
import { PointState } from "../src/state";
import { keyframe, snapshotBlob } from "./helpers";

const entries = (steps: number[]): HistoryEntry[] => steps.map((step, i) => ({ id: i, step, time: 0, points: 2 }));

function controller(hasLive = true) {
  const live = new PointState();
  live.applyKeyframe(keyframe(1, [{ slot: 0, step: 5 }]));
  const log: string[] = [];
  const requested: number[] = [];
  const view = new LiveOrScrubbed(live, {
    shownChanged: () => log.push("shown"),
    scrubberChanged: () => log.push("scrubber"),
    requestSnapshot: (id) => requested.push(id),
  });
  view.setReplay(!hasLive);
  log.length = 0;
  return { live, view, log, requested };
}

describe("LiveOrScrubbed", () => {
  it("draws live frames until a snapshot is picked, then counts them and says so", () => {
    const { live, view, log, requested } = controller();
    view.setEntries(entries([10, 20]));
    expect(view.isLive && view.shown === live && view.liveFrame()).toBe(true);
    expect(view.note()).toBeNull();

    view.scrubTo(0); // not loaded yet: the scrubber shows it loading, the live map stays
    expect(requested).toEqual([0]);
    expect(view.loading && view.isLive).toBe(true);
    view.receive({ type: "snapshot", id: 0 }, snapshotBlob(0, 10, [0.5, 0.25]));
    expect(view.isLive || view.loading).toBe(false);
    expect(view.snapshot?.step).toBe(10);
    expect(Array.from(view.shown.x.subarray(0, view.shown.n))).toEqual([0.5, 0.25]);
    expect(log).toEqual(["scrubber", "scrubber", "shown"]);

    expect(view.liveFrame()).toBe(false);
    expect(view.liveFrame()).toBe(false);
    expect(view.note()).toBe(
      "showing the map at step 10: live updates arrive but are not drawn (2 live frames since) · press live to return ·",
    );
    view.scrubTo(Number.POSITIVE_INFINITY);
    expect(view.isLive && view.shown === live && view.missedFrames === 0).toBe(true);
    view.scrubTo(0); // cached now: shown at once, no second request
    expect(view.snapshot?.id).toBe(0);
    expect(requested).toEqual([0]);
  });

  it("shows the newest snapshot of a recorded history and never a live map", () => {
    const { view, requested } = controller(false);
    view.setEntries(entries([10, 20, 30]));
    expect(requested).toEqual([2]);
    view.receive({ type: "snapshot", id: 2 }, snapshotBlob(2, 30, [1]));
    expect(view.snapshot?.step).toBe(30);
    expect(view.note()).toBeNull(); // nothing live to miss
    view.scrubTo(Number.POSITIVE_INFINITY);
    expect(view.isLive).toBe(false);
  });

  it("follows the newest wish when answers come late, and goes on when Python lost a snapshot", () => {
    const { view, requested } = controller();
    view.setEntries(entries([10, 20, 30]));
    view.scrubTo(0);
    view.scrubTo(1); // one request in flight: the wish waits
    expect(requested).toEqual([0]);
    view.receive({ type: "snapshot", id: 0 }, snapshotBlob(0, 10, [0]));
    expect(view.isLive).toBe(true); // 0 is no longer wanted
    expect(requested).toEqual([0, 1]);
    view.receive({ type: "snapshot", id: 1, missing: true }, null);
    expect(view.isLive && view.loading).toBe(true);
    view.setEntries(entries([10, 30]).map((e, i) => ({ ...e, id: [0, 2][i]! }))); // 1 thinned: nearest is kept
    expect(view.scrub.selectedId).not.toBe(1);
    expect(() => view.receive({ type: "snapshot", id: 2 }, new Uint8Array([1, 2, 3]))).toThrow();
  });
});

describe("Picks", () => {
  function picks() {
    const calls: string[] = [];
    const p = new Picks(
      {
        setClicked: (point) => calls.push(`clicked ${point}`),
        setSelection: (points) => calls.push(`selection ${points.join(",")}`),
        save: () => calls.push("save"),
      },
      (point) => calls.push(`local row ${point}`),
    );
    return { p, calls };
  }

  it("sends a click and a selection the same way whatever their source", () => {
    const { p, calls } = picks();
    p.click(4);
    p.select([1, 2, 3]);
    expect(calls).toEqual(["local row 4", "clicked 4", "save", "selection 1,2,3", "save"]);
    expect([p.clicked, p.selected]).toEqual([4, 3]);
  });

  it("clears only what was set, in one update", () => {
    const { p, calls } = picks();
    p.clear();
    expect(calls).toEqual([]);
    p.select([7]);
    calls.length = 0;
    p.clear();
    expect(calls).toEqual(["selection ", "save"]);
    p.click(1);
    p.select([2]);
    calls.length = 0;
    p.clear();
    expect(calls).toEqual(["clicked -1", "selection ", "save"]);
    expect([p.clicked, p.selected]).toEqual([-1, 0]);
  });
});

describe("RedrawLoop", () => {
  it("coalesces requests into one draw per frame and redraws after a draw that was asked for during it", async () => {
    const frames: (() => void)[] = [];
    let finish: () => void = () => {};
    let draws = 0;
    const loop = new RedrawLoop(
      () => {
        draws++;
        return new Promise<void>((resolve) => {
          finish = resolve;
        });
      },
      (cb) => frames.push(cb),
      () => {},
    );
    loop.request();
    loop.request();
    expect(frames).toHaveLength(1);
    expect(loop.idle).toBe(false);
    frames.shift()!();
    expect(draws).toBe(1);
    loop.request(); // while drawing: no second draw at once
    expect(frames).toHaveLength(0);
    finish();
    await Promise.resolve();
    await Promise.resolve();
    expect(frames).toHaveLength(1);
    frames.shift()!();
    expect(draws).toBe(2);
    finish();
    await Promise.resolve();
    await Promise.resolve();
    expect(loop.idle).toBe(true);
    loop.stop();
    loop.request();
    expect(frames).toHaveLength(0);
  });
});

describe("KeyframeRequests", () => {
  it("asks when Python stays ahead for 0.5 s with no delta, at most every 2 s", () => {
    let t = 0;
    let sent = 0;
    const k = new KeyframeRequests(
      () => sent++,
      () => t,
    );
    k.request(); // on opening
    k.pythonSeq(5, 5);
    t = 3000;
    k.pythonSeq(6, 5);
    t = 3400;
    k.pythonSeq(6, 5);
    expect(sent).toBe(1);
    t = 3600;
    k.pythonSeq(6, 5);
    expect(sent).toBe(2);
    t = 4000;
    k.pythonSeq(6, 5); // asked 0.4 s ago
    expect(sent).toBe(2);
    k.pythonSeq(6, 6); // caught up: the wait starts over
    t = 9000;
    k.pythonSeq(7, 6);
    expect(sent).toBe(2);
    expect(k.count).toBe(2);
  });
});
