//! Gathering: every read of a diagnosis, over the [`Reader`] port, into [`Facts`].
//!
//! The instance and its StateReason, the image's snapshots ([`image`]), the launching principal
//! and CloudTrail's KMS refusals ([`trail`]), the principal's identity policies (here), and each
//! key's description, policy and grants ([`keys`]). Anything that cannot be read becomes an
//! [`Unseen`] with what it means and how to see it; only the target itself failing is an error.

mod image;
mod keys;
mod trail;

use super::arn::arn_account;
use super::facts::{is_launch_failure, parse_rfc3339, policy_origin, Facts};
use super::types::{
    DiagnoseError, DiagnoseOptions, DiagnoseTarget, PolicyName, PrincipalInfo, Unseen,
};
use crate::policy::{self, PolicyDocument};
use crate::workflow::inventory::{IdentityPolicies, InstanceInfo};
use crate::workflow::ports::{Reader, Seen};
use image::KeyRefs;

/// Working state of one gathering.
struct Run<'a, R: Reader> {
    reader: &'a R,
    key_reader: Option<&'a R>,
    options: &'a DiagnoseOptions,
    unseen: Vec<Unseen>,
}

/// Read everything the diagnosis of `target` needs. `reader` reads the launch account and region;
/// `key_reader`, when given, the key's own account.
pub async fn gather<R: Reader>(
    reader: &R,
    key_reader: Option<&R>,
    target: &DiagnoseTarget,
    options: &DiagnoseOptions,
) -> Result<Facts, DiagnoseError> {
    let mut run = Run {
        reader,
        key_reader,
        options,
        unseen: Vec::new(),
    };
    let mut facts = Facts::new(
        target.clone(),
        reader.identity().account.clone(),
        reader.region().to_string(),
        options.now,
    );
    let mut key_refs = KeyRefs::default();
    match target {
        DiagnoseTarget::Instance {
            instance_id,
            principal,
        } => {
            let inst = run.instance(instance_id).await?;
            if let Some(t) = inst.launch_time.as_deref().and_then(parse_rfc3339) {
                facts.launch_time = t;
            }
            let failed = inst.state_reason.as_ref().is_some_and(is_launch_failure);
            if !failed {
                facts.instance = Some(inst);
                return Ok(facts);
            }
            for v in &inst.volumes {
                if let (Some(true), Some(k)) = (v.encrypted, &v.kms_key_id) {
                    key_refs.add(k, &v.volume_id);
                }
            }
            facts.principal = match principal {
                Some(p) => Some(PrincipalInfo::given(p)),
                None => run.launch_principal(&inst.id, facts.launch_time).await,
            };
            // The image's snapshots carry the key EC2 reads from (a borrower's volumes are
            // encrypted with its own default key), so read them even when volumes are known.
            if let Some(image_id) = &inst.image_id {
                facts.image = run.image_and_keys(image_id, &mut key_refs).await;
            }
            facts.instance = Some(inst);
        }
        DiagnoseTarget::Ami {
            image_id,
            principal,
        } => {
            facts.principal = Some(PrincipalInfo::given(principal));
            facts.image = run.image_and_keys(image_id, &mut key_refs).await;
        }
    }
    run.identity(&mut facts).await;
    if let DiagnoseTarget::Instance { .. } = target {
        facts.denials = run.denials(facts.launch_time).await;
    }
    for (key, used_by) in key_refs.into_refs() {
        facts.keys.push(run.key_facts(&key, used_by).await);
    }
    facts.unseen = std::mem::take(&mut run.unseen);
    if facts.principal.is_some() {
        for k in &mut facts.keys {
            run.key_use(k).await;
            k.unseen = std::mem::take(&mut run.unseen);
        }
    }
    Ok(facts)
}

impl<R: Reader> Run<'_, R> {
    async fn instance(&self, instance_id: &str) -> Result<InstanceInfo, DiagnoseError> {
        match self.reader.describe_instance(instance_id).await {
            Ok(i) => Ok(i),
            Err(e) if e.is_not_found() => Err(DiagnoseError::InstanceNotFound {
                instance_id: instance_id.to_string(),
                region: self.reader.region().to_string(),
                source: e,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The principal's identity policies: as read, by name on the principal, and parsed.
    async fn identity(&mut self, facts: &mut Facts) {
        let Some(p) = facts.principal.as_mut() else {
            return;
        };
        facts.identity = self.identity_policies(&p.arn).await;
        p.identity_policies = facts.identity.as_ref().map(|i| {
            i.policies
                .iter()
                .map(|d| PolicyName {
                    source: d.source,
                    name: d.name.clone(),
                    arn: d.arn.clone(),
                    group: d.group.clone(),
                })
                .collect()
        });
        if let Some(identity) = &facts.identity {
            facts.identity_docs = self.parse_identity(identity);
            facts.boundary = self.boundary(&identity.principal_arn).await;
        }
    }

    /// The principal's permissions boundary (read where its identity policies were).
    async fn boundary(&mut self, principal: &str) -> policy::Known<policy::Boundary> {
        use crate::workflow::guardrail_facts::BoundaryFact;
        let fact = match self.reader.permissions_boundary(principal).await {
            Ok(Seen::Visible(None)) => BoundaryFact::None,
            Ok(Seen::Visible(Some(b))) => BoundaryFact::Known(b),
            Ok(Seen::NotVisible(e)) | Err(e) => BoundaryFact::Unseen {
                reason: e.to_string(),
                command: crate::workflow::guardrail_facts::boundary_command(principal),
            },
        };
        fact.to_known()
    }

    fn parse_identity(&mut self, identity: &IdentityPolicies) -> Vec<PolicyDocument> {
        identity
            .policies
            .iter()
            .filter_map(
                |doc| match policy::parse_policy(&doc.document, &policy_origin(doc)) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        self.unseen.push(Unseen {
                            what: format!("identity policy `{}`", doc.name),
                            error: None,
                            meaning: format!(
                                "it could not be parsed ({e}), so it was left out of the analysis"
                            ),
                            how_to_see: "fix the policy document in IAM".to_string(),
                        });
                        None
                    }
                },
            )
            .collect()
    }

    async fn identity_policies(&mut self, principal: &str) -> Option<IdentityPolicies> {
        let me = &self.reader.identity().account;
        if arn_account(principal) != Some(me.as_str()) {
            self.unseen.push(Unseen {
                what: format!("identity policies of `{principal}`"),
                error: None,
                meaning: format!(
                    "the principal is not in account {me}; whether its IAM policies allow the KMS actions is unknown"
                ),
                how_to_see: "run `amishare diagnose` with credentials of the principal's account (`--profile`)".into(),
            });
            return None;
        }
        match self.reader.principal_policies(principal).await {
            Ok(Seen::Visible(p)) => Some(p),
            Ok(Seen::NotVisible(e)) | Err(e) => {
                self.unseen.push(Unseen {
                    what: format!("identity policies of `{principal}`"),
                    meaning: "whether the principal's IAM policies allow the KMS actions is unknown; identity-policy findings are reported as warnings, not causes".into(),
                    how_to_see: format!(
                        "aws iam list-attached-{0}-policies / list-{0}-policies (needs iam:List*/Get* on the principal)",
                        if principal.contains(":user/") { "user" } else { "role" }
                    ),
                    error: Some(e),
                });
                None
            }
        }
    }
}
