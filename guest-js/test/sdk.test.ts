// The SDK under plain Node: routing, extractors, middleware, replies, static files, hostcall errors
// and the body encoding. `tests/host/test_sdk_js.py` runs these; the same app runs in components.

import assert from "node:assert/strict";
import { test } from "node:test";

import { App, HostError, Request, Response, bindHost, kv, sql, setStaticFiles, type HostBindings } from "wasmlet-guest";
import { bodyFromWire, bodyToWire, bytesToOctets, octetsToBytes } from "../src/host.ts";
import { etag } from "../src/static.ts";

const app = new App()
  .get("/users/:id", (req) => ({ id: req.params.id }))
  .get("/files/*rest", (req) => req.params.rest ?? "")
  .get("/braces/{name}", (req) => `hi ${req.params.name}`)
  .get("/query", (req) => ({ tags: req.query.getAll("tag"), one: req.query.get("one") ?? null }))
  .get("/header", (req) => req.header("X-Thing") ?? "none")
  .post("/json", (req) => req.json((v) => {
    if (typeof (v as { n?: unknown })?.n !== "number") throw new Error("missing field `n`");
    return v;
  }))
  .post("/bytes", (req) => req.body)
  .get("/tuple", () => [201, { made: true }])
  .get("/nothing", () => undefined)
  .delete("/thing", () => "deleted")
  .get("/denied", () => kv.get("default", "k"))
  .static("/", "static/");

function get(path: string, init: ConstructorParameters<typeof Request>[0] = {}): Response {
  return app.handle(new Request({ path, ...init }));
}

test("path parameters, rest and braces", () => {
  assert.equal(get("/users/a%20b").text(), '{"id":"a b"}');
  assert.equal(get("/files/x/y/z").text(), "x/y/z");
  assert.equal(get("/braces/bob").text(), "hi bob");
});

test("query with repeated keys and headers", () => {
  assert.deepEqual(JSON.parse(get("/query?tag=a&tag=b+c&one=%C3%A9").text()), { tags: ["a", "b c"], one: "é" });
  assert.equal(get("/header", { headers: [["x-thing", "yes"]] }).text(), "yes");
});

test("JSON body: validation hook and malformed JSON answer 400", () => {
  assert.equal(get("/json", { method: "POST", body: '{"n": 1}' }).text(), '{"n":1}');
  const bad = get("/json", { method: "POST", body: '{"n": ' });
  assert.equal(bad.status, 400);
  assert.match(JSON.parse(bad.text()).error, /^invalid JSON body: /);
  const wrong = get("/json", { method: "POST", body: '{"m": 1}' });
  assert.equal(wrong.status, 400);
  assert.equal(JSON.parse(wrong.text()).error, "invalid JSON body: missing field `n`");
});

test("replies: bytes, [status, value], nothing, 404 and 405 with Allow", () => {
  const bytes = new Uint8Array([0, 255, 128]);
  const echoed = get("/bytes", { method: "POST", body: bytes });
  assert.deepEqual(echoed.body, bytes);
  assert.equal(echoed.header("content-type"), "application/octet-stream");
  const made = get("/tuple");
  assert.equal(made.status, 201);
  assert.equal(made.header("content-type"), "application/json");
  assert.equal(get("/nothing").status, 204);
  assert.equal(get("/no/such").status, 404);
  const wrong = get("/users/1", { method: "POST" });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.header("allow"), "GET, HEAD");
  assert.equal(get("/users/1", { method: "HEAD" }).body.length, 0);
});

test("middleware is an onion: the first added is the outermost", () => {
  const seen: string[] = [];
  const onion = new App()
    .use((req, next) => { seen.push("outer in"); const r = next(req); seen.push("outer out"); return r; })
    .use((req, next) => { seen.push("inner in"); const r = next(req); seen.push("inner out"); return r.withHeader("x-inner", "1"); })
    .get("/", () => { seen.push("handler"); return "ok"; });
  const resp = onion.handle(new Request({ path: "/" }));
  assert.deepEqual(seen, ["outer in", "inner in", "handler", "inner out", "outer out"]);
  assert.equal(resp.header("x-inner"), "1");
});

test("static files: index.html, content type, ETag and 304", () => {
  setStaticFiles({ "static/index.html": "<h1>hi</h1>", "static/img/dot.png": "\x89PNG\x00\xff" });
  const index = get("/");
  assert.equal(index.status, 200);
  assert.equal(index.header("content-type"), "text/html; charset=utf-8");
  const tag = index.header("etag")!;
  assert.equal(get("/", { headers: [["if-none-match", tag]] }).status, 304);
  assert.deepEqual(get("/img/dot.png").body, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0xff]));
  assert.equal(get("/../secret").status, 404);
});

test("the ETag is the Rust and Python SDKs' FNV-1a 64", () => {
  // python3 -c 'from wasmlet_guest._static import etag; print(etag(b"hello"), etag(bytes(range(256))))'
  assert.equal(etag(new TextEncoder().encode("hello")), '"a430d84680aabd0b-5"');
  assert.equal(etag(new Uint8Array(0)), '"cbf29ce484222325-0"');
});

test("every byte value survives the body encoding both ways", () => {
  const all = new Uint8Array(256 * 3).map((_, i) => i % 256);
  assert.deepEqual(octetsToBytes(bytesToOctets(all)), all);
  const wire = bodyToWire(all);
  assert.equal(wire.tag, "octets");
  assert.deepEqual(bodyFromWire(wire), all);
  assert.deepEqual(bodyToWire(new TextEncoder().encode("héllo")), { tag: "text", val: "héllo" });
});

test("hostcalls: unbound is a HostError; a wire error becomes its kind and status", () => {
  bindHost(undefined);
  assert.throws(() => kv.get("default", "k"), (e) => e instanceof HostError && e.kind === "failed");
  const fake = {
    kv: { get: () => { throw Object.assign(new Error("err"), { payload: { tag: "denied", val: "kv store `default` is not granted" } }); } },
    sql: {
      query: (_db: string, _s: string, params: unknown[]) => ({ columns: ["a", "b"], packed: JSON.stringify([[1, { blob: "\x00\xff" }], [params.length, { real: "inf" }]]) }),
      execute: () => 3n,
    },
  } as unknown as HostBindings;
  bindHost(fake);
  try {
    const denied = get("/denied");
    assert.equal(denied.status, 403);
    assert.deepEqual(JSON.parse(denied.text()), { error: "kv store `default` is not granted", kind: "denied" });
    const rows = sql.query("db", "SELECT", [1, sql.real(2), "x"]);
    assert.deepEqual(rows, [{ a: 1, b: new Uint8Array([0, 255]) }, { a: 3, b: Infinity }]);
    assert.equal(sql.execute("db", "UPDATE"), 3);
  } finally {
    bindHost(undefined);
  }
});
