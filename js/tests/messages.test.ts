import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MESSAGE_FIELDS, parsePythonMessage } from "../src/messages";

// The same file is read by tests/test_view_messages.py against Python's table: the two sides cannot drift apart.
const FIXTURE = new URL("./fixtures/messages.json", import.meta.url);

describe("message types", () => {
  it("are the ones the shared fixture lists, field for field", () => {
    expect(JSON.parse(readFileSync(FIXTURE, "utf8"))).toEqual(MESSAGE_FIELDS);
  });

  it("from Python are checked before they are used", () => {
    expect(parsePythonMessage({ type: "delta" })).toEqual({ type: "delta" });
    expect(parsePythonMessage({ type: "snapshot", id: 3 })).toEqual({ type: "snapshot", id: 3 });
    expect(parsePythonMessage({ type: "snapshot", id: 3, missing: true })).toEqual({
      type: "snapshot",
      id: 3,
      missing: true,
    });
    expect(() => parsePythonMessage(null)).toThrow(/not an object/);
    expect(() => parsePythonMessage([1])).toThrow(/not an object/);
    expect(() => parsePythonMessage({ type: "launch" })).toThrow(/unknown message type "launch"/);
    expect(() => parsePythonMessage({})).toThrow(/unknown message type undefined/);
    for (const id of ["1", -1, 1.5, Number.NaN, null]) {
      expect(() => parsePythonMessage({ type: "snapshot", id })).toThrow(/snapshot id/);
    }
  });
});
