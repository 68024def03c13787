//! A Rust test guest that uses host-defined resources through the generated glue (world `guest`).

mod bindings;

use bindings::counters;
use bindings::*;

struct Guest;

impl GuestGuest for Guest {
    fn run(scenario: String) -> String {
        match scenario.as_str() {
            "basic" => {
                let a = Counter::new(5);
                let b = Counter::new(10);
                let added = a.add(3);
                format!("{} {} {} {}", added, a.value(), b.value(), counters::live())
            }
            "merge" => {
                let a = Counter::new(5);
                let b = Counter::new(10);
                Counter::merge(&a, &b).value().to_string()
            }
            "total" => {
                let made = counters::make(4);
                let lent: Vec<&Counter> = made.iter().collect();
                counters::total(&lent).to_string()
            }
            "drops" => {
                let kept = Counter::new(1);
                for i in 0..5 {
                    drop(Counter::new(i));
                }
                let gone = Counter::new(2);
                drop(gone);
                format!("live={} kept={}", counters::live(), kept.value())
            }
            "nested" => {
                let made = counters::make(4);
                let values: Vec<u32> = made.iter().map(|c| c.value()).collect();
                let some = counters::maybe(true).map(|c| c.value().to_string()).unwrap_or_default();
                let none = if counters::maybe(false).is_none() { "None" } else { "Some" };
                let ok = counters::checked(7).map(|c| c.value().to_string()).unwrap_or_default();
                let err = counters::checked(-1).err().unwrap_or_default();
                let pair = counters::make_pair();
                format!("made={:?} some={} none={} ok={} err={} pair={},{} live={}", values, some, none, ok, err,
                        pair.left.value(), pair.right.value(), counters::live())
            }
            "take" => {
                let c = Counter::new(41);
                c.add(1);
                let got = counters::take(c);
                format!("took={} live={}", got, counters::live())
            }
            "forged" => {
                // A handle number this guest never received: the canonical ABI traps.
                let fake = unsafe { Counter::from_handle(12345) };
                fake.value().to_string()
            }
            "flood" => {
                let kept: Vec<Counter> = (0..20_000).map(Counter::new).collect(); // the host stops this
                kept.len().to_string()
            }
            other => format!("unknown scenario {}", other),
        }
    }
}

export_guest!(Guest);
