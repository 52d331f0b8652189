//! The composition root: AWS sessions, readers and writers built from the flags (and from a saved
//! plan's access settings), checked to act in the accounts they were given for.

use std::collections::BTreeMap;

use super::{CliError, GlobalArgs};
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
    Ok(AwsSession::load(&opts).await?)
}

/// Build the clients for the source account and every target account and region; `loaded` is
/// the source session when the caller already has it (the guided prompts did), so its
/// credentials are not resolved a second time. Returns the world and the target regions.
pub async fn connect(
    global: &GlobalArgs,
    reach: &Reach<'_>,
    loaded: Option<AwsSession>,
) -> Result<(SdkWorld, Vec<String>), CliError> {
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
    let source = match loaded {
        Some(session) => session,
        None => AwsSession::load(&opts).await?,
    };
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
            .map(|account| target_session(&source, access, account, reach.max_attempts)),
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
    Ok((world, regions))
}

fn conn(session: &AwsSession) -> Conn<SdkReader, SdkWriter> {
    Conn {
        reader: SdkReader::new(session),
        writer: SdkWriter::new(session),
    }
}

/// The session for one target account: the assumed `--target-role`, the `--target-profile`, the
/// source session when the target is the source account, else none (a hand-off). A session
/// that acts in another account than `account` is bad input.
async fn target_session(
    source: &AwsSession,
    access: &AccessSpec,
    account: &str,
    max_attempts: Option<u32>,
) -> Result<Option<AwsSession>, CliError> {
    let session = if let Some(role) = &access.target_role {
        Some(
            source
                .assume_role(
                    &RoleSpec::parse(role, account),
                    access.external_id.as_deref(),
                )
                .await?,
        )
    } else if let Some(profile) = &access.target_profile {
        let o = SessionOptions {
            profile: Some(profile.clone()),
            region: Some(source.region.clone()),
            endpoint_url: None,
            max_attempts,
        };
        Some(AwsSession::load(&o).await?)
    } else if account == source.account {
        Some(source.clone())
    } else {
        None
    };
    if let Some(s) = &session {
        if s.account != account {
            return Err(CliError::usage(
                format!(
                    "the target credentials act in account {} (`{}`), not in `{account}`",
                    s.account, s.arn
                ),
                "pass the role or profile of the account named with `--to`",
            ));
        }
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
    let reader = SdkReader::new(&session);
    let key_reader = match key_account_profile {
        Some(p) => {
            let kopts = SessionOptions {
                profile: Some(p.to_string()),
                region: Some(session.region.clone()),
                ..SessionOptions::default()
            };
            let s = AwsSession::load(&kopts).await?;
            Some(SdkReader::new(&s))
        }
        None => None,
    };
    Ok((session, reader, key_reader))
}
