// Renamed, a catch-all is known by type only, after the macro has run: the
// options that need one event type are then reported by the compiler.
use eventbus::prelude::*;
use eventbus::{AnyEvent as Everything, DeadEvent as Unhandled};

fn keep(_event: &Everything) -> bool {
    true
}

#[subscribe(filter = keep)]
fn audit(_event: &Everything) {}

#[subscribe(mode = "background")]
fn unhandled(_event: &Unhandled) {}

fn main() {}
