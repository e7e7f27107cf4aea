//! Trust Authority SDK: grant vocabulary, holder proofs, attenuation, clients and provenance verification.
pub mod attenuate;
pub mod client;
pub mod deny;
pub mod derive;
pub mod error;
pub mod keys;
pub mod lineage;
pub mod once_cache;
pub mod parameters;
pub mod proof;
pub mod provenance;
pub mod shell;
pub mod signed;
pub mod vocabulary;

pub use error::SdkError;
