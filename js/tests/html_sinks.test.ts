import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { h } from "../src/panels/format";

const SRC = new URL("../src/", import.meta.url);
const HOSTILE = '</script><script>alert(1)</script>"><img src=x onerror=alert(1)>';
// Every way a string can become markup or script in the page.
const SINK =
  /\b(innerHTML|outerHTML|insertAdjacentHTML|createContextualFragment|srcdoc|DOMParser)\b|document\.write|setAttribute\(\s*["'`]on/;

describe("untrusted strings (run names, env ids, action names, notes, errors) stay text", () => {
  it("the front end has no HTML sink: labels are set with textContent", () => {
    const files = readdirSync(SRC, { recursive: true }).filter((f) => f.endsWith(".ts"));
    expect(files.length).toBeGreaterThan(10);
    const hits = files.flatMap((f) =>
      readFileSync(new URL(f, SRC), "utf8")
        .split("\n")
        .map((line, i) => `${f}:${i + 1}: ${line.trim()}`)
        .filter((line) => SINK.test(line.slice(line.indexOf(": ") + 2))),
    );
    expect(hits).toEqual([]);
    // the scan would see one
    for (const bad of [
      "el.innerHTML = name",
      "el.insertAdjacentHTML('beforeend', s)",
      "b.setAttribute('onclick', s)",
    ]) {
      expect(SINK.test(bad)).toBe(true);
    }
    expect(SINK.test("el.textContent = name")).toBe(false);
  });

  it("h() puts its text in textContent, never in markup", () => {
    const g = globalThis as { document?: unknown };
    const saved = g.document;
    g.document = {
      createElement: (tag: string) => {
        const e: Record<string, unknown> = { tag };
        Object.defineProperty(e, "innerHTML", {
          set() {
            throw new Error("innerHTML used");
          },
        });
        return e;
      },
    };
    try {
      const e = h("span", "brw-label", HOSTILE) as unknown as Record<string, unknown>;
      expect(e.textContent).toBe(HOSTILE);
      expect(e.className).toBe("brw-label");
    } finally {
      g.document = saved;
    }
  });
});
