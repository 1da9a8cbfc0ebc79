//! Thin handlers: HTTP in, a call to an area, a page or JSON out.

pub mod api;
pub mod gateway;
pub mod health;
pub mod html;
pub mod metrics;
