//! Process instances: the authority-block fact `process_instance(INSTANCE_ID, STEP)`, stated
//! on a grant minted for one step of one process instance. The executor copies it into every
//! provenance record of the grant, so provenance is queryable by instance.
//!
//! Only the authority block states it; the same fact in an appended block means nothing (a
//! holder cannot re-attribute its grant to another instance or step).

use biscuit_auth::builder::{self, Term};

use crate::error::SdkError;
use crate::structure::Structure;

/// The predicate of the process-instance fact.
pub const PROCESS_INSTANCE: &str = "process_instance";

/// One step of one process instance, as a grant states it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessStepRef {
    pub instance_id: String,
    pub step: String,
}

impl ProcessStepRef {
    /// `process_instance(INSTANCE_ID, STEP)`, for the authority block.
    pub fn fact(&self) -> builder::Fact {
        builder::fact(
            PROCESS_INSTANCE,
            &[
                builder::string(&self.instance_id),
                builder::string(&self.step),
            ],
        )
    }
}

/// The `process_instance` fact of a verified token's authority block, if it states one. Two
/// such facts, or one with other terms than two strings, make the grant invalid.
pub fn process_step_from_structure(
    structure: &Structure,
) -> Result<Option<ProcessStepRef>, SdkError> {
    let facts = structure
        .authority()?
        .facts_named(&[(PROCESS_INSTANCE, 2)])?;
    let mut found = None;
    for fact in facts {
        let [Term::Str(instance_id), Term::Str(step)] = fact.predicate.terms.as_slice() else {
            return Err(SdkError::InvalidGrant(
                "`process_instance` expects two strings".into(),
            ));
        };
        if found.is_some() {
            return Err(SdkError::InvalidGrant(
                "the authority block states more than one `process_instance`".into(),
            ));
        }
        found = Some(ProcessStepRef {
            instance_id: instance_id.clone(),
            step: step.clone(),
        });
    }
    Ok(found)
}
