//! Trust Authority: principals, profiles, explainable policy, holder-bound grants, durable registry.
pub mod agents;
pub mod answer;
pub mod approvals;
pub mod config;
pub mod decision;
mod derivation;
pub mod error;
pub mod feed_signing;
pub mod issuer;
pub mod keyring;
pub mod metrics;
pub mod minting;
pub mod policy;
pub mod principals;
pub mod profile;
pub mod registry;
pub mod replay_caches;
pub mod request;
pub mod revocation;
pub mod rpc;
pub mod tool_registry;

pub use rpc::server;
