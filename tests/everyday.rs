//! Everyday use through the real binary: shell completions, the man page, listing runs and showing
//! a run's report again, the state directory's permissions, offline argument checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

/// The binary with a clean environment: no credentials, AWS pointed at a closed port, and the
/// state directory given.
fn amishare(state: &Path) -> Command {
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

fn run(state: &Path, args: &[&str]) -> Output {
    amishare(state).args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

const SUBCOMMANDS: &[&str] = &[
    "copy",
    "apply",
    "rollback",
    "explain",
    "diagnose",
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
