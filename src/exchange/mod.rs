//! The exchange: Binance's request signing and the key-permission check.

pub mod binance;
pub mod signer;

pub use binance::{CheckOutcome, ExchangeClient};
