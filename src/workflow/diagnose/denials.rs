//! CloudTrail matching: which KMS refusals count as a refusal of this launch (and how strongly),
//! and which cause each one is evidence for. Pure: events in, events and evidence out.

use chrono::{DateTime, Utc};

use super::arn::same_key;
use super::code::CauseCode;
use super::facts::{parse_rfc3339, Facts};
use super::types::{Cause, Evidence};
use crate::workflow::inventory::{KeyDescription, TrailEvent};

/// The KMS events EC2 makes on a launch from an encrypted snapshot.
pub const DENIAL_EVENTS: &[&str] = &[
    "CreateGrant",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKeyWithoutPlaintext",
];

/// A KMS refusal: access denied, or the key's state (disabled, pending deletion).
pub fn is_denial(e: &TrailEvent) -> bool {
    e.error_code.as_deref().is_some_and(|c| {
        let c = c.strip_prefix("KMS.").unwrap_or(c);
        c.starts_with("AccessDenied") || c == "DisabledException" || c == "KMSInvalidStateException"
    })
}

/// At most this many CloudTrail events are quoted per cause (all are in
/// [`super::Diagnosis::denials`]).
const MAX_EVENTS_PER_CAUSE: usize = 3;

/// What a CloudTrail denial must point at to count for this launch.
struct DenialScope<'s> {
    /// The instance, its volumes and the image's snapshots.
    ids: &'s [String],
    /// The keys, as referenced and as ARNs.
    keys: &'s [String],
    principal: Option<&'s str>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    launch: DateTime<Utc>,
}

/// The denials of `facts` that point at this launch (its instance, volumes or snapshots, or its
/// keys, within the window), most specific and closest in time first.
pub fn select_for_launch(
    facts: &Facts,
    before: chrono::Duration,
    after: chrono::Duration,
) -> Vec<TrailEvent> {
    let ids: Vec<String> = facts
        .instance
        .iter()
        .map(|i| i.id.clone())
        .chain(facts.keys.iter().flat_map(|k| k.used_by.iter().cloned()))
        .collect();
    let key_names: Vec<String> = facts
        .keys
        .iter()
        .flat_map(|k| {
            std::iter::once(k.key_id.clone()).chain(k.key.as_ref().map(|d| d.desc.arn.clone()))
        })
        .collect();
    let scope = DenialScope {
        ids: &ids,
        keys: &key_names,
        principal: facts.principal.as_ref().map(|p| p.arn.as_str()),
        start: facts.launch_time - before,
        end: facts.launch_time + after,
        launch: facts.launch_time,
    };
    scope.select(facts.denials.clone())
}

impl DenialScope<'_> {
    /// How strongly `ev` points at this launch; `None` when it does not (outside the window, or
    /// about other resources and other keys, or by someone else about nothing in particular).
    fn relevance(&self, ev: &TrailEvent) -> Option<u8> {
        if let Some(t) = ev.event_time.as_deref().and_then(parse_rfc3339) {
            if t < self.start || t > self.end {
                return None;
            }
        }
        let ours = |id: &str| self.ids.iter().any(|x| x == id);
        let our_key = |k: &str| self.keys.iter().any(|x| same_key(x, k));
        let names_ours = ev.ebs_id.as_deref().is_some_and(ours)
            || ev.instance_ids.iter().any(|i| ours(i))
            || ev.resources.iter().any(|r| ours(r));
        let names_key = ev.key_id.as_deref().is_some_and(our_key)
            || ev.resources.iter().any(|r| our_key(r))
            || ev.error_message.as_deref().is_some_and(|m| {
                self.keys
                    .iter()
                    .any(|k| k.contains(':') && m.contains(k.as_str()))
            });
        let names_other =
            ev.ebs_id.as_deref().is_some_and(|i| !ours(i)) || ev.key_id.is_some() && !names_key;
        let by_principal = self.principal.is_some_and(|p| {
            ev.user_arn.as_deref() == Some(p) || ev.session_issuer_arn.as_deref() == Some(p)
        });
        match (names_ours, names_key) {
            (true, true) => Some(4),
            (true, false) => Some(3),
            (false, true) if !names_other => Some(2),
            (false, true) => Some(1),
            (false, false) if !names_other && by_principal => Some(0),
            _ => None,
        }
    }

    /// The relevant denials, most relevant first, then closest to the launch.
    fn select(&self, events: Vec<TrailEvent>) -> Vec<TrailEvent> {
        let mut scored: Vec<(u8, i64, TrailEvent)> = events
            .into_iter()
            .filter_map(|e| {
                let score = self.relevance(&e)?;
                let distance = e
                    .event_time
                    .as_deref()
                    .and_then(parse_rfc3339)
                    .map(|t| (t - self.launch).num_seconds().abs())
                    .unwrap_or(i64::MAX);
                Some((score, distance, e))
            })
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, _, e)| e).collect()
    }
}

