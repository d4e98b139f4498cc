//! Test fixture: the only handler of `linkage_events::InvoiceIssued`.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use eventbus::subscribe;
use linkage_events::InvoiceIssued;

/// How many invoices `file_invoice` has seen.
pub static FILED: AtomicUsize = AtomicUsize::new(0);

/// Files each invoice.
#[subscribe]
fn file_invoice(_: &InvoiceIssued) {
    FILED.fetch_add(1, Ordering::Relaxed);
}
