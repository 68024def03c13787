//! For a function's `build.rs`: embeds a folder of static files in the component.
//!
//! ```ignore
//! // build.rs
//! fn main() { wasmlet_guest::build::embed_dir("static"); }
//! // src/lib.rs
//! static STATIC: wasmlet_guest::StaticDir = wasmlet_guest::include_static!();
//! ```

use std::fs;
use std::path::{Path, PathBuf};

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let mut entries: Vec<_> = match fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).collect(),
        Err(_) => return,
    };
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            out.push((rel, path.canonicalize().unwrap_or(path)));
        }
    }
}

/// Writes `$OUT_DIR/wasmlet_static.rs` listing every file under `dir`, and asks
/// cargo to rebuild when any of them changes.
pub fn embed_dir(dir: &str) {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("run from build.rs");
    let root = Path::new(&manifest_dir).join(dir);
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    let mut code = String::from("&[\n");
    for (rel, path) in &files {
        code.push_str(&format!("    ({:?}, include_bytes!({:?})),\n", rel, path.to_string_lossy()));
    }
    code.push_str("]\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("run from build.rs")).join("wasmlet_static.rs");
    fs::write(out, code).expect("write wasmlet_static.rs");
    println!("cargo:rerun-if-changed={}", root.display());
    for (_, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
