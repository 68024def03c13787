//! A misbehaving plugin for the same world, to show what the host does about it: the input
//! names the misdeed. Used by tests/host/test_embedding.py and docs/embedding.md.

#[path = "../../rust/src/bindings.rs"]
mod bindings;

use std::sync::atomic::{AtomicU64, Ordering};

use bindings::{host, PluginGuest};

static SPINS: AtomicU64 = AtomicU64::new(0);

struct Hostile;

impl PluginGuest for Hostile {
    fn transform(input: String) -> Result<String, String> {
        match input.as_str() {
            "spin" => loop {
                SPINS.fetch_add(1, Ordering::Relaxed);
            },
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                }
            }
            "panic" => panic!("asked to panic"),
            "log" => {
                host::log("about to return");
                Ok("logged".to_string())
            }
            _ => Ok(input),
        }
    }
}

export_plugin!(Hostile);
