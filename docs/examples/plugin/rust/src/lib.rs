//! A plugin for world `example:plugin/plugin`, in Rust.

mod bindings;

use bindings::{host, PluginGuest};

struct Shout;

impl PluginGuest for Shout {
    fn transform(input: String) -> Result<String, String> {
        host::log(&format!("transforming {} bytes", input.len()));
        if input.trim().is_empty() {
            return Err("nothing to transform".to_string());
        }
        Ok(input.to_uppercase())
    }
}

export_plugin!(Shout);
