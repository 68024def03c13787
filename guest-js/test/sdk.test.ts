// The SDK under plain Node: routing, extractors, middleware, replies, static files, hostcall errors,
// the body encoding, messages, schedules and publishing. `tests/host/test_sdk_js.py` runs these; the same app runs in components.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  App, HostError, Message, Request, Response, Schedule, bindHost, exportHandle, kv, messaging, sql, setStaticFiles,
  subjectMatches, type HostBindings,
} from "wasmlet-guest";
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

// ------------------------------------------------------------------ messages and schedules (contract 0.3.0)

/** What componentize-js throws for an `err` result: an error whose `payload` is the case. */
function wireError(tag: string, val: string): Error {
  return Object.assign(new Error("err"), { payload: { tag, val } });
}

function eventsApp(seen: string[]): App {
  return new App()
    .use((req, next) => { seen.push("middleware"); return next(req); })
    .message("orders.created", (msg) => { seen.push(`created ${msg.text()}`); })
    .message("orders.*.shipped", (msg) => Response.text(`shipped ${msg.subject}`))
    .message("orders.>", (msg) => [422, `rest ${msg.subject}`])
    .message("orders.created", () => "never")
    .message("kv.>", () => kv.get("default", "k"))
    .message("json", (msg) => ({ n: msg.json<{ n: number }>().n, attempt: msg.attempt, id: msg.id, h: msg.header("X-Trace") ?? null }))
    .schedule("nightly", (s) => { seen.push(`${s.name} ${s.dueMs}`); })
    .schedule("broken", () => [503, "try later"]);
}

test("subject patterns match as NATS does", () => {
  const cases: Array<[string, string, boolean]> = [
    ["a.b", "a.b", true], ["a.b", "a.c", false], ["a.b", "a.b.c", false], ["a.b", "a", false],
    ["a.*", "a.b", true], ["a.*", "a.b.c", false], ["a.*", "a", false], ["*.b.*", "x.b.y", true],
    ["a.>", "a.b", true], ["a.>", "a.b.c.d", true], ["a.>", "a", false], [">", "anything.at.all", true],
    ["*.>", "a", false], ["*.>", "a.b", true],
  ];
  for (const [pattern, subject, matches] of cases) assert.equal(subjectMatches(pattern, subject), matches, `${pattern} ~ ${subject}`);
  assert.throws(() => new App().message("a.>.b", () => undefined), /may only be the last token/);
});

test("messages dispatch by subject, the first match wins, middleware does not run", () => {
  const seen: string[] = [];
  const app = eventsApp(seen);
  const ok = app.handleMessage(new Message({ source: "nats", subject: "orders.created", payload: "o-1" }));
  assert.equal(ok.status, 200);
  assert.equal(ok.body.length, 0);
  assert.deepEqual(seen, ["created o-1"]);
  assert.equal(app.handleMessage(new Message({ subject: "orders.eu.shipped" })).text(), "shipped orders.eu.shipped");
  const rest = app.handleMessage(new Message({ subject: "orders.eu.shipped.late" }));
  assert.equal(rest.status, 422);
  assert.equal(rest.text(), "rest orders.eu.shipped.late");
});

test("message replies: HostError, JSON payloads and no handler", () => {
  const app = eventsApp([]);
  const fake = { kv: { get: () => { throw wireError("denied", "kv store `default` is not granted"); } } };
  bindHost(fake as unknown as HostBindings);
  try {
    const denied = app.handleMessage(new Message({ subject: "kv.read" }));
    assert.equal(denied.status, 403);
    assert.deepEqual(JSON.parse(denied.text()), { error: "kv store `default` is not granted", kind: "denied" });
  } finally {
    bindHost(undefined);
  }
  const missing = app.handleMessage(new Message({ subject: "payments.done" }));
  assert.equal(missing.status, 404);
  assert.equal(missing.text(), '{"error":"no handler for message on payments.done"}');
  const parsed = app.handleMessage(new Message({ subject: "json", payload: '{"n": 7}', headers: [["x-trace", "t"]], attempt: 3, id: "m-9" }));
  assert.deepEqual(JSON.parse(parsed.text()), { n: 7, attempt: 3, id: "m-9", h: "t" });
  const bad = app.handleMessage(new Message({ subject: "json", payload: "{" }));
  assert.equal(bad.status, 400);
  assert.match(JSON.parse(bad.text()).error, /^invalid JSON payload: /);
});

