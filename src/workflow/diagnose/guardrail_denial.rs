//! A CloudTrail denial whose `errorMessage` names the policy type that refused it: "... with an
//! explicit deny in a service control policy", "... in a resource control policy", "... because
//! no permissions boundary allows ...", "... because no session policy allows ..." (IAM user
//! guide, "Troubleshoot access denied error messages"
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html>). AWS
//! appends the policy's ARN for SCPs and RCPs when the caller may see it. Pure: message in,
//! layer, policy and cause with its fix out.

use super::code::CauseCode;
use super::types::{Cause, CauseFix, Evidence};
use crate::policy::{FindingCode, Layer};
use crate::workflow::inventory::TrailEvent;

/// What an error message says about the refusing layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDenial {
    pub layer: Layer,
    /// An explicit Deny (else: nothing in the layer allows it).
    pub explicit: bool,
    /// The policy's ARN when the message carries it.
    pub policy_arn: Option<String>,
}

impl LayerDenial {
    /// The policy id (`p-...`) of an SCP/RCP ARN, else the ARN.
    pub fn policy_id(&self) -> Option<String> {
        let arn = self.policy_arn.as_deref()?;
        Some(
            arn.rsplit('/')
                .next()
                .filter(|id| id.starts_with("p-"))
                .unwrap_or(arn)
                .to_string(),
        )
    }

    pub fn code(&self) -> FindingCode {
        match (self.layer, self.explicit) {
            (Layer::Scp, true) => FindingCode::ScpExplicitDeny,
            (Layer::Scp, false) => FindingCode::ScpNoAllow,
            (Layer::Rcp, _) => FindingCode::RcpExplicitDeny,
            (Layer::PermissionsBoundary, true) => FindingCode::PermissionsBoundaryExplicitDeny,
            (Layer::PermissionsBoundary, false) => FindingCode::PermissionsBoundaryNoAllow,
            (Layer::SessionPolicy, true) => FindingCode::SessionPolicyExplicitDeny,
            (Layer::SessionPolicy, false) => FindingCode::SessionPolicyNoAllow,
        }
    }
}

/// The phrases AWS writes, by layer.
const PHRASES: &[(&str, Layer, bool)] = &[
    (
        "with an explicit deny in a service control policy",
        Layer::Scp,
        true,
    ),
    (
        "because no service control policy allows",
        Layer::Scp,
        false,
    ),
    (
        "with an explicit deny in a resource control policy",
        Layer::Rcp,
        true,
    ),
    (
        "because no resource control policy allows",
        Layer::Rcp,
        false,
    ),
    (
        "with an explicit deny in a permissions boundary",
        Layer::PermissionsBoundary,
        true,
    ),
    (
        "because no permissions boundary allows",
        Layer::PermissionsBoundary,
        false,
    ),
    (
        "with an explicit deny in a session policy",
        Layer::SessionPolicy,
        true,
    ),
    (
        "because no session policy allows",
        Layer::SessionPolicy,
        false,
    ),
];

/// The layer an access-denied message names, if any.
pub fn layer_of_message(message: &str) -> Option<LayerDenial> {
    let lower = message.to_ascii_lowercase();
    PHRASES.iter().find_map(|(phrase, layer, explicit)| {
        let at = lower.find(phrase)?;
        let rest = &message[at + phrase.len()..];
        let policy_arn = rest
            .split(|c: char| c.is_whitespace() || c == ',' || c == ')')
            .find(|w| w.starts_with("arn:"))
            .map(|w| w.trim_end_matches('.').to_string());
        Some(LayerDenial {
            layer: *layer,
            explicit: *explicit,
            policy_arn,
        })
    })
}

/// The account id of an ARN (`arn:aws:iam::ACCOUNT:...`).
fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The fix for a denial by `d` of `who` (the refused principal) on `key`.
fn fix_for(d: &LayerDenial, who: &str, key: &str) -> CauseFix {
    let account = account_of(who).unwrap_or("ACCOUNT");
    let key_account = account_of(key).unwrap_or("KEY_ACCOUNT");
    let policy = d.policy_id();
    let (summary, commands) = match d.layer {
        Layer::Scp => (
            format!(
                "ask the administrator of account {account}'s organization (management account or delegated administrator) to exempt `{who}` from {} (e.g. `ArnNotLike aws:PrincipalArn`) or to allow the action at every level of the account's path",
                policy.as_deref().map(|p| format!("SCP `{p}`")).unwrap_or_else(|| "the SCP".into())
            ),
            match &policy {
                Some(p) => vec![format!("aws organizations describe-policy --policy-id {p}")],
                None => vec![format!(
                    "aws organizations list-policies-for-target --target-id {account} --filter SERVICE_CONTROL_POLICY"
                )],
            },
        ),
        Layer::Rcp => (
            format!(
                "ask the administrator of the organization that owns the key (account {key_account}) to exempt account {account} from {} (e.g. `aws:PrincipalAccount` in the Deny's `StringNotEqualsIfExists`); account {account} cannot see or change it",
                policy.as_deref().map(|p| format!("RCP `{p}`")).unwrap_or_else(|| "the RCP".into())
            ),
            match &policy {
                Some(p) => vec![format!("aws organizations describe-policy --policy-id {p}")],
                None => vec![format!(
                    "aws organizations list-policies-for-target --target-id {key_account} --filter RESOURCE_CONTROL_POLICY"
                )],
            },
        ),
        Layer::PermissionsBoundary => (
            format!(
                "ask whoever administers `{who}`'s permissions boundary to allow the action on the key (the principal cannot change its own boundary)"
            ),
            vec![crate::workflow::guardrail_facts::boundary_command(who)],
        ),
        Layer::SessionPolicy => (
            format!(
                "the session `{who}` was created with session policies that do not allow the action: create the session again with a session policy that allows it on the key (or none)"
            ),
            Vec::new(),
        ),
    };
    CauseFix {
        summary,
        key_policy_statements: Vec::new(),
        identity_policy_statements: Vec::new(),
        remove: Vec::new(),
        documents: Vec::new(),
        commands,
    }
}

