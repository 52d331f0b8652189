//! The guided prompts of `amishare copy`, driven through a pseudo-terminal (expectrl) with the real
//! binary against the emulator: the AMI picker (arrow keys, Enter), target accounts (a bad answer
//! is re-asked), the region multi-select, principals, the target key, and the confirmation ("n"
//! changes nothing, "y" copies). Without a terminal, or with `--no-input`, a missing value is a
//! usage error naming the flag.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::common::{Emulator, REGION, SOURCE_ACCOUNT, TARGET_ACCOUNT};
use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;
use expectrl::{Eof, Expect, Regex, Session};
use serde_json::{json, Value};

const TARGET_ROLE: &str = "amishare-target";
const DOWN: &str = "\x1b[B";
const UP: &str = "\x1b[A";

fn grant() -> String {
    format!("arn:aws:iam::{TARGET_ACCOUNT}:role/{TARGET_ROLE}")
}

/// `amishare copy --target-role amishare-target ARGS` as the seed's source account, on a
/// pseudo-terminal (stdin, stdout and stderr are all the terminal).
fn guided(emu: &Emulator, seed: &Value, args: &[&str]) -> OsSession {
    let mut cmd = emu.std_command_as_source(seed);
    cmd.env("TERM", "xterm")
        .args(["copy", "--target-role", TARGET_ROLE])
        .args(args);
    let mut session = Session::spawn(cmd).unwrap();
    session.set_expect_timeout(Some(Duration::from_secs(120)));
    session
}

/// Wait for `needle`, with everything read so far in the panic message.
pub(crate) fn expect(p: &mut OsSession, needle: &str) -> String {
    match p.expect(needle) {
        Ok(c) => String::from_utf8_lossy(c.before()).into_owned(),
        Err(e) => panic!("waiting for {needle:?}: {e}"),
    }
}

/// Read to the end of the output and return it with the exit code.
pub(crate) fn finish(mut p: OsSession) -> (String, i32) {
    let tail = p.expect(Eof).unwrap();
    let out = String::from_utf8_lossy(tail.as_bytes()).into_owned();
    match p.get_process().wait().unwrap() {
        WaitStatus::Exited(_, code) => (out, code),
        other => panic!("amishare did not exit normally: {other:?}\n{out}"),
    }
}

/// In the AMI picker, the ids in the order shown, after its prompt.
fn picker_items(p: &mut OsSession, count: usize) -> Vec<String> {
    expect(p, "AMI to copy");
    // byte by byte, so that each expect stops at the first id it sees
    p.set_expect_lazy(true);
    let ids = (0..count)
        .map(|_| {
            let c = p.expect(Regex("ami-[0-9a-f]{17}")).unwrap();
            String::from_utf8_lossy(c.get(0).unwrap()).into_owned()
        })
        .collect();
    p.set_expect_lazy(false);
    ids
}

/// Move the picker from the first item to item `index` with the arrow keys (going one past it and
/// back up, so both keys are exercised whatever the order), then press Enter.
fn pick(p: &mut OsSession, index: usize) {
    for _ in 0..=index {
        p.send(DOWN).unwrap();
    }
    p.send(UP).unwrap();
    p.send("\r").unwrap();
}

#[test]
fn guided_copy_answered_no_changes_nothing() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--with-unencrypted"]);
    let ami = seed["ami_id"].as_str().unwrap().to_string();
    let plain = seed["unencrypted_ami_id"].as_str().unwrap().to_string();
    emu.clear_requests();
    let mut p = guided(&emu, &seed, &[]);

    let items = picker_items(&mut p, 2);
    let mut sorted = items.clone();
    sorted.sort();
    let mut want = vec![ami.clone(), plain.clone()];
    want.sort();
    assert_eq!(sorted, want, "the picker lists the account's own AMIs");
    let shown = expect(&mut p, "\n");
    assert!(shown.contains("encrypted"), "{shown}");
    let index = items.iter().position(|i| *i == ami).unwrap();
    pick(&mut p, index);
    // dialoguer reports the answer on the prompt line; the label says whether it is encrypted
    let answered = expect(&mut p, "Target account ids");
    assert!(
        answered.contains(&format!("{ami}  amishare-cmk")) && answered.contains("  encrypted"),
        "picked line: {answered}"
    );

    // a bad account id is refused and asked again
    p.send_line("4444-5555-6666").unwrap();
    expect(
        &mut p,
        "error: `4444-5555-6666` is not a 12-digit account id",
    );
    // dialoguer starts the answer afresh after an error
    p.send_line(TARGET_ACCOUNT).unwrap();

    // regions: the source region is checked; also check the next one (us-east-2)
    expect(&mut p, "Target regions");
    expect(&mut p, &format!("[x] {REGION}"));
    p.send(DOWN).unwrap();
    p.send(" ").unwrap();
    p.send("\r").unwrap();
    expect(&mut p, &format!("{REGION}, us-east-2"));

    // principals: a bad ARN, then none
    expect(&mut p, "Principals that will launch the copy");
    p.send_line("arn:aws:iam::777788889999:role/Elsewhere")
        .unwrap();
    expect(&mut p, "which is not a target (444455556666)");
    p.send_line("").unwrap();

    // target key: the EBS default
    expect(&mut p, "Key for the copy in the target");
    p.send("\r").unwrap();

    // the plan is shown, then the question; "n" leaves everything as it was
    let plan = expect(&mut p, "Apply this plan? [y/N]");
    assert!(plan.contains(&ami), "the plan names the AMI: {plan}");
    assert!(
        plan.contains("us-east-2"),
        "the plan covers both regions: {plan}"
    );
    assert!(plan.contains(TARGET_ACCOUNT), "{plan}");
    assert!(
        plan.contains(SOURCE_ACCOUNT),
        "the plan shows source-side steps: {plan}"
    );
    p.send("n").unwrap();
    let (out, code) = finish(p);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing changed"), "{out}");

    assert!(
        Emulator::actions(&emu.requests()).contains(&"ec2:DescribeImages".to_string()),
        "the picker and discovery read the images"
    );
    assert_eq!(emu.mutating_actions(), Vec::<String>::new());
    assert!(emu
        .live_instances(&[TARGET_ACCOUNT], &[REGION, "us-east-2"])
        .is_empty());
}

