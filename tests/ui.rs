//! Compile tests of `#[derive(Event)]`, `#[subscribe]` and `#[upcast]`, run
//! with trybuild.
//!
//! `tests/ui/<macro>/pass/*.rs` must compile and run (each builds a `Bus`
//! and publishes); `tests/ui/<macro>/fail/*.rs` must fail to compile with
//! exactly the errors recorded beside them in `.stderr`: one case for every
//! message the macros write, and for the trait errors users meet most.
//! Re-record the snapshots with
//! `TRYBUILD=overwrite cargo test --all-features --test ui`,
//! then read every changed `.stderr` as a user would.

#[rustversion::attr(
    not(stable(1.95)),
    ignore = "trybuild snapshots are recorded with rustc 1.95; other compilers word errors differently"
)]
// rustc shortens a path in a message only when no crate in the build has
// another item of that name (`dyn Any`, or `dyn std::any::Any` once the
// store's dependencies are in): the snapshots are recorded with every
// feature on, as the README's test command builds.
#[cfg_attr(
    not(feature = "store"),
    rustversion::attr(
        stable(1.95),
        ignore = "trybuild snapshots are recorded with --all-features; run `cargo test --workspace --all-features`"
    )
)]
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/*/pass/*.rs");
    t.compile_fail("tests/ui/*/fail/*.rs");
}
