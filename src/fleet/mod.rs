//! Fleets: host mapping, the inventory, the crash store (Parquet) and the analytics on it.

pub mod analytics;
pub mod critical;
pub mod driver_inventory;
pub mod gate;
pub mod heartbeats;
pub mod inventory;
pub mod scan;
pub mod store;
