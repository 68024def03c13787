// A fetch-event wasi:http handler (componentize-js / StarlingMonkey): the interop tests ask the same
// of it under wasmlet and under `wasmtime serve`.
async function handle(request) {
  const url = new URL(request.url);
  if (url.pathname === "/") {
    return new Response("Hello, World!\n", { headers: { "content-type": "text/plain" } });
  }
  if (url.pathname === "/echo") {
    const headers = [];
    for (const [k, v] of request.headers) if (k.startsWith("x-")) headers.push([k, v]);
    headers.sort();
    const seen = { method: request.method, path: url.pathname, query: url.search.slice(1), headers };
    const body = new Uint8Array(await request.arrayBuffer());
    return new Response(body, {
      headers: { "content-type": "application/octet-stream", "x-echo": JSON.stringify(seen) },
    });
  }
  if (url.pathname.startsWith("/status/")) {
    const status = Number(url.pathname.slice(8));
    return new Response([204, 205, 304].includes(status) ? null : "status\n", { status });
  }
  if (url.pathname === "/bad-204") {  // a body with a null-body status: the guest fails mid-response
    return new Response("not allowed\n", { status: 204 });
  }
  if (url.pathname === "/outbound") {
    try {
      const upstream = await fetch(url.searchParams.get("url"));
      return new Response(await upstream.text(), { status: upstream.status });
    } catch (e) {
      return new Response(`error: ${e}\n`, { status: 502 });
    }
  }
  return new Response("not found\n", { status: 404 });
}

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));
