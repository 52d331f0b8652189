//! The guided question about the target accounts (no `--target-role` / `--target-profile` given),
//! through a pseudo-terminal with the real binary against the emulator: a role to assume (the
//! suggested `OrganizationAccountAccessRole`, a malformed name re-asked), a profile picked from the
//! AWS config, or the hand-off. Without a terminal nothing is asked (the hand-off, as before).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use expectrl::session::OsSession;
use expectrl::{Expect, Session};
use serde_json::Value;

use super::copy_prompts::{expect, finish};
use crate::common::{stdout_json, Emulator, REGION, TARGET_ACCOUNT, TARGET_ROLE};

const DOWN: &str = "\x1b[B";

/// `amishare copy AMI --to TARGET ARGS` as the seed's source account, on a pseudo-terminal,
/// with a profile `tgt` in the AWS config that acts as the target account.
fn guided(emu: &Emulator, seed: &Value, args: &[&str]) -> OsSession {
    let ami = seed["ami_id"].as_str().unwrap();
    let mut cmd = emu.std_command_as_source(seed);
    let config = emu.state_path().join("aws-config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[profile tgt]\nrole_arn = arn:aws:iam::{TARGET_ACCOUNT}:role/{TARGET_ROLE}\nsource_profile = base\nregion = {REGION}\n"
    ));
    std::fs::write(&config, text).unwrap();
    cmd.env("TERM", "xterm")
        .args(["copy", ami, "--to", TARGET_ACCOUNT])
        .args(args);
    let mut session = Session::spawn(cmd).unwrap();
    session.set_expect_timeout(Some(Duration::from_secs(120)));
    session
}

const QUESTION: &str = "How should amishare act in 444455556666";

#[test]
fn a_role_to_assume_is_asked_for_with_the_organizations_role_suggested() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let mut p = guided(&emu, &seed, &["--dry-run"]);
    let shown = expect(&mut p, "no access there");
    assert!(shown.contains(QUESTION), "{shown}");
    assert!(
        shown.contains("assume a role in each target account (e.g. OrganizationAccountAccessRole)"),
        "{shown}"
    );
    assert!(
        shown.contains("use a profile of the AWS config for 444455556666 (3 found)"),
        "{shown}"
    );
    p.send("\r").unwrap();
    expect(
        &mut p,
        "Role to assume in each target account (name or ARN)",
    );
    expect(&mut p, "OrganizationAccountAccessRole");
    // replace the suggestion: a malformed name is refused, then the seed's role
    p.send_line("bad role!").unwrap();
    expect(&mut p, "is not an IAM role name or role ARN");
    p.send_line(TARGET_ROLE).unwrap();
    let (out, code) = finish(p);
    assert_eq!(code, 0, "{out}");
    // the plan acts in the target account (its IAM and copy), no hand-off
    assert!(
        out.contains("iam:CreatePolicy") || out.contains("ec2:CopyImage"),
        "{out}"
    );
    assert!(!out.contains("hand-off for the admin"), "{out}");
}

#[test]
fn a_profile_of_the_aws_config_can_be_picked() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let mut p = guided(&emu, &seed, &["--dry-run"]);
    expect(&mut p, "no access there");
    p.send(DOWN).unwrap();
    p.send("\r").unwrap();
    let listed = expect(&mut p, "tgt");
    assert!(
        listed.contains("Profile with credentials for 444455556666"),
        "{listed}"
    );
    assert!(
        listed.contains("base") && listed.contains("src"),
        "{listed}"
    );
    // profiles in file order: base, src, tgt
    p.send(DOWN).unwrap();
    p.send(DOWN).unwrap();
    p.send("\r").unwrap();
    let (out, code) = finish(p);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ec2:CopyImage"), "{out}");
    assert!(!out.contains("hand-off for the admin"), "{out}");
}

#[test]
fn the_hand_off_can_be_chosen_and_nothing_is_asked_without_a_terminal() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let mut p = guided(&emu, &seed, &["--dry-run"]);
    expect(&mut p, "no access there");
    p.send(DOWN).unwrap();
    p.send(DOWN).unwrap();
    p.send("\r").unwrap();
    let (out, code) = finish(p);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("hand-off for the admin of 444455556666"),
        "{out}"
    );

    // no terminal: no question, the hand-off as before
    let ami = seed["ami_id"].as_str().unwrap();
    let out = emu
        .amishare_as_source(&seed)
        .args([
            "--output",
            "json",
            "copy",
            ami,
            "--to",
            TARGET_ACCOUNT,
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("How should amishare act"));
    let doc = stdout_json(&out);
    assert_eq!(
        doc["plan"]["handoffs"][0]["account"], TARGET_ACCOUNT,
        "{doc:#}"
    );
}
