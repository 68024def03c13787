//! Static files embedded in the component at build time, with content types,
//! `index.html` for directories, and ETag / 304.

use crate::http::{Request, Response};

/// An embedded folder: `(relative path, contents)` pairs.
pub type StaticDir = &'static [(&'static str, &'static [u8])];

/// The content type for a file name.
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "woff2" => "font/woff2",
        "pdf" => "application/pdf",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
}

/// A strong ETag from the contents (FNV-1a, 64 bits).
pub fn etag(data: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("\"{:016x}-{:x}\"", h, data.len())
}

pub(crate) trait Serve {
    fn serve(&self, prefix: &str, req: &Request) -> Option<Response>;
}

impl Serve for StaticDir {
    fn serve(&self, prefix: &str, req: &Request) -> Option<Response> {
        let rest = req.path.strip_prefix(prefix)?;
        if !(rest.is_empty() || rest.starts_with('/') || prefix.is_empty()) {
            return None;
        }
        let mut rel = rest.trim_start_matches('/').to_string();
        if rel.is_empty() || rel.ends_with('/') {
            rel.push_str("index.html");
        }
        let data = self.iter().find(|(p, _)| *p == rel).map(|(_, d)| *d)?;
        let tag = etag(data);
        let matches = req
            .header("if-none-match")
            .map(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
            .unwrap_or(false);
        let resp = if matches {
            Response::new(304)
        } else {
            Response::new(200).with_header("content-type", content_type(&rel)).with_body(data.to_vec())
        };
        Some(resp.with_header("etag", &tag).with_header("cache-control", "no-cache"))
    }
}
