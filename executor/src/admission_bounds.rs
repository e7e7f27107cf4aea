//! Bounds on admission work, so that no request (and no client) can hold the executor.
//!
//! At most `max_concurrent_admissions` admissions run at once; a request that waits longer
//! than `admission_wait` for a place is refused (`RESOURCE_EXHAUSTED`, check
//! `admission-capacity`). Datalog never runs on the async workers: it runs on the blocking pool,
//! at most `datalog_workers` evaluations at once, each within `datalog_budget` of wall-clock
//! time; an evaluation that overruns is refused (check `datalog-budget`) at once. Biscuit
//! itself stops the evaluation at its next iteration ([`AuthorizerLimits::max_time`] is the
//! same budget), and the static caps ([`DatalogCaps`]) bound the work of one iteration.

use std::sync::Arc;
use std::time::Duration;

use biscuit_auth::AuthorizerLimits;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use trust_sdk::datalog_caps::DatalogCaps;

use crate::error::Refusal;

/// The `[admission]` section of the executor's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionBounds {
    /// Static caps on the appended blocks' Datalog, checked before it is evaluated.
    pub datalog: DatalogCaps,
    /// Wall-clock budget of one request's Datalog evaluation.
    pub datalog_budget: Duration,
    /// Facts the authorizer may derive in one evaluation.
    pub datalog_max_facts: u64,
    /// Iterations the authorizer may run in one evaluation.
    pub datalog_max_iterations: u64,
    /// Datalog evaluations at once (each on its own blocking thread).
    pub datalog_workers: usize,
    /// Admissions at once, over all connections.
    pub max_concurrent_admissions: usize,
    /// How long a request may wait for an admission place (or a Datalog worker).
    pub admission_wait: Duration,
    /// Requests one connection may have in progress at once.
    pub max_requests_per_connection: usize,
}

impl Default for AdmissionBounds {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            datalog: DatalogCaps::default(),
            // A legitimate grant authorizes in well under a millisecond (release) and tens of
            // milliseconds in a debug build under load.
            datalog_budget: Duration::from_millis(250),
            datalog_max_facts: 2_000,
            datalog_max_iterations: 200,
            datalog_workers: cores.max(2),
            max_concurrent_admissions: 256,
            admission_wait: Duration::from_millis(500),
            max_requests_per_connection: 64,
        }
    }
}

impl AdmissionBounds {
    /// The run limits biscuit checks between iterations: the same budget as the wall clock.
    pub fn authorizer_limits(&self) -> AuthorizerLimits {
        AuthorizerLimits {
            max_facts: self.datalog_max_facts,
            max_iterations: self.datalog_max_iterations,
            max_time: self.datalog_budget,
        }
    }
}

/// The semaphores that enforce [`AdmissionBounds`] in one executor.
pub struct AdmissionGate {
    admissions: Arc<Semaphore>,
    datalog: Arc<Semaphore>,
    bounds: AdmissionBounds,
}

impl AdmissionGate {
    pub fn new(bounds: AdmissionBounds) -> Self {
        Self {
            admissions: Arc::new(Semaphore::new(bounds.max_concurrent_admissions.max(1))),
            datalog: Arc::new(Semaphore::new(bounds.datalog_workers.max(1))),
            bounds,
        }
    }

    pub fn bounds(&self) -> &AdmissionBounds {
        &self.bounds
    }

    /// A place among the concurrent admissions, held until the returned permit is dropped.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        acquire(
            &self.admissions,
            self.bounds.admission_wait,
            "admission-capacity",
            "the executor is admitting as many requests as it may; retry shortly",
        )
        .await
    }

    /// Runs `evaluate` on the blocking pool within the Datalog budget: its result, or a
    /// `datalog-budget` refusal as soon as the budget has passed.
    pub async fn evaluate<T, F>(&self, evaluate: F) -> Result<T, Refusal>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, Refusal> + Send + 'static,
    {
        let permit = acquire(
            &self.datalog,
            self.bounds.admission_wait,
            "datalog-capacity",
            "every Datalog worker is busy; retry shortly",
        )
        .await?;
        let budget = self.bounds.datalog_budget;
        let running = tokio::task::spawn_blocking(move || {
            // The worker place is freed only when the evaluation really ends.
            let _permit = permit;
            evaluate()
        });
        match tokio::time::timeout(budget, running).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(Refusal::new(
                crate::error::RefusalKind::Internal,
                "datalog-budget",
                format!("the Datalog evaluation failed: {e}"),
            )),
            Err(_) => Err(budget_refusal(budget)),
        }
    }
}

/// The refusal of an evaluation that did not finish within `budget`.
pub fn budget_refusal(budget: Duration) -> Refusal {
    Refusal::denied(
        "datalog-budget",
        format!(
            "the grant's Datalog did not finish within its budget of {} ms",
            budget.as_millis()
        ),
    )
}

async fn acquire(
    semaphore: &Arc<Semaphore>,
    wait: Duration,
    check: &'static str,
    message: &'static str,
) -> Result<OwnedSemaphorePermit, Refusal> {
    match tokio::time::timeout(wait, Arc::clone(semaphore).acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_)) => Err(Refusal::unavailable(check, "the executor is shutting down")),
        Err(_) => Err(Refusal::exhausted(check, message)),
    }
}
