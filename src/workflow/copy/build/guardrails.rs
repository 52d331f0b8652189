//! Guardrails in the plan (docs/DOMAIN.md "Guardrails"): before the first change, every target
//! principal that uses a source key (the copier, or the launchers with `--share-only`) is
//! checked against the layers amishare cannot change, as they will be once the plan has fixed
//! what it can (the source key policy names the account, its IAM allows the key): the SCPs on
//! the target account's path, the RCPs of the source organization, the principal's permissions
//! boundary. A layer that denies, or an Allowed AMIs setting (or EC2 declarative policy) of a
//! target region that excludes the source account (a shared AMI can then be neither copied nor
//! launched), leaves the account out: [`exclude_blocked`] drops it from the targets before any
//! step is planned (nothing shared with it, the key policy does not name it) and the plan lists
//! it with its causes. In copy mode, a target region whose copy key (`--target-key`, or the
//! EBS default key) is not enabled or not a symmetric encryption key leaves its account out the
//! same way. When every target is left out, the causes become blockers.
//!
//! A layer that could not be read is not a cause: the engine's verdict is `undecided` and the
//! plan's notes carry the command that shows it.

use super::{blockers, source_key_users};
use crate::domain::arn::assumed_role_arn;
use crate::policy::{self, findings, Finding, Severity};
use crate::workflow::allowed_images::{decide, AllowedImagesDecision, ImageView};
use crate::workflow::copy::facts::{Discovery, KeyFacts, TargetFacts};
use crate::workflow::guardrail_facts::AllowedImagesFact;
use crate::workflow::plan::{Blocker, BlockerCode, ExcludedAccount, GuardrailCause, PlanOptions};

/// What the guardrails leave out, and what could not be read.
#[derive(Debug, Default)]
pub struct GuardrailPass {
    pub excluded: Vec<ExcludedAccount>,
    /// `unseen` layers, with the command that shows each.
    pub notes: Vec<String>,
}

/// The principals of `t` that use the source keys: the copier (copy mode; with `--share-only`
/// it launches the original) and the `--grant` launchers that use the source key.
fn principals(t: &TargetFacts, opts: &PlanOptions) -> Vec<(String, policy::Operation)> {
    let mut out = Vec::new();
    if let Some(id) = &t.identity {
        let op = if opts.share_only {
            policy::Operation::Launch
        } else {
            policy::Operation::Copy
        };
        out.push((id.arn.clone(), op));
    }
    for p in source_key_users(t, opts) {
        let copier = t.identity.as_ref().is_some_and(|id| {
            p.arn == id.arn || assumed_role_arn(&id.arn).as_deref() == Some(p.arn.as_str())
        });
        if !copier {
            out.push((p.arn.clone(), policy::Operation::Launch));
        }
    }
    out
}

/// The key as the plan leaves it: its policy names `account` for the actions the operation
/// needs (seed 004's statements), and the principal's IAM allows them on the key.
fn fixed_key(
    k: &KeyFacts,
    account: &str,
    op: policy::Operation,
) -> Option<(policy::KeyInfo, Vec<policy::PolicyDocument>)> {
    let actions: Vec<String> = op
        .required_actions_on(k.description.account != account)
        .iter()
        .map(|a| (*a).to_string())
        .collect();
    let root = format!("arn:aws:iam::{account}:root");
    let mut statements = findings::key_statements_for(&actions, &[root]);
    statements.push(serde_json::json!({
        "Sid": "KeyOwner",
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{}:root", k.description.account)},
        "Action": "kms:*",
        "Resource": "*"
    }));
    let kp = serde_json::json!({"Version": "2012-10-17", "Statement": statements});
    let id = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": findings::identity_statements_for(&actions, &k.description.arn)
    });
    Some((
        policy::KeyInfo {
            arn: k.description.arn.clone(),
            manager: policy::KeyManager::Customer,
            policy: Some(policy::parse_policy_value(&kp, "key policy after the plan").ok()?),
            grants: Vec::new(),
        },
        vec![policy::parse_policy_value(&id, "KmsKeyUsagePolicy").ok()?],
    ))
}

fn cause_of(f: &Finding, principal: &str) -> Option<GuardrailCause> {
    let layer = f.layer?;
    Some(GuardrailCause {
        layer: layer.as_str().to_string(),
        policy: f.policy.clone(),
        principal: Some(principal.to_string()),
        region: None,
        message: f.message.clone(),
        fix: f
            .fix
            .as_ref()
            .map(|x| {
                let mut s = x.summary.clone();
                if let Some(c) = x.commands.first() {
                    s.push_str(&format!(" (`{c}`)"));
                }
                s
            })
            .unwrap_or_default(),
    })
}

