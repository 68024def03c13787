;; A hand-written component core that blocks inside WASI, where the epoch deadline
;; cannot reach it: on any path starting with `/s` it subscribes to a 20 s timer and
;; blocks on it; anything else answers 200 "awake". Built against world `sleeper`
;; (wasmlet's function world plus wasi:clocks/monotonic-clock and wasi:io/poll).
(module
  (import "wasi:clocks/monotonic-clock@0.2.0" "subscribe-duration" (func $subscribe (param i64) (result i32)))
  (import "wasi:io/poll@0.2.0" "[method]pollable.block" (func $block (param i32)))
  (memory (export "memory") 2)
  (global $next (mut i32) (i32.const 4096))

  (func (export "cabi_realloc") (param i32 i32) (param $align i32) (param $size i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $next))
    (global.set $next (i32.and (i32.add (i32.add (global.get $next) (local.get $size)) (i32.const 15))
                               (i32.const -16)))
    (local.get $at))

  (func (export "handle")
    (param $tag i32) (param $method i32) (param $method_len i32) (param $path i32) (param $path_len i32)
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    (if (i32.and (i32.ge_u (local.get $path_len) (i32.const 2))
                 (i32.eq (i32.load8_u (i32.add (local.get $path) (i32.const 1))) (i32.const 115)))
      (then (call $block (call $subscribe (i64.const 20000000000)))))
    (i32.store16 (i32.const 0) (i32.const 200))
    (i32.store (i32.const 4) (i32.const 0))
    (i32.store (i32.const 8) (i32.const 0))
    (i32.store8 (i32.const 12) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 64))
    (i32.store (i32.const 20) (i32.const 5))
    (i32.const 0))

  (func (export "cabi_post_handle") (param i32))
  (data (i32.const 64) "awake"))
