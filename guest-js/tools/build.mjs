// Bundles a JavaScript/TypeScript guest with esbuild and makes it a component with componentize-js.
// Called by `wasmlet build` (host/_build_js.py) with one JSON argument; prints one line per step.
import { componentize } from "@bytecodealliance/componentize-js";
import { build } from "esbuild";
import { writeFile } from "node:fs/promises";

const job = JSON.parse(process.argv[2]);
const started = Date.now();
const bundled = await build({
  entryPoints: [job.entry],
  outfile: job.bundle,
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  external: ["wasmlet:*", ...(job.external ?? [])],
  alias: job.alias ?? {},
  inject: job.inject ?? [],
  logLevel: "silent",
  metafile: false,
}).catch((err) => {
  for (const e of err.errors ?? []) {
    const at = e.location ? `${e.location.file}:${e.location.line}:${e.location.column + 1}: ` : "";
    console.log(`${at}error: ${e.text}`);
  }
  process.exit(1);
});
void bundled;
console.log(`bundled ${job.entry} in ${Date.now() - started} ms`);
const t = Date.now();
const { component } = await componentize({
  sourcePath: job.bundle,
  witPath: job.wit,
  worldName: job.world,
  disableFeatures: job.disableFeatures,
});
await writeFile(job.out, component);
console.log(`componentize-js: ${component.length} bytes in ${Date.now() - t} ms`);