/// The guardrail causes of one target account on the source keys.
fn policy_causes(
    d: &Discovery,
    opts: &PlanOptions,
    t: &TargetFacts,
    keys: &[&KeyFacts],
    notes: &mut Vec<String>,
) -> Vec<GuardrailCause> {
    let mut causes: Vec<GuardrailCause> = Vec::new();
    let org = opts
        .org_targets
        .as_ref()
        .map(|o| o.caller_org_facts(&t.account))
        .unwrap_or_default();
    for (arn, op) in principals(t, opts) {
        let guardrails = d.guardrails.for_principal(&t.account, &arn);
        if guardrails.is_empty() {
            continue;
        }
        for k in keys {
            let Some((key, ids)) = fixed_key(k, &t.account, op) else {
                continue;
            };
            let ctx = policy::CallerContext {
                region: Some(k.description.region.clone()),
                org_id: org.0.clone(),
                org_paths: org.1.clone(),
                guardrails: guardrails.clone(),
                ..policy::CallerContext::default()
            };
            let Ok(a) = policy::analyze(&policy::AnalysisRequest {
                key: &key,
                principal: &arn,
                identity_policies: &ids,
                operation: op,
                context: &ctx,
            }) else {
                continue;
            };
            for f in &a.findings {
                if f.code == policy::FindingCode::GuardrailUnseen {
                    if !notes.contains(&f.message) {
                        notes.push(f.message.clone());
                    }
                } else if f.severity == Severity::Error {
                    if let Some(c) = cause_of(f, &arn) {
                        if !causes.contains(&c) {
                            causes.push(c);
                        }
                    }
                }
            }
        }
    }
    causes
}

/// Allowed AMIs of each target region that excludes the source image (its age counted at
/// `now`, the plan's creation time: plan building reads no clock).
fn allowed_images_causes(
    d: &Discovery,
    opts: &PlanOptions,
    t: &TargetFacts,
    now: Option<chrono::DateTime<chrono::Utc>>,
    notes: &mut Vec<String>,
) -> Vec<GuardrailCause> {
    let owner = d
        .image
        .owner
        .clone()
        .unwrap_or_else(|| d.source.account.clone());
    if owner == t.account {
        return Vec::new();
    }
    let age_days = d
        .image
        .creation_date
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .zip(now)
        .map(|(c, now)| (now - c.with_timezone(&chrono::Utc)).num_days());
    let view = ImageView {
        owner: &owner,
        name: d.image.name.as_deref(),
        age_days,
    };
    let mut out = Vec::new();
    for region in &opts.target_regions {
        match d
            .guardrails
            .allowed_images
            .get(&format!("{}/{region}", t.account))
        {
            None => {}
            Some(AllowedImagesFact::Unseen { reason, command }) => {
                notes.push(format!(
                    "Allowed AMIs of account {} in {region} could not be read ({reason}); check with `{command}`",
                    t.account
                ));
            }
            Some(AllowedImagesFact::Known(s)) => {
                if let AllowedImagesDecision::Blocked {
                    managed_by_declarative_policy,
                    command,
                    ..
                } = decide(s, &view, region)
                {
                    let who = if managed_by_declarative_policy {
                        "ask the organization's administrator to add it to the EC2 declarative policy's allowed_images_settings (the account cannot change a setting a declarative policy manages)".to_string()
                    } else {
                        format!(
                            "in account {}, add a criterion with ImageProviders [{owner}]",
                            t.account
                        )
                    };
                    out.push(GuardrailCause {
                        layer: "allowed-amis".into(),
                        policy: managed_by_declarative_policy.then(|| "declarative-policy".to_string()),
                        principal: None,
                        region: Some(region.clone()),
                        message: format!(
                            "Allowed AMIs of account {} in {region} is enabled and no criterion allows images of account {owner}: the shared AMI can be neither copied nor launched",
                            t.account
                        ),
                        fix: format!("{who} (`{command}`)"),
                    });
                }
            }
        }
    }
    out
}

/// Copy mode: the key each target region's copy is encrypted with (`--target-key`, or the EBS
/// default key), as discovery described it. A key that is not `Enabled`, or not a symmetric
/// encryption key, makes CopyImage fail in that account (the target owns the key: amishare
/// does not change it), so the account is left out with the fix. A key that was not described
/// (the AWS managed `aws/ebs`, or DescribeKey failed) is not a cause.
fn target_key_causes(opts: &PlanOptions, t: &TargetFacts) -> Vec<GuardrailCause> {
    if opts.share_only {
        return Vec::new();
    }
    let mut out = Vec::new();
    for r in &t.regions {
        let key = r.copy_key.as_ref().or(r.ebs_default_key.as_ref());
        let Some(desc) = key.and_then(|k| k.description.as_ref()) else {
            continue;
        };
        let other = if r.copy_key.is_some() {
            "or rerun with `--target-key` naming an enabled symmetric key of the account"
        } else {
            "or set an enabled symmetric key as the EBS default (`aws ec2 modify-ebs-default-kms-key-id`), or rerun with `--target-key`"
        };
        let problem = match blockers::unusable_spec(desc) {
            Some(why) => Some((
                "key-spec",
                why,
                "use a symmetric encryption key".to_string(),
            )),
            None => blockers::state_problem(desc).map(|(_, m, f)| ("key-state", m, f)),
        };
        if let Some((layer, message, fix)) = problem {
            out.push(GuardrailCause {
                layer: layer.into(),
                policy: Some(desc.arn.clone()),
                principal: None,
                region: Some(r.region.clone()),
                message: format!(
                    "the copy in account {} region {} would be encrypted with {message}",
                    t.account, r.region
                ),
                fix: format!("in account {}, {fix}, {other}", t.account),
            });
        }
    }
    out
}

