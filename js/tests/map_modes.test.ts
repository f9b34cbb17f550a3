import { describe, expect, it } from "vitest";
import { MAP_MODES, MAX_WINDOW_K, parseWindowK } from "../src/panels/toolbar";

describe("map-mode controls", () => {
  it("offer the modes Python accepts (capture/map_modes.py MAP_MODES)", () => {
    expect([...MAP_MODES]).toEqual(["states", "state-actions", "windows"]);
  });

  it("accept a window k of 1..32 only, as Python's check does", () => {
    expect(parseWindowK("4")).toBe(4);
    expect(parseWindowK("1")).toBe(1);
    expect(parseWindowK(String(MAX_WINDOW_K))).toBe(32);
    for (const bad of ["0", "33", "2.5", "", "four", "-3", "NaN"]) expect(parseWindowK(bad)).toBeNull();
  });
});
