// A componentize-js test guest that round-trips every WIT type (world `kitchen`), typed by the
// declarations `wasmlet bindgen --typescript` generates (kitchen.d.ts).

/// <reference path="./kitchen.d.ts" />
import { add, echo, half, maybeFail, ping, sumMany } from "wasmlet:kitchen/host-funcs@0.1.0";
import type { Exports } from "wasmlet:kitchen/kitchen@0.1.0";

const MASK64 = (1n << 64n) - 1n;

export const roundtrip: Exports["roundtrip"] = {
  echo: (e) => e,
  echoShapes: (s) => s,
  viaHost: (e) => echo(e),
  hostChecks() {
    ping();
    const out = [`add=${add(40, 2)}`];
    out.push(`sum=${sumMany(1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n, 11n, 12n, 13n, 14n, 15n, 16n, 17n)}`);
    const ok: unknown = maybeFail(false);
    out.push(ok === undefined ? "ok=Ok(())" : `ok=unexpected ${String(ok)}`);
    try {
      maybeFail(true);
      out.push("err=not thrown");
    } catch (err) {
      const payload = (err as { payload?: unknown }).payload;
      out.push(`err=Err(${JSON.stringify(payload)})`);
    }
    out.push(`half=${half(5)}`);
    return out;
  },
  sumMany: (...args) => args.reduce((a, b) => a + b, 0n) & MASK64,
  echoBytes: (b) => b,
};

export const double: Exports["double"] = (x) => (x * 2) >>> 0;
