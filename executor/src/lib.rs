//! Tool executor: admission of holder-bound grants, confined structured operations, provenance.
//!
//! `rpc` is the one wire edge; everything else is domain code that names no generated type.
pub mod admission;
pub mod admission_bounds;
pub mod bounded_cache;
pub mod check;
pub mod config;
// Governed context retrieval (`context.retrieve`).
pub mod context;
pub mod egress_proxy;
pub mod error;
pub mod execution;
pub mod grant_uses;
pub mod http_admission;
pub mod mcp_admission;
pub mod mcp_listing;
pub mod mcp_upstream;
pub mod metrics;
pub mod net;
pub mod operations;
pub mod provenance_log;
pub mod rpc;
pub mod run_binding;
pub mod secrets;
pub mod shell_admission;
pub mod tool_catalog;
// tool.invoke: catalog lookup, schema, upstream (tool_admission.rs); ListTools/DescribeTool.
pub mod tool_admission;
pub mod tool_call;
pub mod tool_listing;
pub mod trust_alarm;
pub mod trust_state;
pub mod workspace;

pub use rpc::server;