/// The organization layers discovery did not read (no `--org-profile`): one note for the SCPs
/// of the target accounts, one for the RCPs of the source key's account. They are `unseen`,
/// never a clean allow, but not blockers: the accounts may not be in an organization at all.
fn unread_org_layers(d: &Discovery, keys: &[&KeyFacts]) -> Vec<String> {
    let mut notes = Vec::new();
    if d.targets.is_empty() || keys.is_empty() {
        return notes;
    }
    let unread: Vec<&str> = d
        .targets
        .iter()
        .map(|t| t.account.as_str())
        .filter(|a| !d.guardrails.scps.contains_key(*a))
        .collect();
    if !unread.is_empty() {
        const SHOWN: usize = 10;
        let mut accounts = unread[..unread.len().min(SHOWN)].join(", ");
        if unread.len() > SHOWN {
            accounts.push_str(&format!(" and {} more", unread.len() - SHOWN));
        }
        notes.push(format!(
            "the SCP layer was not read for account(s) {accounts} (unseen, not an allow); check with `aws organizations list-policies-for-target --target-id ACCOUNT --filter SERVICE_CONTROL_POLICY` with the management account's credentials, or rerun with `--org-profile PROFILE`"
        ));
    }
    if d.guardrails.rcps.is_none() {
        notes.push(format!(
            "the RCP layer of the source key's account {} was not read (unseen, not an allow); check with `aws organizations list-policies-for-target --target-id {} --filter RESOURCE_CONTROL_POLICY` with the management account's credentials, or rerun with `--org-profile PROFILE`",
            d.source.account, d.source.account
        ));
    }
    notes
}

/// Every target account a guardrail denies, with its causes. `created_at`: the plan's
/// creation time (RFC 3339), for the image's age.
pub fn guardrail_pass(
    d: &Discovery,
    opts: &PlanOptions,
    keys: &[&KeyFacts],
    created_at: &str,
) -> GuardrailPass {
    let mut pass = GuardrailPass::default();
    pass.notes.extend(unread_org_layers(d, keys));
    let now = chrono::DateTime::parse_from_rfc3339(created_at)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc));
    for t in &d.targets {
        let mut causes = target_key_causes(opts, t);
        if !d.guardrails.is_empty() {
            causes.extend(policy_causes(d, opts, t, keys, &mut pass.notes));
            causes.extend(allowed_images_causes(d, opts, t, now, &mut pass.notes));
        }
        if !causes.is_empty() {
            pass.excluded.push(ExcludedAccount {
                account: t.account.clone(),
                causes,
            });
        }
    }
    pass
}

/// The discovery and options without the excluded accounts (`None`: nothing excluded, or every
/// target is, then the causes are blockers).
pub fn exclude_blocked(
    d: &Discovery,
    opts: &PlanOptions,
    pass: &mut GuardrailPass,
) -> Option<(Discovery, PlanOptions)> {
    if pass.excluded.is_empty() || pass.excluded.len() >= d.targets.len() {
        return None;
    }
    let out = |a: &str| pass.excluded.iter().any(|e| e.account == a);
    let mut d2 = d.clone();
    d2.targets.retain(|t| !out(&t.account));
    let mut o2 = opts.clone();
    o2.target_accounts.retain(|a| !out(a));
    if let Some(org) = o2.org_targets.as_mut() {
        // An OU / organization-wide share (OrganizationalUnitArn launch permission, key policy
        // statements on aws:PrincipalOrgPaths) would still reach the accounts left out: the
        // others are shared with and named one by one instead.
        if pass.excluded.iter().any(|e| org.covers(&e.account)) {
            org.ous.clear();
            org.whole_org = false;
            pass.notes.push(
                "accounts are left out: the others are shared with and named in the key policy one by one, not with the OU / organization (that would reach the accounts left out too)".into(),
            );
        }
        org.members.retain(|a, _| !out(a));
    }
    Some((d2, o2))
}

/// When every target is excluded: one blocker per cause.
pub fn blockers(pass: &GuardrailPass) -> Vec<Blocker> {
    let mut out: Vec<Blocker> = Vec::new();
    for e in &pass.excluded {
        for c in &e.causes {
            let code = match c.layer.as_str() {
                "allowed-amis" => BlockerCode::AllowedAmis,
                "key-spec" => BlockerCode::KeySpec,
                "key-state" => BlockerCode::KeyUnusable,
                "access" => BlockerCode::AccessAfterPlan,
                _ => BlockerCode::GuardrailDenied,
            };
            let b = Blocker {
                code,
                message: format!("account {}: {}", e.account, c.message),
                fix: c.fix.clone(),
                account: Some(e.account.clone()),
            };
            if !out.contains(&b) {
                out.push(b);
            }
        }
    }
    out
}