/// A cause for a denial whose message names a guardrail layer; `None` when it names none.
pub fn cause_of(ev: &TrailEvent, key_arn: Option<String>, evidence: Evidence) -> Option<Cause> {
    let d = layer_of_message(ev.error_message.as_deref()?)?;
    let who = ev
        .user_arn
        .clone()
        .unwrap_or_else(|| "the launching principal".to_string());
    let action = format!("kms:{}", ev.event_name);
    let on = key_arn
        .clone()
        .or(ev.key_id.clone())
        .unwrap_or_else(|| "the key".to_string());
    let how = if d.explicit {
        "with an explicit deny in"
    } else {
        "because nothing allows it in"
    };
    let policy = d.policy_id().map(|p| format!(" `{p}`")).unwrap_or_default();
    let message = format!(
        "KMS denied `{who}` {action} on {on} {how} a {}{policy} (layer `{}`), per CloudTrail",
        d.layer.words(),
        d.layer
    );
    Some(Cause {
        rank: 0,
        code: CauseCode::Finding(d.code()),
        fix: Some(fix_for(&d, &who, &on)),
        key_arn,
        message,
        actions: vec![action],
        evidence: vec![evidence],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_policy_type_and_arn_aws_writes() {
        let cases = [
            (
                "User: arn:aws:sts::444455556666:assumed-role/Launcher/i-1 is not authorized to perform: kms:CreateGrant on resource: arn:aws:kms:us-east-1:111122223333:key/k with an explicit deny in a service control policy: arn:aws:organizations::999999999999:policy/o-abc/service_control_policy/p-abcd1234",
                Some((Layer::Scp, true, Some("p-abcd1234"))),
            ),
            (
                "User: arn:aws:iam::1:user/x is not authorized to perform: kms:Decrypt on resource: K with an explicit deny in a resource control policy",
                Some((Layer::Rcp, true, None)),
            ),
            (
                "User: X is not authorized to perform: kms:CreateGrant on resource: K because no permissions boundary allows the kms:CreateGrant action",
                Some((Layer::PermissionsBoundary, false, None)),
            ),
            (
                "User: X is not authorized to perform: kms:CreateGrant on resource: K because no session policy allows the kms:CreateGrant action",
                Some((Layer::SessionPolicy, false, None)),
            ),
            (
                "User: X is not authorized to perform: kms:CreateGrant on resource: K because no service control policy allows the kms:CreateGrant action",
                Some((Layer::Scp, false, None)),
            ),
            (
                "User: X is not authorized to perform: kms:CreateGrant on resource: K because no resource-based policy allows the kms:CreateGrant action",
                None,
            ),
        ];
        for (msg, want) in cases {
            let got = layer_of_message(msg);
            let got = got.as_ref().map(|d| (d.layer, d.explicit, d.policy_id()));
            let want = want.map(|(l, e, p)| (l, e, p.map(str::to_string)));
            assert_eq!(got, want, "{msg}");
        }
    }

    #[test]
    fn a_cause_names_layer_policy_and_whom_to_ask() {
        let ev = TrailEvent {
            event_id: None,
            event_time: None,
            event_source: None,
            aws_region: None,
            user_type: None,
            session_issuer_arn: None,
            invoked_by: None,
            source_ip: None,
            key_id: None,
            grantee_principal: None,
            instance_ids: Vec::new(),
            ebs_id: None,
            resources: Vec::new(),
            event_name: "CreateGrant".into(),
            error_code: Some("AccessDenied".into()),
            error_message: Some("User: arn:aws:sts::444455556666:assumed-role/Launcher/i-1 is not authorized to perform: kms:CreateGrant on resource: arn:aws:kms:us-east-1:111122223333:key/k with an explicit deny in a service control policy: arn:aws:organizations::999999999999:policy/o-abc/service_control_policy/p-abcd1234".into()),
            user_arn: Some("arn:aws:sts::444455556666:assumed-role/Launcher/i-1".into()),
        };
        let ev_evidence = super::super::denials::event_evidence(&ev);
        let c = cause_of(
            &ev,
            Some("arn:aws:kms:us-east-1:111122223333:key/k".into()),
            ev_evidence,
        )
        .unwrap();
        assert_eq!(c.code, "scp-explicit-deny");
        assert!(c.message.contains("`p-abcd1234`"), "{}", c.message);
        assert!(c.message.contains("layer `scp`"), "{}", c.message);
        let fix = c.fix.unwrap();
        assert!(fix.summary.contains("444455556666"), "{}", fix.summary);
        assert_eq!(
            fix.commands,
            vec!["aws organizations describe-policy --policy-id p-abcd1234"]
        );
        // A boundary denial names the role to look at.
        let mut ev2 = ev.clone();
        ev2.error_message = Some("User: arn:aws:sts::444455556666:assumed-role/Launcher/i-1 is not authorized to perform: kms:CreateGrant on resource: K because no permissions boundary allows the kms:CreateGrant action".into());
        let c = cause_of(&ev2, None, super::super::denials::event_evidence(&ev2)).unwrap();
        assert_eq!(c.code, "permissions-boundary-no-allow");
        assert_eq!(
            c.fix.unwrap().commands,
            vec!["aws iam get-role --role-name Launcher --query Role.PermissionsBoundary"]
        );
    }
}
