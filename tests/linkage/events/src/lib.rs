//! Test fixture: an event whose handler lives in `linkage-handlers`, so the
//! tests can link that crate or leave it out.

#![forbid(unsafe_code)]

use eventbus::Event;

/// Published by the linkage tests.
#[derive(Event, Debug, serde::Serialize, serde::Deserialize)]
pub struct InvoiceIssued {
    /// The invoice's number.
    pub number: u32,
}
