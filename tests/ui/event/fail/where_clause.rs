use eventbus::prelude::*;

#[derive(Event, serde::Serialize, serde::Deserialize)]
struct PriceChanged
where
    u32: Copy,
{
    price: u32,
}

fn main() {}
