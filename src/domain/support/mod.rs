//! Support contacts and tickets, and the platform staff who handle tickets.

mod contacts;
mod staff;
mod tickets;

pub use contacts::*;
pub use staff::*;
pub use tickets::*;
