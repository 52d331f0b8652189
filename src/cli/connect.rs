//! The composition root: AWS sessions, readers and writers built from the flags (and from a saved
//! plan's access settings), checked to act in the accounts they were given for.
//!
//! A profile named explicitly (`--profile`, `--target-profile`, `--org-profile`,
//! `--key-account-profile`, picked in the prompts or recorded in a saved plan) gives its own
//! credentials, never the environment's (`aws::credentials`). Before the first change every
//! identity is checked against the account it is for: a target session against its `--to`
//! account, a saved plan's source session against the plan's source account; a mismatch is bad
//! input (exit 2) naming the flag, the expected and the actual account. `-v` lists each
//! account's credential source ([`verbose_footer`]).

use std::collections::BTreeMap;

use super::{CliError, GlobalArgs};
use crate::aws::credentials::record_source;
use crate::aws::reader::SdkReader;
use crate::aws::session::{AwsSession, RoleSpec, SessionOptions};
use crate::aws::writer::SdkWriter;
use crate::workflow::copy::{Conn, TargetAccess, World};
use crate::workflow::plan::{AccessSpec, Plan};

/// The world of a copy, apply or rollback, on the AWS SDK.
pub type SdkWorld = World<SdkReader, SdkWriter>;

/// What a copy, apply or rollback connects to.
pub struct Reach<'a> {
    /// How to reach the source and the target accounts.
    pub access: &'a AccessSpec,
    /// The source region; `None`: `--region`, else the environment / profile.
    pub source_region: Option<&'a str>,
    /// The target accounts.
    pub accounts: &'a [String],
    /// The target regions; empty: the source region.
    pub regions: &'a [String],
    /// `--max-attempts`.
    pub max_attempts: Option<u32>,
    /// The source account a saved plan (or a run's journal) was made for; `None`: a new copy,
    /// whose source is whoever the credentials are.
    pub plan_source_account: Option<&'a str>,
}

impl<'a> Reach<'a> {
    /// What a saved plan (or a run's journal) connects to: its source region, targets and access.
    pub fn of_plan(plan: &'a Plan) -> Self {
        Self {
            access: &plan.options.access,
            source_region: Some(&plan.source.region),
            accounts: &plan.options.target_accounts,
            regions: &plan.options.target_regions,
            max_attempts: None,
            plan_source_account: Some(&plan.source.account),
        }
    }
}

/// The source session from `--profile` and `--region` (what `amishare copy` prompts with).
pub async fn source_session(
    global: &GlobalArgs,
    max_attempts: Option<u32>,
) -> Result<AwsSession, CliError> {
    let opts = SessionOptions {
        profile: global.profile.clone(),
        region: global.region.clone(),
        endpoint_url: None,
        max_attempts,
    };
    let session = AwsSession::load(&opts).await?;
    note_source(
        &session,
        "source",
        flag("--profile", opts.profile.as_deref(), false),
    );
    Ok(session)
}

/// How a profile or role was chosen, for messages and `-v`: "`--profile src`", "`--target-role
/// R` (recorded in the plan)", or, without one, "the standard credential chain".
fn flag(name: &str, value: Option<&str>, from_plan: bool) -> String {
    match (value, from_plan) {
        (Some(v), false) => format!("`{name} {v}`"),
        (Some(v), true) => format!("`{name} {v}` (recorded in the plan)"),
        (None, _) => "the standard credential chain (environment, then `AWS_PROFILE`)".into(),
    }
}

/// Remember `session`'s credential source for `-v`.
fn note_source(session: &AwsSession, role: &str, chosen_by: String) {
    record_source(
        &session.account,
        role,
        format!("{}, chosen by {chosen_by}", session.credentials),
    );
}

/// `-v`: API calls per account/region, throttled attempts, AssumeRole calls per calling account
/// and each account's credential source.
pub fn verbose_footer() -> String {
    use super::render::calls;
    use crate::aws::calls as counted;
    [
        calls::calls_text(&counted::snapshot()),
        calls::throttled_text(&counted::throttled_snapshot()),
        calls::assume_role_text(&counted::assume_role_snapshot()),
        calls::credentials_text(&crate::aws::credentials::sources_snapshot()),
    ]
    .concat()
}

/// Build the clients for the source account and every target account and region; `loaded` is
/// the source session when the caller already has it (the guided prompts did), so its
/// credentials are not resolved a second time. Returns the world and the target regions.
pub async fn connect(
    global: &GlobalArgs,
    reach: &Reach<'_>,
    loaded: Option<AwsSession>,
) -> Result<(SdkWorld, Vec<String>), CliError> {
    let (world, regions, _) = connect_keeping_source(global, reach, loaded).await?;
    Ok((world, regions))
}

