//! [`Bus::graph`]: the wiring of a bus as a Mermaid flowchart.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::bus::Bus;

impl Bus {
    /// The bus's handlers as a Mermaid flowchart: an edge from each event
    /// to each of its handlers, and a dotted edge from a handler to each
    /// event it declares with `#[subscribe(publishes = [..])]`. Paste it
    /// into a Markdown file (in a `mermaid` code block) to see the flow.
    ///
    /// ```
    /// use eventbus::prelude::*;
    ///
    /// #[derive(Event, serde::Serialize, serde::Deserialize)]
    /// struct Placed;
    ///
    /// #[derive(Event, serde::Serialize, serde::Deserialize)]
    /// struct Charged;
    ///
    /// #[subscribe(publishes = [Charged])]
    /// fn charge(_: &Placed, ctx: &Context) {
    ///     ctx.publish(Charged);
    /// }
    ///
    /// let graph = Bus::new().graph();
    /// assert!(graph.starts_with("flowchart LR\n"));
    /// assert!(graph.contains(r#"e0(["Charged"])"#));
    /// assert!(graph.contains(r#"e1(["Placed"])"#));
    /// assert!(graph.contains(r#"h0["rust_out::charge"]"#));
    /// assert!(graph.contains("e1 --> h0"));
    /// assert!(graph.contains("h0 -.-> e0"));
    /// ```
    #[must_use]
    pub fn graph(&self) -> String {
        let handlers = self.handlers();
        let mut events: BTreeMap<&'static str, usize> = BTreeMap::new();
        for handler in &handlers {
            events.entry(handler.event_name()).or_default();
            for published in handler.publishes() {
                events.entry(published).or_default();
            }
        }
        for (at, id) in events.values_mut().enumerate() {
            *id = at;
        }
        let mut out = String::from("flowchart LR\n");
        for (name, id) in &events {
            let _ = writeln!(out, "    e{id}([\"{}\"])", label(name));
        }
        for (at, handler) in handlers.iter().enumerate() {
            let mut name = label(handler.handler_name());
            if let Some(group) = handler.group() {
                let _ = write!(name, " [{}]", label(group));
            }
            let _ = writeln!(out, "    h{at}[\"{name}\"]");
            let _ = writeln!(out, "    e{} --> h{at}", events[handler.event_name()]);
            for published in handler.publishes() {
                let _ = writeln!(out, "    h{at} -.-> e{}", events[published]);
            }
        }
        out
    }
}

/// A name as a Mermaid label: quotes and angle brackets escaped.
fn label(name: &str) -> String {
    name.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}
