use eventbus::Event;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(name)]
struct Named;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(version)]
struct Versioned;

#[derive(Event, serde::Serialize, serde::Deserialize)]
#[event(crate)]
struct Rooted;

fn main() {}
