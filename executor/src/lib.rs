//! Tool executor: admission of holder-bound grants, confined structured operations, provenance.
pub mod admission;
pub mod bounded_cache;
pub mod config;
pub mod error;
pub mod operations;
pub mod provenance_log;
pub mod server;
pub mod service;
mod status;
pub mod trust_state;
pub mod workspace;
