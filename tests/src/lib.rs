//! Test kit: starts the real `trust-authority` and `tool-executor` binaries on loopback.
//!
//! Used by the end-to-end tests, the attack table, the demo and the benchmarks, so
//! every one of them exercises real processes, real sled files and real gRPC.

pub mod binaries;
pub mod cluster;
pub mod datalog_attacks;
pub mod faults;
pub mod json_api;
pub mod process;
pub mod tls;

pub use cluster::{Cluster, ClusterOptions};
