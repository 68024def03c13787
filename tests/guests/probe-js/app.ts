// A JavaScript test function that misbehaves on request: it loops, exhausts memory, throws, answers
// a status HTTP cannot carry, or tries to reach what it was not granted.

import { App, HostError, Response, config, kv, sql } from "wasmlet-guest";

const app = new App();
const hoard: Uint8Array[] = [];

app.get("/hello", () => "hello from js");
app.get("/loop", () => {
  let n = 0;
  for (;;) n = (n + 1) | 0;
});
app.get("/alloc", () => {
  for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
});
app.get("/throw", () => {
  throw new Error("deliberate failure for testing");
});
app.get("/bad-status", () => new Response(42, [], "not a status"));
app.get("/remembers", () => {
  hoard.push(new Uint8Array(1));
  return String(hoard.length); // a fresh instance per event: always 1
});
app.get("/ungranted", () => {
  const out: string[] = [];
  for (const attempt of [() => kv.get("other", "k"), () => sql.query("other", "SELECT 1"), () => config.get("secret")]) {
    try {
      out.push(`ok ${String(attempt())}`);
    } catch (err) {
      out.push(err instanceof HostError ? `${err.kind}: ${err.detail}` : `other: ${String(err)}`);
    }
  }
  return out.join("\n");
});

export default app;
