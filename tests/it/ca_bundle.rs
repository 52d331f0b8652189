//! `AWS_CA_BUNDLE` through the real binary: the emulator is served over TLS (a proxy in front of
//! it, `tests/emulator/amishare_emulator/tls_proxy.py`) with a certificate of a CA this test makes
//! with the openssl CLI. amishare works only with `AWS_CA_BUNDLE` pointing at that CA; without it
//! (or with another CA) it fails with a one-line error saying to set it; a bundle that cannot be
//! read is a usage error (exit 2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::common::{repo_root, stdout_json, Emulator, TARGET_ACCOUNT, TARGET_ROLE};
use super::everyday::stderr;

/// The TLS front, killed (by its pid) on drop.
struct TlsProxy {
    child: Child,
    endpoint: String,
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("the openssl CLI is needed for this test: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`NAME.pem`, `NAME.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    let key = format!("{name}.key");
    let pem = format!("{name}.pem");
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &key,
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &format!("/CN=amishare test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// `server.pem` / `server.key` for 127.0.0.1 and localhost, signed by the CA `ca`.
fn make_server_cert(dir: &Path) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "server.key",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}

fn start_proxy(emu: &Emulator, dir: &Path) -> TlsProxy {
    let upstream = emu.endpoint.trim_start_matches("http://").to_string();
    let mut child = Command::new("python3")
        .current_dir(repo_root().join("tests/emulator"))
        .args(["-m", "amishare_emulator.tls_proxy", "--upstream", &upstream])
        .arg("--cert")
        .arg(dir.join("server.pem"))
        .arg("--key")
        .arg(dir.join("server.key"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("the TLS proxy did not start ({e}): {line}"));
    TlsProxy {
        child,
        endpoint: info["endpoint"].as_str().unwrap().to_string(),
    }
}

#[test]
fn aws_ca_bundle_is_the_trust_for_a_tls_endpoint() {
    let emu = Emulator::start();
    let seed = emu.seed(&[]);
    let ami = seed["ami_id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    make_ca(dir.path(), "ca");
    make_ca(dir.path(), "other-ca");
    make_server_cert(dir.path());
    let proxy = start_proxy(&emu, dir.path());
    let copy = |bundle: Option<&Path>| {
        let mut cmd = emu.amishare_as_source(&seed);
        cmd.env("AWS_ENDPOINT_URL", &proxy.endpoint)
            .env("AWS_MAX_ATTEMPTS", "1")
            .args(["--output", "json", "copy", ami, "--to", TARGET_ACCOUNT])
            .args(["--target-role", TARGET_ROLE, "--dry-run"]);
        match bundle {
            Some(b) => cmd.env("AWS_CA_BUNDLE", b),
            None => cmd.env_remove("AWS_CA_BUNDLE"),
        };
        cmd.output().unwrap()
    };

    // with the CA: the whole dry run over TLS (STS, the assumed roles, EC2, KMS, IAM)
    emu.clear_requests();
    let out = copy(Some(&dir.path().join("ca.pem")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["report"]["status"], "dry-run");
    let services: std::collections::BTreeSet<String> = emu
        .requests()
        .iter()
        .filter_map(|r| r["service"].as_str().map(str::to_string))
        .collect();
    for s in ["sts", "ec2", "kms", "iam"] {
        assert!(
            services.contains(s),
            "{s} not reached over TLS: {services:?}"
        );
    }

    // without it, or with another CA: refused, one line saying what to set
    for bundle in [None, Some(dir.path().join("other-ca.pem"))] {
        emu.clear_requests();
        let out = copy(bundle.as_deref());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{bundle:?}: {err}");
        assert!(
            err.starts_with("error: the AWS endpoint's TLS certificate is not trusted: "),
            "{bundle:?}: {err}"
        );
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{err}"
        );
        assert!(err.contains("help: set `AWS_CA_BUNDLE`"), "{err}");
        assert!(
            emu.requests().is_empty(),
            "nothing reached the emulator: {err}"
        );
    }

    // a bundle that cannot be used: a usage error before any call
    for (bundle, why) in [
        (dir.path().join("missing.pem"), "No such file"),
        (dir.path().join("server.ext"), "holds no PEM certificate"),
    ] {
        let out = copy(Some(&bundle));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.starts_with("error: `AWS_CA_BUNDLE="), "{err}");
        assert!(err.contains(why), "{err}");
    }
}