test("schedules dispatch by name", () => {
  const seen: string[] = [];
  const app = eventsApp(seen);
  assert.equal(app.handleSchedule(new Schedule("nightly", 1767225600000)).status, 200);
  assert.deepEqual(seen, ["nightly 1767225600000"]);
  assert.equal(app.handleSchedule(new Schedule("broken", 0)).status, 503);
  const missing = app.handleSchedule(new Schedule("hourly", 0));
  assert.equal(missing.status, 404);
  assert.equal(missing.text(), '{"error":"no handler for schedule hourly"}');
});

test("wire events: every payload byte is kept, due-ms becomes a number", () => {
  const all = new Uint8Array(256).map((_, i) => i);
  const got: Message[] = [];
  const app = new App()
    .message(">", (msg) => { got.push(msg); })
    .schedule("tick", (s) => `${s.name}@${s.dueMs + 1}`)
    .get("/hi", () => "hi");
  const handle = exportHandle(app);
  for (const payload of [{ tag: "octets" as const, val: bytesToOctets(all) }, { tag: "bytes" as const, val: all }]) {
    const headers: Array<[string, string]> = [["k", "v"]];
    const event = { tag: "message" as const, val: { source: "nats", subject: "a.b", payload, headers, attempt: 2, id: "id-1" } };
    assert.equal(handle(event).status, 200);
  }
  assert.deepEqual(got.map((m) => m.payload), [all, all]);
  assert.deepEqual([got[0]!.source, got[0]!.subject, got[0]!.headers, got[0]!.attempt, got[0]!.id], ["nats", "a.b", [["k", "v"]], 2, "id-1"]);
  const tick = handle({ tag: "schedule", val: { name: "tick", dueMs: 5n } });
  assert.deepEqual(tick.body, { tag: "text", val: "tick@6" });
  const http = { method: "GET", path: "/hi", query: "", headers: [], body: { tag: "text" as const, val: "" }, mount: "/fn/latest" };
  assert.deepEqual(handle({ tag: "http", val: http }).body, { tag: "text", val: "hi" });
});

test("messaging.publish sends a body and maps errors to HostError", () => {
  const sent: unknown[] = [];
  const fake = {
    messaging: {
      publish: (source: string, subject: string, payload: unknown, headers: unknown) => {
        if (subject === "denied.x") throw wireError("denied", "publish to denied.x on nats is not granted");
        if (subject === "failed.x") throw wireError("failed", "broker unreachable");
        sent.push([source, subject, payload, headers]);
      },
    },
  } as unknown as HostBindings;
  bindHost(fake);
  try {
    messaging.publish("nats", "a.b", "héllo", [["k", "v"]]);
    messaging.publish("nats", "a.c", new Uint8Array([0, 255]));
    assert.deepEqual(sent, [
      ["nats", "a.b", { tag: "text", val: "héllo" }, [["k", "v"]]],
      ["nats", "a.c", { tag: "octets", val: "\x00\xff" }, []],
    ]);
    assert.throws(() => messaging.publish("nats", "denied.x", ""),
      (e) => e instanceof HostError && e.kind === "denied" && e.status === 403 && e.detail === "publish to denied.x on nats is not granted");
    assert.throws(() => messaging.publish("nats", "failed.x", ""), (e) => e instanceof HostError && e.kind === "failed" && e.status === 500);
  } finally {
    bindHost(undefined);
  }
  assert.throws(() => messaging.publish("nats", "a", "x"), (e) => e instanceof HostError && e.kind === "failed");
});
