//! Everyday use through the real binary: shell completions, the man page, listing runs and showing
//! a run's report again (the checks are in `everyday_checks`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

/// The binary with a clean environment: no credentials, AWS pointed at a closed port, and the
/// state directory given.
pub(super) fn amishare(state: &Path) -> Command {
    let mut cmd = Command::cargo_bin("amishare").unwrap();
    cmd.env_clear()
        .env("HOME", state)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .env("AMISHARE_STATE_DIR", state.join("state"));
    cmd
}

pub(super) fn run(state: &Path, args: &[&str]) -> Output {
    amishare(state).args(args).output().unwrap()
}

pub(super) fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub(super) fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

const SUBCOMMANDS: &[&str] = &[
    "copy",
    "apply",
    "rollback",
    "explain",
    "diagnose",
    "runs",
    "show",
    "completions",
    "man",
];

fn shell_is_installed(shell: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {shell}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Each completion script is accepted by its shell's syntax check (`bash -n`, `zsh -n`,
/// `fish -n`), where that shell is installed; bash always is.
#[test]
fn completion_scripts_pass_their_shells_syntax_check() {
    let home = tempfile::tempdir().unwrap();
    assert!(shell_is_installed("bash"), "bash is needed for this test");
    for (shell, check) in [("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")] {
        let out = run(home.path(), &["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completion lacks `{sub}`");
        }
        if !shell_is_installed(check) {
            eprintln!("{check} is not installed: its completion script is not syntax-checked");
            continue;
        }
        let file = home.path().join(format!("amishare.{shell}"));
        std::fs::write(&file, &script).unwrap();
        let checked = std::process::Command::new(check)
            .arg("-n")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            checked.status.success(),
            "{check} -n refuses the script: {}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
}

#[test]
fn powershell_completions_register_an_argument_completer() {
    let home = tempfile::tempdir().unwrap();
    let out = run(home.path(), &["completions", "powershell"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("Register-ArgumentCompleter"));
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let out = run(home.path(), &["completions", "csh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("csh"), "{}", stderr(&out));
}

/// The man page is roff with a title header, and names every subcommand.
#[test]
fn the_man_page_is_roff_naming_every_subcommand() {
    let home = tempfile::tempdir().unwrap();
    let out = run(home.path(), &["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{page}");
    assert!(page.contains("\n.TH amishare 1"), "{page}");
    assert!(page.contains(".SH NAME"), "{page}");
    for sub in SUBCOMMANDS {
        assert!(
            page.contains(&format!("amishare\\-{sub}(1)")),
            "the man page does not name `{sub}`: {page}"
        );
    }
    if !shell_is_installed("groff") {
        eprintln!("groff is not installed: the man page is not checked by it");
        return;
    }
    let file = home.path().join("amishare.1");
    std::fs::write(&file, &page).unwrap();
    let checked = std::process::Command::new("groff")
        .args(["-man", "-ww", "-z"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(checked.status.success());
    assert!(
        checked.stderr.is_empty(),
        "groff warns: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// `man --dir` writes one page per subcommand, the pages the main page refers to.
#[test]
fn man_dir_writes_a_page_per_subcommand() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("man1");
    std::fs::create_dir(&dir).unwrap();
    let out = run(home.path(), &["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let main = std::fs::read_to_string(dir.join("amishare.1")).unwrap();
    assert!(main.contains("\n.TH amishare 1"), "{main}");
    for sub in SUBCOMMANDS {
        let page = std::fs::read_to_string(dir.join(format!("amishare-{sub}.1"))).unwrap();
        assert!(page.contains(&format!("\n.TH amishare-{sub} 1")), "{page}");
    }
}

pub(super) const GOLDEN_RUN: &str = "20261201T215747Z-5a09aff0";

/// A state directory holding the golden journal (written by a real run against the emulator)
/// and, when `second` is given, a later run made from it.
pub(super) fn state_with_journals(home: &Path, second: Option<serde_json::Value>) {
    let runs = home.join("state/runs");
    std::fs::create_dir_all(&runs).unwrap();
    #[cfg(unix)]
    for dir in [home.join("state"), runs.clone()] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let golden = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/journal-v1.json"),
    )
    .unwrap();
    std::fs::write(runs.join(format!("{GOLDEN_RUN}.json")), golden).unwrap();
    if let Some(j) = second {
        let id = j["run_id"].as_str().unwrap().to_string();
        std::fs::write(runs.join(format!("{id}.json")), j.to_string()).unwrap();
    }
}

pub(super) fn golden() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/journal-v1.json"),
        )
        .unwrap(),
    )
    .unwrap()
}

/// A later run of the same plan that failed: its second test launch failed and its instance's
/// termination was never confirmed; its IAM changes were rolled back.
fn later_failed_run() -> serde_json::Value {
    let mut j = golden();
    j["run_id"] = "20261202T080000Z-0badc0de".into();
    j["plan"]["run_id"] = j["run_id"].clone();
    j["created_at"] = "2026-12-02T08:00:00.000Z".into();
    j["status"] = "failed".into();
    j["entries"]["s10"]["state"] = "failed".into();
    j["entries"]["s10"]["error"] = "test launch failed: Client.InternalError".into();
    j["instances"]["i-44cf6fb9df67d533f"]["terminated"] = false.into();
    for s in ["s5", "s6"] {
        j["entries"][s]["state"] = "rolled-back".into();
    }
    j
}

/// `runs` and `show` read the state directory only: no credentials, AWS at a closed port.
#[test]
fn runs_lists_the_journals_newest_first_without_aws() {
    let home = tempfile::tempdir().unwrap();
    state_with_journals(home.path(), Some(later_failed_run()));
    let out = run(home.path(), &["runs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("RUN ID "), "{text}");
    assert!(lines[0].ends_with("LEFT TO UNDO"), "{text}");
    assert!(lines[1].starts_with("20261202T080000Z-0badc0de "), "{text}");
    assert!(lines[1].contains(" failed "), "{text}");
    assert!(lines[1].ends_with("2 copies, 1 instance"), "{text}");
    assert!(lines[2].starts_with(GOLDEN_RUN), "{text}");
    assert!(lines[2].contains("2026-12-01T21:57:48.354Z"), "{text}");
    assert!(lines[2].contains(" completed "), "{text}");
    assert!(
        lines[2].contains("ami-99e22d13404c3b13b (111122223333/us-east-1)"),
        "{text}"
    );
    assert!(
        lines[2].contains("444455556666 in us-east-1,us-west-2"),
        "{text}"
    );
    // The run withdrew its key policy edit and shares itself (revoke after copy): the IAM
    // policy, its attachment and the two copies are what a rollback would still act on.
    assert!(lines[2].ends_with("2 changes, 2 copies"), "{text}");
}

#[test]
fn runs_as_json_say_what_is_left_to_undo() {
    let home = tempfile::tempdir().unwrap();
    state_with_journals(home.path(), Some(later_failed_run()));
    let out = run(home.path(), &["runs", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["run_id"], "20261202T080000Z-0badc0de");
    assert_eq!(runs[1]["run_id"], GOLDEN_RUN);
    assert_eq!(runs[1]["status"], "completed");
    assert_eq!(runs[1]["image_id"], "ami-99e22d13404c3b13b");
    assert_eq!(
        runs[1]["target_regions"],
        serde_json::json!(["us-east-1", "us-west-2"])
    );
    let left: Vec<(String, String)> = runs[1]["left_to_undo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_string(),
                l["step"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        ("change", "s5"),
        ("change", "s6"),
        ("copy", "s7"),
        ("copy", "s9"),
    ]
    .map(|(k, s)| (k.to_string(), s.to_string()));
    assert_eq!(left, expect);
    let later = runs[0]["left_to_undo"].as_array().unwrap();
    assert!(later.iter().any(|l| l["kind"] == "instance"
        && l["summary"]
            .as_str()
            .unwrap()
            .contains("i-44cf6fb9df67d533f")));
    assert!(!later.iter().any(|l| l["kind"] == "change"), "{later:?}");
}

#[test]
fn runs_in_an_empty_state_directory_says_so_and_skips_unreadable_journals_loudly() {
    let home = tempfile::tempdir().unwrap();
    let out = run(home.path(), &["runs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("No runs in "), "{}", stdout(&out));
    let runs = home.path().join("state/runs");
    std::fs::create_dir_all(&runs).unwrap();
    std::fs::write(runs.join("broken.json"), "{not json").unwrap();
    let out = run(home.path(), &["runs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: skipping "),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("broken.json"), "{}", stderr(&out));
}

/// `show` prints the run's report again: the copies, test launches and changes, from the journal.
#[test]
fn show_prints_the_report_of_a_run_from_its_journal() {
    let home = tempfile::tempdir().unwrap();
    state_with_journals(home.path(), Some(later_failed_run()));
    let out = run(home.path(), &["show", GOLDEN_RUN]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "Run {GOLDEN_RUN}: ok (ami-99e22d13404c3b13b from 111122223333/us-east-1)\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("  444455556666/us-east-1: ok  AMI ami-c5c26d6bde5dfceb6 (available)\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "      test launch: i-44cf6fb9df67d533f t3.nano -> running; terminated (confirmed)\n"
        ),
        "{text}"
    );
    assert!(text.contains("  [done] s2 111122223333/us-east-1: share ami-99e22d13404c3b13b with 444455556666 (launch permission)\n"), "{text}");
    assert!(text.contains("Left behind: nothing\n"), "{text}");
    assert!(
        text.ends_with(&format!("Undo with: amishare rollback {GOLDEN_RUN}\n")),
        "{text}"
    );
    assert!(
        stderr(&out).contains("not recorded there: "),
        "{}",
        stderr(&out)
    );

    let out = run(home.path(), &["show", "20261202T080000Z-0badc0de"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(": failed (ami-99e22d13404c3b13b"), "{text}");
    assert!(
        text.contains("  444455556666/us-west-2: failed  AMI ami-326d6df1c7f4d1ec5 (available)\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "test launch: i-44cf6fb9df67d533f t3.nano -> failed; NOT confirmed terminated"
        ),
        "{text}"
    );
    assert!(text.contains("(rolled back since)"), "{text}");
    assert!(text.contains("  test instance i-44cf6fb9df67d533f in 444455556666/us-west-2: termination not confirmed\n"), "{text}");
}

#[test]
fn show_as_json_holds_the_plan_the_report_and_what_the_journal_lacks() {
    let home = tempfile::tempdir().unwrap();
    state_with_journals(home.path(), None);
    let out = run(home.path(), &["--output", "json", "show", GOLDEN_RUN]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["plan"]["run_id"], GOLDEN_RUN);
    assert_eq!(doc["report"]["status"], "ok");
    assert_eq!(
        doc["report"]["targets"][1]["image_id"],
        "ami-326d6df1c7f4d1ec5"
    );
    assert_eq!(doc["report"]["changes"].as_array().unwrap().len(), 14);
    assert_eq!(doc["journal"]["status"], "completed");
    assert!(doc["not_recorded"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("diagnoses")));
}

#[test]
fn show_of_an_unknown_run_is_a_usage_error_pointing_at_runs() {
    let home = tempfile::tempdir().unwrap();
    state_with_journals(home.path(), None);
    for id in ["20990101T000000Z-00000000", "../../etc/passwd"] {
        let out = run(home.path(), &["show", id]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("error: no run `{id}` in ")),
            "{}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("help: `amishare runs` lists"),
            "{}",
            stderr(&out)
        );
    }
}

/// A rolled-back run is shown as it ended, its undone steps marked, and the journal status said.
#[test]
fn show_of_a_rolled_back_run_says_so() {
    let home = tempfile::tempdir().unwrap();
    let mut j = later_failed_run();
    j["status"] = "rolled-back".into();
    state_with_journals(home.path(), Some(j));
    let out = run(home.path(), &["show", "20261202T080000Z-0badc0de"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.ends_with("Journal status: rolled-back\n"), "{text}");
    assert!(
        text.contains("KmsKeyUsagePolicy (use of the source key(s)) (rolled back since)"),
        "{text}"
    );
}
