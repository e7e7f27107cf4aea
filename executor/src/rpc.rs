//! The executor's one wire edge: every tonic service impl, every proto↔domain conversion, the
//! streams, the client of the authority's feed, and the one place refusals become statuses.
//!
//! Handlers convert the request (`convert.rs`), call the domain ([`crate::execution`],
//! [`crate::provenance_log`]) and convert back. Below this module nothing names `tonic` or the
//! generated `trust_proto` types (a tidy test checks it).

mod audit;
pub mod authority_channel;
pub mod authority_feed;
mod convert;
mod listener;
mod secret_admin;
// MCP front (`tool-executor mcp`): an MCP server whose every call is an `Execute` here.
pub mod mcp;
pub mod server;
mod service;
mod status;

pub use convert::execute_call;
pub use service::ExecutorApi;
