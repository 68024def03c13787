// Runs a JavaScript/TypeScript function's unit tests under plain Node: each test file is bundled with
// the SDK by esbuild (TypeScript compiled, `wasmlet-guest` resolved to the SDK, the static files
// registered), then `node --test` runs the bundles. Exit status: node's, or 5 when there are no tests.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const job = JSON.parse(process.argv[2]);
const SKIP = new Set(["node_modules", "integration", ".wasmlet", "dist", "target"]);

function* testFiles(dir) {
  for (const name of readdirSync(dir).sort()) {
    if (SKIP.has(name) || name.startsWith(".")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* testFiles(path);
    else if (/\.test\.(ts|mts|js|mjs)$/.test(name)) yield path;
  }
}

const files = [...testFiles(job.src)];
if (files.length === 0) {
  console.log("no unit tests (files named *.test.ts or *.test.js)");
  process.exit(5);
}
const out = mkdtempSync(join(tmpdir(), "wasmlet-js-test-"));
try {
  const bundles = [];
  for (const file of files) {
    const outfile = join(out, relative(job.src, file).replace(/[\\/]/g, "__").replace(/\.(ts|mts|js|mjs)$/, ".mjs"));
    try {
      await build({
        entryPoints: [file], outfile, bundle: true, format: "esm", platform: "node", target: "node20",
        alias: job.alias, inject: job.inject, logLevel: "silent", sourcemap: "inline",
      });
    } catch (err) {
      for (const e of err.errors ?? []) {
        const at = e.location ? `${e.location.file}:${e.location.line}:${e.location.column + 1}: ` : "";
        console.log(`${at}error: ${e.text}`);
      }
      process.exit(1);
    }
    bundles.push(outfile);
  }
  const run = spawnSync(process.execPath, ["--enable-source-maps", "--test", ...bundles], { stdio: "inherit" });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
