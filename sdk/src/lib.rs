//! Trust Authority SDK: grant vocabulary, holder proofs, attenuation, clients and provenance verification.
pub mod attenuate;
pub mod client;
pub mod clock;
pub mod datalog_caps;
pub mod deny;
pub mod derive;
pub mod duration;
pub mod error;
pub mod invocation;
pub mod keys;
pub mod lineage;
pub mod narrowing;
pub mod once_cache;
pub mod operation;
pub mod parameters;
pub mod path;
pub mod proof;
pub mod provenance;
pub mod revocation_target;
pub mod shell;
pub mod signed;
pub mod store_files;
pub mod structure;
pub mod vocabulary;

pub use error::SdkError;
