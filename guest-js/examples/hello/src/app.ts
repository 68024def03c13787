// Hello world: static pages, a few JSON APIs, a logging and a not-found middleware.

import { App, Response, log } from "wasmlet-guest";

interface Person {
  name: string;
  age: number;
}

/** A person from parsed JSON, or an error naming what is wrong (the router answers 400). */
function person(value: unknown): Person {
  const v = value as Partial<Record<keyof Person, unknown>> | null;
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("expected an object");
  if (typeof v.name !== "string") throw new Error("missing field `name` (a string)");
  if (typeof v.age !== "number" || !Number.isInteger(v.age)) throw new Error("missing field `age` (an integer)");
  return { name: v.name, age: v.age };
}

const app = new App();
app.static("/", "static/");

// Logs method, path, status and time of every request.
app.use((req, next) => {
  const start = performance.now();
  const resp = next(req);
  log.info(`${req.method} ${req.path} -> ${resp.status} in ${(performance.now() - start).toFixed(2)} ms`);
  return resp;
});

// Unknown routes get a JSON 404.
app.use((req, next) => {
  const resp = next(req);
  return resp.status === 404 ? Response.json({ error: "not found", path: req.path }, 404) : resp;
});

app.get("/api/capitalize/:word", (req) => req.params.word!.toUpperCase());

app.get("/api/echo-query", (req) => ({ name: req.query.get("name") ?? null, age: req.query.get("age") ?? null }));

app.post("/api/echo-person", (req) => req.json(person));

// Any bytes back as they came (an upload, an image, a protobuf).
app.post("/api/echo-bytes", (req) => req.body);

export default app;
