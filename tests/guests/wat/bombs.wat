;; A hand-written component core (no SDK, no language runtime) that attacks the
;; host's limits, chosen by the first letter of the request path:
;;   /table   grows a table 10,000 elements at a time until the host refuses
;;   /grow    grows linear memory 1 MiB at a time, touching every page, until refused
;;   /spin    loops forever (the epoch deadline must stop it)
;;   anything else answers 200 "ok"
;; The response record (status u16, headers list, body variant) is written at
;; address 0 and returned by pointer, as the Canonical ABI lays it out.
(module
  (memory (export "memory") 2)
  (table $t 1 funcref)
  (global $heap (mut i32) (i32.const 4096))
  (global $grown (mut i32) (i32.const 0))

  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $p) (local.get $size)))
    (block $fits
      (loop $more
        (br_if $fits (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
        (br $more)))
    (if (local.get $old) (then (memory.copy (local.get $p) (local.get $old) (local.get $old_size))))
    (local.get $p))

  (func $respond (param $status i32) (param $text i32) (param $len i32) (result i32)
    (i32.store16 (i32.const 0) (local.get $status))
    (i32.store (i32.const 4) (i32.const 0))
    (i32.store (i32.const 8) (i32.const 0))
    (i32.store8 (i32.const 12) (i32.const 0))
    (i32.store (i32.const 16) (local.get $text))
    (i32.store (i32.const 20) (local.get $len))
    (i32.const 0))

  (func (export "handle")
    (param $tag i32) (param $method i32) (param $method_len i32) (param $path i32) (param $path_len i32)
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    (local $c i32) (local $at i32)
    (if (i32.ge_u (local.get $path_len) (i32.const 2))
      (then (local.set $c (i32.load8_u (i32.add (local.get $path) (i32.const 1))))))
    (if (i32.eq (local.get $c) (i32.const 116)) ;; 't'
      (then
        (loop $grow
          (br_if $grow (i32.ne (table.grow $t (ref.null func) (i32.const 10000)) (i32.const -1))))
        (return (call $respond (i32.const 200) (i32.const 64) (i32.const 7)))))
    (if (i32.eq (local.get $c) (i32.const 103)) ;; 'g'
      (then
        (loop $grow
          (local.set $at (memory.grow (i32.const 16)))
          (if (i32.ne (local.get $at) (i32.const -1))
            (then
              (memory.fill (i32.mul (local.get $at) (i32.const 65536)) (i32.const 1) (i32.const 1048576))
              (br $grow))))
        (return (call $respond (i32.const 200) (i32.const 64) (i32.const 7)))))
    (if (i32.eq (local.get $c) (i32.const 115)) ;; 's'
      (then (loop $forever (br $forever))))
    (call $respond (i32.const 200) (i32.const 80) (i32.const 2)))

  (func (export "cabi_post_handle") (param i32))
  (data (i32.const 64) "limited")
  (data (i32.const 80) "ok"))
