//! Why a step failed, typed: the report and the journal show its text (exactly as before the
//! type existed), the code keeps its meaning.

use crate::workflow::ports::AwsError;
use crate::workflow::waiters::ImageWaitError;

/// A step's failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    /// An AWS call failed (its code, message and request id are in the error).
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The world is not what the plan saw (a key policy changed since discovery, or reads back
    /// other than written): nothing is overwritten.
    #[error("{0}")]
    Drift(String),
    /// Something the step needs is not there or not readable (a key policy, an image to launch),
    /// or the change cannot be made safely (a key policy edit refused).
    #[error("{0}")]
    Precondition(String),
    /// Ctrl-C.
    #[error("{0}")]
    Interrupted(String),
    /// AWS did not finish in time.
    #[error("{0}")]
    Timeout(String),
    /// What the step waited on disappeared.
    #[error("{0}")]
    Gone(String),
    /// AWS finished the work and it failed (a failed copy, a failed test launch).
    #[error("{0}")]
    Failed(String),
    /// The journal could not record the step (the step was not attempted).
    #[error("{0}")]
    Journal(String),
    /// A step reached a pipeline that does not run it: a bug in amishare.
    #[error("internal: {0}")]
    Internal(String),
}

impl StepError {
    /// A failed wait for the copy `image_id`.
    pub fn from_copy_wait(image_id: &str, e: ImageWaitError) -> Self {
        match e {
            ImageWaitError::Interrupted => {
                StepError::Interrupted(format!("interrupted while waiting for copy {image_id}"))
            }
            ImageWaitError::Gone => StepError::Gone(format!("copy {image_id} disappeared")),
            ImageWaitError::Failed { state, reason } => StepError::Failed(format!(
                "copy {image_id} is `{state}`{}",
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            )),
            ImageWaitError::Timeout { state, secs } => {
                StepError::Timeout(format!("copy {image_id} still `{state}` after {secs} s"))
            }
            ImageWaitError::Aws(e) => StepError::Aws(e),
        }
    }
}

impl From<crate::workflow::key_policy::EditError> for StepError {
    fn from(e: crate::workflow::key_policy::EditError) -> Self {
        use crate::workflow::key_policy::EditError as K;
        match e {
            K::Aws(e) => StepError::Aws(e),
            K::Refused(m) => StepError::Precondition(m),
            K::Drift(m) => StepError::Drift(m),
            K::Journal(m) => StepError::Journal(m),
            K::Interrupted => StepError::Interrupted(K::Interrupted.to_string()),
        }
    }
}

/// A step's outcome: what it wrote (for the journal's `after`), or why it failed.
pub type StepResult<T = Option<String>> = Result<T, StepError>;

/// The journal's form of an outcome (its format keeps the error text).
pub fn for_journal(outcome: &StepResult) -> Result<Option<String>, String> {
    outcome.clone().map_err(|e| e.to_string())
}
