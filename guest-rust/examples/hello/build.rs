fn main() {
    wasmlet_guest::build::embed_dir("static");
}
