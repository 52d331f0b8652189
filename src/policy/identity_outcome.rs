//! The identity side of a request alone, for actions that are not key uses (e.g. whether the
//! copier may attach `KmsKeyUsagePolicy` to itself: `iam:AttachRolePolicy` on its role).

use super::context::RequestContext;
use super::eval::{eval_statement, Outcome, StatementMatch};
use super::matching::Caller;
use super::model::{Effect, PolicyDocument};

/// The identity side alone for any action on any resource (e.g. `iam:AttachRolePolicy` on a
/// role): an explicit Deny wins, then an Allow, else `NoMatch`. Within one account identity
/// policies alone decide an IAM action (IAM user guide, "Policy evaluation logic"); permissions
/// boundaries, SCPs and session policies are not seen here.
pub fn identity_outcome(
    identity_policies: &[PolicyDocument],
    caller: &Caller,
    action: &str,
    resource: &str,
    ctx: &RequestContext,
) -> Outcome {
    let action_lc = action.to_ascii_lowercase();
    let mut allowed = false;
    for doc in identity_policies {
        for st in &doc.statements {
            if let StatementMatch::Matched(_) =
                eval_statement(st, caller, &action_lc, resource, false, ctx)
            {
                match st.effect {
                    Effect::Deny => return Outcome::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
    }
    if allowed {
        Outcome::Allow
    } else {
        Outcome::NoMatch
    }
}