#[test]
fn guided_copy_answered_yes_copies_with_the_chosen_key_and_grant() {
    let emu = Emulator::start();
    let seed = emu.seed(&["--with-target-key"]);
    let ami = seed["ami_id"].as_str().unwrap().to_string();
    let target_key = seed["target_key_arn"].as_str().unwrap().to_string();
    let mut p = guided(&emu, &seed, &[]);

    let items = picker_items(&mut p, 1);
    assert_eq!(items, vec![ami.clone()]);
    p.send("\r").unwrap();

    expect(&mut p, "Target account ids");
    p.send_line(TARGET_ACCOUNT).unwrap();

    expect(&mut p, "Target regions");
    expect(&mut p, &format!("[x] {REGION}"));
    p.send("\r").unwrap();

    expect(&mut p, "Principals that will launch the copy");
    p.send_line("Launcher").unwrap();
    expect(
        &mut p,
        "error: `Launcher` is not an IAM user, role or group ARN",
    );
    p.send_line(grant()).unwrap();

    expect(&mut p, "Key for the copy in the target");
    p.send(DOWN).unwrap();
    p.send("\r").unwrap();
    expect(&mut p, "Target key (key ARN, alias ARN or alias/NAME)");
    p.send_line("alias/aws/ebs").unwrap();
    expect(&mut p, "is not a KMS key id, key ARN or customer alias");
    p.send_line(&target_key).unwrap();

    let plan = expect(&mut p, "Apply this plan? [y/N]");
    assert!(
        plan.contains(&target_key),
        "the plan uses the chosen key: {plan}"
    );
    p.send("y").unwrap();
    let (out, code) = finish(p);
    assert_eq!(code, 0, "{out}");
    let run = out
        .lines()
        // progress bars leave terminal control codes in front of the report's first line
        .find(|l| l.contains("Run ") && l.contains(&format!(" from {SOURCE_ACCOUNT}/{REGION})")))
        .unwrap_or_else(|| panic!("no report in: {out}"));
    assert!(run.contains(": ok ("), "{run}");

    // what the answers asked for happened: the copy in the target, encrypted with the chosen key,
    // and the principal given the KMS key usage policy
    let actions = emu.mutating_actions();
    for a in ["kms:PutKeyPolicy", "ec2:CopyImage", "iam:AttachRolePolicy"] {
        assert!(
            actions.contains(&a.to_string()),
            "{a} missing from {actions:?}"
        );
    }
    let copies = emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "ec2",
        "describe_images",
        json!({"Owners": ["self"]}),
    );
    let copy = &copies["Images"][0];
    let snap = copy["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        .as_str()
        .unwrap();
    let snaps = emu.aws(
        TARGET_ACCOUNT,
        REGION,
        "ec2",
        "describe_snapshots",
        json!({"SnapshotIds": [snap]}),
    );
    assert_eq!(snaps["Snapshots"][0]["KmsKeyId"], target_key.as_str());
    assert!(emu.live_instances(&[TARGET_ACCOUNT], &[REGION]).is_empty());
}

#[test]
fn without_a_terminal_a_missing_value_is_a_usage_error_naming_the_flag() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    emu.clear_requests();

    // --no-input, missing AMI
    let out = emu
        .amishare_as_source(&seed)
        .args(["copy", "--no-input", "--to", TARGET_ACCOUNT])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(
            "error: no AMI given\n  help: pass the AMI id (`amishare copy ami-...`) or run in a terminal to pick one"
        ),
        "{err}"
    );
    assert!(err.contains("`--no-input`"), "{err}");

    // stdin not a terminal (assert_cmd gives an empty pipe), missing --to
    let out = emu
        .amishare_as_source(&seed)
        .args(["copy", ami])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: no target account given\n  help: pass `--to ACCOUNT`"),
        "{err}"
    );
    assert!(err.contains("stdin is not a terminal"), "{err}");

    // everything given but no confirmation possible: refused, nothing changed
    let out = emu
        .amishare_as_source(&seed)
        .args([
            "copy",
            ami,
            "--to",
            TARGET_ACCOUNT,
            "--target-role",
            TARGET_ROLE,
        ])
        .args(["--grant", &grant(), "--no-input"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: refusing to change AWS without confirmation"),
        "{err}"
    );
    assert!(err.contains("`--yes`"), "{err}");

    // the first two failed before any AWS call; the third only read
    assert_eq!(emu.mutating_actions(), Vec::<String>::new());
}

#[test]
fn no_input_is_honoured_even_on_a_terminal() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    emu.clear_requests();
    let p = guided(&emu, &seed, &["--no-input", "--to", TARGET_ACCOUNT]);
    let (out, code) = finish(p);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("error: no AMI given"), "{out}");
    assert!(
        !out.contains("AMI to copy"),
        "no picker with --no-input: {out}"
    );
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}