/// [`connect`], also returning the source session (for more clients with its credentials,
/// e.g. Organizations, without resolving them again).
pub async fn connect_keeping_source(
    global: &GlobalArgs,
    reach: &Reach<'_>,
    loaded: Option<AwsSession>,
) -> Result<(SdkWorld, Vec<String>, AwsSession), CliError> {
    let access = reach.access;
    let opts = SessionOptions {
        profile: access
            .source_profile
            .clone()
            .or_else(|| global.profile.clone()),
        region: reach
            .source_region
            .map(str::to_string)
            .or_else(|| global.region.clone()),
        endpoint_url: None,
        max_attempts: reach.max_attempts,
    };
    let from_plan = reach.plan_source_account.is_some();
    let chosen = flag("--profile", opts.profile.as_deref(), from_plan);
    let source = match loaded {
        Some(session) => session,
        None => AwsSession::load(&opts).await?,
    };
    if let Some(expected) = reach.plan_source_account {
        if source.account != expected {
            return Err(CliError::usage(
                format!(
                    "{chosen} acts in account {} (`{}`), not in the plan's source account {expected}",
                    source.account, source.arn
                ),
                "use the profile (or environment credentials) the plan was made with",
            ));
        }
    }
    note_source(&source, "source", chosen);
    let regions: Vec<String> = if reach.regions.is_empty() {
        vec![source.region.clone()]
    } else {
        reach.regions.to_vec()
    };
    if access.target_profile.is_some() && reach.accounts.len() > 1 {
        return Err(CliError::usage(
            "`--target-profile` gives credentials for one account, but several `--to` accounts were given",
            "use `--target-role NAME` (assumed in every target account) for several targets",
        ));
    }
    // Every target account's credentials at once (an organization has dozens of accounts).
    let sessions = futures::future::try_join_all(
        reach
            .accounts
            .iter()
            .map(|account| target_session(&source, reach, account)),
    )
    .await?;
    let mut targets = Vec::new();
    for (account, session) in reach.accounts.iter().zip(sessions) {
        let mut conns = BTreeMap::new();
        if let Some(s) = &session {
            for r in &regions {
                conns.insert(r.clone(), conn(&s.in_region(r)));
            }
        }
        targets.push(TargetAccess {
            account: account.clone(),
            identity: session.as_ref().map(AwsSession::identity),
            regions: conns,
        });
    }
    let world = World {
        source: conn(&source),
        targets,
    };
    Ok((world, regions, source))
}

fn conn(session: &AwsSession) -> Conn<SdkReader, SdkWriter> {
    Conn {
        reader: SdkReader::new(session),
        writer: SdkWriter::new(session),
    }
}

/// The session for one target account: the assumed `--target-role`, the `--target-profile`, the
/// source session when the target is the source account, else none (a hand-off). A session
/// that acts in another account than `account` is bad input naming the flag.
async fn target_session(
    source: &AwsSession,
    reach: &Reach<'_>,
    account: &str,
) -> Result<Option<AwsSession>, CliError> {
    let access = reach.access;
    let from_plan = reach.plan_source_account.is_some();
    let (session, chosen) = if let Some(role) = &access.target_role {
        let s = source
            .assume_role(
                &RoleSpec::parse(role, account),
                access.external_id.as_deref(),
            )
            .await?;
        (Some(s), flag("--target-role", Some(role), from_plan))
    } else if let Some(profile) = &access.target_profile {
        let o = SessionOptions {
            profile: Some(profile.clone()),
            region: Some(source.region.clone()),
            endpoint_url: None,
            max_attempts: reach.max_attempts,
        };
        let s = AwsSession::load(&o).await?;
        (Some(s), flag("--target-profile", Some(profile), from_plan))
    } else if account == source.account {
        (Some(source.clone()), "the source's credentials".to_string())
    } else {
        (None, String::new())
    };
    if let Some(s) = &session {
        if s.account != account {
            return Err(CliError::usage(
                format!(
                    "{chosen} acts in account {} (`{}`), not in the target {account}",
                    s.account, s.arn
                ),
                "pass the role or profile of the account named with `--to` (`aws sts get-caller-identity --profile P` shows the account a profile acts in)",
            ));
        }
        note_source(s, "target", chosen);
    }
    Ok(session)
}

/// The readers of `amishare diagnose`: the caller's session and reader, and a reader with the
/// key account's credentials (`--key-account-profile`) in the same region.
pub async fn diagnose_readers(
    global: &GlobalArgs,
    key_account_profile: Option<&str>,
) -> Result<(AwsSession, SdkReader, Option<SdkReader>), CliError> {
    let opts = SessionOptions {
        profile: global.profile.clone(),
        region: global.region.clone(),
        ..SessionOptions::default()
    };
    let session = AwsSession::load(&opts).await?;
    note_source(
        &session,
        "caller",
        flag("--profile", opts.profile.as_deref(), false),
    );
    let reader = SdkReader::new(&session);
    let key_reader = match key_account_profile {
        Some(p) => {
            let kopts = SessionOptions {
                profile: Some(p.to_string()),
                region: Some(session.region.clone()),
                ..SessionOptions::default()
            };
            let s = AwsSession::load(&kopts).await?;
            note_source(
                &s,
                "key account",
                flag("--key-account-profile", Some(p), false),
            );
            Some(SdkReader::new(&s))
        }
        None => None,
    };
    Ok((session, reader, key_reader))
}

/// The session of `--org-profile P` (the organization's management or delegated administrator
/// account) in `region`: that profile's credentials only.
pub async fn org_session(
    profile: &str,
    region: &str,
    max_attempts: Option<u32>,
) -> Result<AwsSession, CliError> {
    let opts = SessionOptions {
        profile: Some(profile.to_string()),
        region: Some(region.to_string()),
        endpoint_url: None,
        max_attempts,
    };
    let session = AwsSession::load(&opts).await?;
    note_source(
        &session,
        "organizations",
        flag("--org-profile", Some(profile), false),
    );
    Ok(session)
}
