// Build the front end: bundle js/src/widget.ts (+ regl-scatterplot, regl, ...)
// into better_rl_widget/static/widget.js, js/src/export/page.ts into static/export_page.js (the HTML
// export's inlined script), js/src/{grid,continual}_widget.ts into
// better_rl_widget/static/{grid,continual}_widget.js and js/src/widget.css into
// better_rl_widget/static/widget.css, then write build-info.json.
//
// build-info.json = {"sources_sha256": H} lets the Python tests detect a stale
// bundle. H is the SHA-256 hex digest computed as follows:
//   files = every file under js/src (recursively) + "js/build.mjs" + "package-lock.json"
//   for each file, in sorted order of its POSIX path relative to the repo root
//   (plain code-point order, i.e. Python's sorted() on str):
//     h.update(relpath encoded as UTF-8); h.update(b"\0")
//     h.update(file bytes);               h.update(b"\0")
// The bundle is deterministic: the same sources give the same bytes.
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT_DIR = join(ROOT, "better_rl_widget", "static");

function walk(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(p));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

function posixRel(p) {
  return relative(ROOT, p).split(sep).join("/");
}

function compareCodePoints(a, b) {
  const ca = Array.from(a, (c) => c.codePointAt(0));
  const cb = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    if (ca[i] !== cb[i]) return ca[i] - cb[i];
  }
  return ca.length - cb.length;
}

export function sourcesSha256() {
  const files = [...walk(join(ROOT, "js", "src")), join(ROOT, "js", "build.mjs"), join(ROOT, "package-lock.json")];
  const rels = files.map(posixRel).sort(compareCodePoints);
  const h = createHash("sha256");
  const NUL = Buffer.from([0]);
  for (const rel of rels) {
    h.update(Buffer.from(rel, "utf8"));
    h.update(NUL);
    h.update(readFileSync(join(ROOT, ...rel.split("/"))));
    h.update(NUL);
  }
  return h.digest("hex");
}

const common = {
  bundle: true,
  minify: true,
  target: "es2020",
  platform: "browser",
  logLevel: "warning",
  legalComments: "eof",
  sourcemap: false,
  absWorkingDir: ROOT,
};

mkdirSync(OUT_DIR, { recursive: true });
await esbuild.build({
  ...common,
  entryPoints: ["js/src/widget.ts"],
  outfile: "better_rl_widget/static/widget.js",
  format: "esm",
  define: { "process.env.NODE_ENV": '"production"' },
});
// The classic-MDP panels (GridWorldWidget, ContinualWidget) are small separate anywidget entries.
for (const name of ["grid_widget", "continual_widget"]) {
  await esbuild.build({
    ...common,
    entryPoints: [`js/src/${name}.ts`],
    outfile: `better_rl_widget/static/${name}.js`,
    format: "esm",
  });
}
// The self-contained HTML export inlines this classic script (no module loading from file:// URLs).
await esbuild.build({
  ...common,
  entryPoints: ["js/src/export/page.ts"],
  outfile: "better_rl_widget/static/export_page.js",
  format: "iife",
  define: { "process.env.NODE_ENV": '"production"' },
});
await esbuild.build({
  ...common,
  entryPoints: ["js/src/widget.css"],
  outfile: "better_rl_widget/static/widget.css",
});

const info = { sources_sha256: sourcesSha256() };
writeFileSync(join(OUT_DIR, "build-info.json"), `${JSON.stringify(info, null, 2)}\n`);
console.log(
  `built better_rl_widget/static/{widget.js,export_page.js,grid_widget.js,continual_widget.js,widget.css,build-info.json} (sources_sha256 ${info.sources_sha256.slice(0, 12)}…)`,
);
