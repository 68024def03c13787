//! A test guest that round-trips every WIT type through the generated glue.

mod bindings;

use bindings::host_funcs;
use bindings::*;

struct Kitchen;

impl RoundtripGuest for Kitchen {
    fn echo(e: Everything) -> Everything {
        e
    }

    fn echo_shapes(s: Vec<Shape>) -> Vec<Shape> {
        s
    }

    fn via_host(e: Everything) -> Everything {
        host_funcs::echo(&e)
    }

    fn host_checks() -> Vec<String> {
        host_funcs::ping();
        vec![
            format!("add={}", host_funcs::add(40, 2)),
            format!("sum={}", host_funcs::sum_many(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17)),
            format!("ok={:?}", host_funcs::maybe_fail(false)),
            format!("err={:?}", host_funcs::maybe_fail(true)),
            format!("half={}", host_funcs::half(5.0)),
        ]
    }

    fn sum_many(
        a: u64, b: u64, c: u64, d: u64, e: u64, f: u64, g: u64, h: u64, i: u64,
        j: u64, k: u64, l: u64, m: u64, n: u64, o: u64, p: u64, q: u64,
    ) -> u64 {
        a + b + c + d + e + f + g + h + i + j + k + l + m + n + o + p + q
    }

    fn echo_bytes(b: Vec<u8>) -> Vec<u8> {
        b
    }
}

impl KitchenGuest for Kitchen {
    fn double(x: u32) -> u32 {
        x.wrapping_mul(2)
    }
}

export_kitchen!(Kitchen);
