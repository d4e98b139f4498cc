//! Compile tests of `#[derive(Event)]`, `#[subscribe]` and `#[upcast]`, run
//! with trybuild.
//!
//! `tests/ui/<macro>/pass/*.rs` must compile and run (each builds a `Bus`
//! and publishes); `tests/ui/<macro>/fail/*.rs` must fail to compile with
//! exactly the errors recorded beside them in `.stderr`: one case for every
//! message the macros write, and for the trait errors users meet most.
//! Re-record the snapshots with `TRYBUILD=overwrite cargo test --test ui`,
//! then read every changed `.stderr` as a user would.

#[rustversion::attr(
    not(stable(1.95)),
    ignore = "trybuild snapshots are recorded with rustc 1.95; other compilers word errors differently"
)]
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/*/pass/*.rs");
    t.compile_fail("tests/ui/*/fail/*.rs");
}
