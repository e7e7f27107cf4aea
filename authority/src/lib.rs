//! Trust Authority: principals, profiles, explainable policy, holder-bound grants, durable registry.
pub mod approvals;
pub mod config;
mod derivation;
pub mod error;
pub mod health;
pub mod keyring;
pub mod minting;
pub mod policy;
pub mod principals;
pub mod profile;
pub mod registry;
pub mod request;
pub mod revocation;
pub mod server;
pub mod service;
mod status;
