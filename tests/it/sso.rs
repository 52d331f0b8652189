//! SSO (IAM Identity Center) profiles through the real binary: the SDK's SSO credential provider
//! (aws-config's default `sso` feature) with a cached token (as `aws sso login` leaves it, in a
//! temporary HOME) against the emulator's fake portal (`tests/emulator/amishare_emulator/sso.py`,
//! GetRoleCredentials). The portal is reached through `AWS_ENDPOINT_URL` like every other service;
//! the token refresh through SSO OIDC (a token close to expiry) is not exercised.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use super::common::{stdout_json, Emulator, SOURCE_ACCOUNT, TARGET_ACCOUNT, TARGET_ROLE};
use super::everyday::stderr;

const SESSION: &str = "corp";

/// `HOME/.aws/config` with an sso-session profile `sso-src` (the seed's source account and role)
/// and the token cache file for `token`.
fn sso_home(home: &Path, token: &str) {
    let aws = home.join(".aws");
    std::fs::create_dir_all(aws.join("sso/cache")).unwrap();
    std::fs::write(
        aws.join("config"),
        format!(
            "[profile sso-src]\nsso_session = {SESSION}\nsso_account_id = {SOURCE_ACCOUNT}\nsso_role_name = amishare-source\nregion = us-east-1\n\n[sso-session {SESSION}]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\n"
        ),
    )
    .unwrap();
    // the SDKs name the cache file after the SHA-1 of the session name
    let out = Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys;print(hashlib.sha1(sys.argv[1].encode()).hexdigest())",
            SESSION,
        ])
        .output()
        .unwrap();
    let name = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let expires = (chrono::Utc::now() + chrono::Duration::hours(8)).format("%Y-%m-%dT%H:%M:%SZ");
    std::fs::write(
        aws.join(format!("sso/cache/{name}.json")),
        json!({
            "startUrl": "https://example.awsapps.com/start",
            "region": "us-east-1",
            "accessToken": token,
            "expiresAt": expires.to_string(),
        })
        .to_string(),
    )
    .unwrap();
}

fn dry_run(emu: &Emulator, home: &Path, ami: &str) -> std::process::Output {
    emu.amishare()
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join(".aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join(".aws/credentials"))
        .env("AWS_PROFILE", "sso-src")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["--output", "json", "copy", ami, "--to", TARGET_ACCOUNT])
        .args(["--target-role", TARGET_ROLE, "--dry-run"])
        .output()
        .unwrap()
}

#[test]
fn an_sso_profile_with_a_cached_token_resolves_through_the_portal() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    emu.post("/_emulator/sso/tokens", &json!({"token": "sso-token-1"}));
    let home = tempfile::tempdir().unwrap();
    sso_home(home.path(), "sso-token-1");
    let out = dry_run(&emu, home.path(), ami);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["report"]["status"], "dry-run");
    let calls = emu.get("/_emulator/sso/calls");
    assert_eq!(
        calls,
        json!([{"account_id": SOURCE_ACCOUNT, "role_name": "amishare-source", "token_known": true}]),
        "the SDK asked the portal once, with the cached token"
    );
    // the source side acted as the SSO role's session
    let principals: Vec<Value> = emu
        .requests()
        .iter()
        .filter(|r| r["service"] == "ec2")
        .map(|r| r["principal"].clone())
        .collect();
    assert!(
        principals.contains(&json!(format!(
            "arn:aws:sts::{SOURCE_ACCOUNT}:assumed-role/amishare-source/amishare-sso"
        ))),
        "{principals:?}"
    );
}

#[test]
fn an_sso_token_the_portal_refuses_is_a_clear_error() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let home = tempfile::tempdir().unwrap();
    sso_home(home.path(), "expired-or-revoked");
    let out = dry_run(&emu, home.path(), seed["ami_id"].as_str().unwrap());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.starts_with("error: cannot tell who the credentials are: "),
        "{err}"
    );
    assert!(
        err.contains("UnauthorizedException: Session token not found"),
        "{err}"
    );
    assert!(
        err.contains("help: ") && err.contains("`aws sso login`"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
}
