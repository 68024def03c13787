/** Static files embedded in the component at build time: content types, index.html, ETag / 304. */

import { Request, Response } from "./http.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8", ".json": "application/json",
  ".txt": "text/plain; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp", ".ico": "image/x-icon",
  ".wasm": "application/wasm", ".woff2": "font/woff2", ".pdf": "application/pdf", ".xml": "application/xml",
};

/** The content type for a file name (by extension). */
export function contentType(path: string): string {
  const dot = path.lastIndexOf(".");
  const ext = dot > path.lastIndexOf("/") ? path.slice(dot).toLowerCase() : "";
  return TYPES[ext] ?? "application/octet-stream";
}

/** FNV-1a 64 of the contents plus the length (the Rust and Python SDKs compute the same tag). */
export function etag(data: Uint8Array): string {
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (const b of data) {
    lo = (lo ^ b) >>> 0;
    const low = lo * 0x1b3; // exact: below 2^41
    hi = (Math.imul(hi, 0x1b3) + (lo << 8) + Math.floor(low / 4294967296)) >>> 0;
    lo = low >>> 0;
  }
  const hex = hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
  return `"${hex}-${data.length.toString(16)}"`;
}

interface File {
  data: Uint8Array;
  tag: string;
}

const files = new Map<string, File>();

/**
 * Registers the embedded files (path relative to the function's folder → contents as one code
 * point per byte). Called by the module `wasmlet build` generates, while the component is built,
 * so the decoded bytes and their tags are in the snapshot every instance starts from.
 */
export function setStaticFiles(embedded: Record<string, string>): void {
  for (const [path, octets] of Object.entries(embedded)) {
    const data = new Uint8Array(octets.length);
    for (let i = 0; i < octets.length; i++) data[i] = octets.charCodeAt(i);
    files.set(path, { data, tag: etag(data) });
  }
}

/** A folder served under a URL prefix. */
export class StaticDir {
  readonly prefix: string;
  readonly folder: string;

  constructor(prefix: string, folder: string) {
    this.prefix = prefix.replace(/\/+$/, "");
    this.folder = folder.replace(/^\/+|\/+$/g, "") + "/";
  }

  /** The file's response (200 or 304), or `undefined` when the path is not one of its files. */
  serve(req: Request): Response | undefined {
    if (!req.path.startsWith(this.prefix)) return undefined;
    const rest = req.path.slice(this.prefix.length);
    if (this.prefix !== "" && rest !== "" && !rest.startsWith("/")) return undefined;
    let rel = rest.replace(/^\/+/, "");
    if (rel === "" || rel.endsWith("/")) rel += "index.html";
    if (rel.split("/").includes("..")) return undefined;
    const file = files.get(this.folder + rel);
    if (file === undefined) return undefined;
    const match = req.header("if-none-match");
    const resp = match !== undefined && match.split(",").some((t) => t.trim() === file.tag || t.trim() === "*")
      ? new Response(304)
      : new Response(200, [["content-type", contentType(rel)]], file.data);
    return resp.withHeader("etag", file.tag).withHeader("cache-control", "no-cache");
  }
}