/// Quote each denial as evidence of the causes it bears on; a denial no cause explains becomes a
/// `kms-access-denied` cause of its own (one per key, action and principal).
pub fn attach(causes: &mut Vec<Cause>, denials: &[TrailEvent], keys: &[&KeyDescription]) {
    for ev in denials {
        let key_arn = keys
            .iter()
            .find(|desc| {
                ev.key_id
                    .as_deref()
                    .is_some_and(|id| same_key(id, &desc.arn))
                    || ev.resources.iter().any(|r| same_key(r, &desc.arn))
                    || ev
                        .error_message
                        .as_deref()
                        .is_some_and(|m| m.contains(&desc.arn))
            })
            .map(|desc| desc.arn.clone());
        let evidence = event_evidence(ev);
        // The message names the refusing layer (SCP, RCP, boundary, session policy): that is
        // the cause of this denial, whatever the policies read say.
        // A cause found in the policies read (the SCPs on the account's path, the boundary)
        // with the same code, key and action is this denial, named down to the policy and
        // statement: quote the event there rather than add a second, vaguer cause.
        if let Some(c) = super::guardrail_denial::cause_of(ev, key_arn.clone(), evidence.clone()) {
            let named = ev
                .error_message
                .as_deref()
                .and_then(super::guardrail_denial::layer_of_message)
                .and_then(|d| d.policy_id());
            let same = |x: &Cause| {
                x.code == c.code
                    && (x.message == c.message
                        || x.key_arn == c.key_arn
                            && x.actions.iter().any(|a| c.actions.contains(a))
                            && named.as_deref().is_none_or(|p| x.message.contains(p)))
            };
            match causes.iter_mut().find(|x| same(x)) {
                Some(x) => quote(x, &evidence),
                None => causes.push(c),
            }
            continue;
        }
        let action = format!("kms:{}", ev.event_name);
        let on_key = |c: &Cause| key_arn.is_none() || c.key_arn == key_arn;
        let mut attached = false;
        for c in causes.iter_mut().filter(|c| on_key(c)) {
            if c.actions.is_empty() || c.actions.iter().any(|a| a.eq_ignore_ascii_case(&action)) {
                quote(c, &evidence);
                attached = true;
            }
        }
        if !attached {
            if let Some(c) = causes.iter_mut().find(|c| on_key(c)) {
                quote(c, &evidence);
                attached = true;
            }
        }
        if !attached {
            unexplained(causes, ev, key_arn, action, evidence);
        }
    }
}

/// Add `evidence` to `c` unless it already quotes enough events.
fn quote(c: &mut Cause, evidence: &Evidence) {
    let events = c
        .evidence
        .iter()
        .filter(|e| matches!(e, Evidence::Event { .. }))
        .count();
    if events < MAX_EVENTS_PER_CAUSE {
        c.evidence.push(evidence.clone());
    }
}

/// A denial the policies read do not explain: a `kms-access-denied` cause.
fn unexplained(
    causes: &mut Vec<Cause>,
    ev: &TrailEvent,
    key_arn: Option<String>,
    action: String,
    evidence: Evidence,
) {
    let who = ev
        .user_arn
        .clone()
        .unwrap_or_else(|| "the launching principal".to_string());
    let on = key_arn
        .clone()
        .or(ev.key_id.clone())
        .unwrap_or_else(|| "the key".to_string());
    let message = format!(
        "KMS denied `{who}` {action} on {on} during the launch, and the policies amishare could read do not explain why (see what could not be read)"
    );
    match causes
        .iter_mut()
        .find(|c| c.code == CauseCode::KmsAccessDenied && c.message == message)
    {
        Some(c) => quote(c, &evidence),
        None => causes.push(Cause {
            rank: 0,
            code: CauseCode::KmsAccessDenied,
            key_arn,
            message,
            actions: vec![action],
            evidence: vec![evidence],
            fix: None,
        }),
    }
}

/// A CloudTrail event as evidence.
pub fn event_evidence(e: &TrailEvent) -> Evidence {
    Evidence::Event {
        event_name: e.event_name.clone(),
        event_time: e.event_time.clone(),
        error_code: e.error_code.clone(),
        error_message: e.error_message.clone(),
        user_arn: e.user_arn.clone(),
        event_id: e.event_id.clone(),
    }
}
