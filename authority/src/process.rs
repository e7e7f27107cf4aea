//! Process instances (issue 16): headless agents under process definitions.
//!
//! `instance.rs` the instance and its rules (pure), `store.rs` its durable store, `desk.rs`
//! starting instances and recording step transitions, `step_grant.rs` grants for the current
//! step of an instance, `step_revocation.rs` revoking them when the step completes. The
//! definitions themselves are the profile's `[[process]]` tables (`profile/process_def.rs`).

pub mod desk;
pub mod instance;
pub mod step_grant;
pub mod step_revocation;
pub mod store;

pub use desk::{Completion, ProcessDesk, Start};
pub use instance::{InstanceStatus, ProcessInstance, StepGrant, StepRecord};
pub use store::InstanceStore;
