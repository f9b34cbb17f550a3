/** Small, locale-independent number formatting for the panels. */

/** Integer with "," thousands separators: 12345 → "12,345". */
export function fmtInt(v: unknown): string {
  const n = Number(v);
  if (!Number.isFinite(n)) return "–";
  const r = Math.round(n);
  const s = Math.abs(r)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return r < 0 ? `-${s}` : s;
}

/** Compact float: up to 4 significant digits, plain notation for moderate magnitudes. */
export function fmtNum(v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "true" : "false";
  const n = Number(v);
  if (Number.isNaN(n)) return "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "inf" : "-inf";
  if (Number.isInteger(n) && Math.abs(n) < 1e15) return fmtInt(n);
  const a = Math.abs(n);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return n.toExponential(2);
  return String(Number(n.toPrecision(4)));
}

/** A rate: one decimal below 10, integer above. */
export function fmtRate(v: unknown): string {
  const n = Number(v);
  if (!Number.isFinite(n)) return "–";
  return Math.abs(n) < 10 ? n.toFixed(1) : fmtInt(n);
}

/** Format any JSON-ish value (numbers, booleans, arrays of numbers) for display. */
export function fmtValue(v: unknown): string {
  if (Array.isArray(v)) {
    const head = v.slice(0, 8).map(fmtValue).join(", ");
    return v.length > 8 ? `[${head}, … (${v.length})]` : `[${head}]`;
  }
  if (typeof v === "string") return v;
  return fmtNum(v);
}

/** Create an element with a class and optional text. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
