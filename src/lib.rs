//! TradeBot accounts: the library behind the `tradebot` binary. `main.rs` only
//! parses the command line; tests build the real application from here.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod errors;
pub mod exchange;
pub mod gateway;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod pages;
pub mod random;
pub mod retention;
pub mod routes;
pub mod second_factor;
pub(crate) mod secrets_file;
pub mod sessions;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod throttle;
pub mod tls;
pub mod vault;
