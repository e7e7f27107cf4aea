//! The authority's one wire edge: the tonic service, proto↔domain conversion, the streams,
//! signed-request authentication and the one mapping from domain errors to gRPC statuses.
//!
//! Below this module nothing names tonic or the generated types: handlers convert the
//! request, call a domain component with what it needs, and convert the answer back.

mod authenticate;
mod convert;
mod health;
mod listener;
pub mod server;
mod service;
mod status;
mod streams;
mod tool_registry;

pub use service::AuthorityApi;
