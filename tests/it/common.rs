//! The Rust harness for the local AWS emulator (tests/emulator/): start one emulator process per
//! test (or reset a shared one), seed it, read its request log, inject faults, and run the real
//! `amishare` binary against it. The emulator is killed when the [`Emulator`] value is dropped.
//!
//! Interface used (fixed, see tests/emulator/README.md and docs/DESIGN.md):
//! - `tests/emulator/start [--latency-ms N] [--pending-seconds S]` prints
//!   `{"endpoint": "http://127.0.0.1:N", "pid": PID}`; stop with `kill PID`.
//! - `tests/emulator/seed --endpoint URL ...` prints the created ids as one JSON document.
//! - control endpoints under `/_emulator/`: `POST reset`, `GET requests[?mutating=true]`,
//!   `DELETE requests`, `POST faults` / `DELETE faults`, `POST config`, `GET cloudtrail`.
//!
//! Every helper panics with a readable message on failure: this is test code.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

/// The source account the emulator's seed uses by default.
pub const SOURCE_ACCOUNT: &str = "111122223333";
/// The target account the emulator's seed uses by default.
pub const TARGET_ACCOUNT: &str = "444455556666";
/// The default region.
pub const REGION: &str = "us-east-1";
/// What the tests set `AMISHARE_POLL_SCALE` to (see [`Emulator::aws_env`]).
pub const POLL_SCALE: &str = "0.05";
/// The seed's role in the target account that amishare assumes (`--target-role`).
pub const TARGET_ROLE: &str = "amishare-target";

/// The ARN of [`TARGET_ROLE`], as `--grant` takes it.
pub fn grant() -> String {
    format!("arn:aws:iam::{TARGET_ACCOUNT}:role/{TARGET_ROLE}")
}

/// `amishare --output json copy AMI --to TARGET --target-role ROLE`, as the seed's source role.
pub fn copy_cmd(emu: &Emulator, seed: &Value, ami: &str) -> assert_cmd::Command {
    let mut cmd = emu.amishare_as_source(seed);
    cmd.args([
        "--output",
        "json",
        "copy",
        ami,
        "--to",
        TARGET_ACCOUNT,
        "--target-role",
        TARGET_ROLE,
    ]);
    cmd
}

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Injected latency per request.
    pub latency_ms: u64,
    /// Seconds images, snapshots and instances stay pending.
    pub pending_seconds: f64,
}

impl Default for StartOptions {
    fn default() -> Self {
        // Short pending times keep the tests quick while still exercising the waiters.
        Self {
            latency_ms: 0,
            pending_seconds: 0.5,
        }
    }
}

/// A temporary directory only its owner can open (0700), like the state directory amishare
/// creates; tempfile's default follows the umask (0755), which amishare warns about.
pub fn private_tempdir() -> tempfile::TempDir {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    builder.tempdir().unwrap()
}

/// One running emulator process; killed on drop.
#[derive(Debug)]
pub struct Emulator {
    pub endpoint: String,
    pub pid: u32,
    host: String,
    port: u16,
    /// A private state dir for amishare's journals (AMISHARE_STATE_DIR).
    pub state_dir: tempfile::TempDir,
}

impl Emulator {
    /// Start an emulator with [`StartOptions::default`].
    pub fn start() -> Self {
        Self::start_with(&StartOptions::default())
    }

    /// Start an emulator and wait until it answers.
    pub fn start_with(opts: &StartOptions) -> Self {
        let script = repo_root().join("tests/emulator/start");
        let out = Command::new(&script)
            .arg("--latency-ms")
            .arg(opts.latency_ms.to_string())
            .arg("--pending-seconds")
            .arg(opts.pending_seconds.to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "emulator start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .unwrap_or_else(|| panic!("emulator start printed no JSON line: {stdout}"));
        let info: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("emulator start line is not JSON ({e}): {line}"));
        let endpoint = info["endpoint"]
            .as_str()
            .unwrap_or_else(|| panic!("no endpoint in {line}"))
            .to_string();
        let pid = info["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("no pid in {line}")) as u32;
        let hostport = endpoint
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("endpoint is not http: {endpoint}"));
        let (host, port) = hostport
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("endpoint has no port: {endpoint}"));
        Emulator {
            endpoint: endpoint.clone(),
            pid,
            host: host.to_string(),
            port: port.parse().unwrap(),
            // private, as amishare makes its own state directory (a looser one is warned about)
            state_dir: private_tempdir(),
        }
    }

    /// Run `tests/emulator/seed --endpoint URL ARGS...` and return its JSON document.
    pub fn seed(&self, args: &[&str]) -> Value {
        let script = repo_root().join("tests/emulator/seed");
        let out = Command::new(&script)
            .arg("--endpoint")
            .arg(&self.endpoint)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "seed {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "seed output is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Wipe every account and region, the request log, faults and configuration overrides.
    pub fn reset(&self) {
        self.post("/_emulator/reset", &Value::Null);
    }

    /// Every request the emulator has seen since the last reset/clear, oldest first. Each entry has
    /// `seq`, `account`, `principal`, `region`, `service`, `action`, `mutating`, `dry_run`, `status`.
    pub fn requests(&self) -> Vec<Value> {
        match self.get("/_emulator/requests") {
            Value::Array(items) => items,
            other => panic!("request log is not an array: {other}"),
        }
    }

    /// The requests that changed state (DryRun probes excluded).
    pub fn mutating_requests(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["mutating"].as_bool() == Some(true))
            .collect()
    }

    /// `service:Action` of each request, e.g. `kms:PutKeyPolicy`.
    /// The `service:Action` names of the mutating calls in the request log, oldest first.
    pub fn mutating_actions(&self) -> Vec<String> {
        Self::actions(&self.mutating_requests())
    }

    pub fn actions(requests: &[Value]) -> Vec<String> {
        requests
            .iter()
            .map(|r| {
                format!(
                    "{}:{}",
                    r["service"].as_str().unwrap_or("?"),
                    r["action"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }

    /// Empty the request log.
    pub fn clear_requests(&self) {
        self.request("DELETE", "/_emulator/requests", None);
    }

    /// Inject a fault, e.g. `{"type": "5xx", "service": "ec2", "action": "CopyImage", "count": 1}`.
    pub fn add_fault(&self, spec: Value) -> Value {
        self.post("/_emulator/faults", &spec)
    }

    /// Remove every injected fault.
    pub fn clear_faults(&self) {
        self.request("DELETE", "/_emulator/faults", None);
    }

    /// Change latency / pending time at run time: `{"latency_ms": 50, "pending_seconds": 1}`.
    pub fn configure(&self, config: Value) -> Value {
        self.post("/_emulator/config", &config)
    }

    /// The CloudTrail events the emulator recorded (all accounts and regions).
    pub fn cloudtrail(&self) -> Vec<Value> {
        match self.get("/_emulator/cloudtrail") {
            Value::Array(items) => items,
            other => panic!("cloudtrail log is not an array: {other}"),
        }
    }

    pub fn get(&self, path: &str) -> Value {
        self.request("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Value {
        self.request("POST", path, Some(body))
    }

    /// A minimal HTTP/1.1 client (no client crate needed): one request, `Connection: close`.
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body = match body {
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        };
        let mut stream = TcpStream::connect((self.host.as_str(), self.port))
            .unwrap_or_else(|e| panic!("cannot connect to the emulator at {}: {e}", self.endpoint));
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.host,
            self.port,
            body.len()
        );
        stream.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw);
        let (head, rest) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("malformed HTTP answer to {method} {path}: {text}"));
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let payload = if chunked {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {payload}"
        );
        if payload.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&payload)
                .unwrap_or_else(|e| panic!("{method} {path} answer is not JSON ({e}): {payload}"))
        }
    }

    /// Environment for an AWS client of the source account (static test credentials, the
    /// emulator endpoint, no shared config files, no IMDS).
    pub fn aws_env(&self) -> Vec<(String, String)> {
        let none = self.state_dir.path().join("no-aws-config");
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_CONFIG_FILE".into(), none.display().to_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                none.display().to_string(),
            ),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            // amishare polls at AWS's pace (copies from 5 s); the emulator's copies take a
            // fraction of a second: every binary test polls 20 times faster.
            ("AMISHARE_POLL_SCALE".into(), POLL_SCALE.into()),
        ]
    }

    /// The real `amishare` binary, with the emulator's environment, a private state dir and no
    /// terminal. Credentials: the seed's source-account access key when given.
    pub fn amishare(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("amishare").unwrap();
        cmd.env_remove("AWS_PROFILE")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("NO_COLOR");
        for (k, v) in self.aws_env() {
            cmd.env(k, v);
        }
        cmd.env("AMISHARE_STATE_DIR", self.state_dir.path());
        cmd.timeout(Duration::from_secs(240));
        cmd
    }

    /// [`Emulator::amishare`] acting as the seed's source account: profile `src` assumes the
    /// seed's `source_role_arn` (the emulator maps the assumed-role credentials to the source
    /// account) with the static test keys of profile `base`.
    pub fn amishare_as_source(&self, seed: &Value) -> assert_cmd::Command {
        let role = seed["source_role_arn"]
            .as_str()
            .unwrap_or_else(|| panic!("seed has no source_role_arn: {seed}"));
        let config = self.state_dir.path().join("aws-config");
        std::fs::write(
            &config,
            format!(
                "[profile base]\naws_access_key_id = testing\naws_secret_access_key = testing\nregion = {REGION}\n\n[profile src]\nrole_arn = {role}\nsource_profile = base\nregion = {REGION}\n"
            ),
        )
        .unwrap();
        let mut cmd = self.amishare();
        // static keys in the environment would win over the profile in the default chain
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_PROFILE", "src");
        cmd
    }

    /// The real binary as the seed's source account, as a plain `std::process::Command` (for
    /// runs that are spawned and killed).
    pub fn std_command_as_source(&self, seed: &Value) -> Command {
        // Build the same environment as `amishare_as_source` (which writes the config file).
        let _ = self.amishare_as_source(seed);
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("amishare"));
        for k in [
            "AWS_PROFILE",
            "AWS_DEFAULT_REGION",
            "AWS_SESSION_TOKEN",
            "NO_COLOR",
        ] {
            cmd.env_remove(k);
        }
        for (k, v) in self.aws_env() {
            cmd.env(k, v);
        }
        cmd.env("AMISHARE_STATE_DIR", self.state_dir.path())
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_CONFIG_FILE", self.state_dir.path().join("aws-config"))
            .env("AWS_PROFILE", "src");
        cmd
    }

    /// Where amishare keeps its journals in these tests.
    pub fn state_path(&self) -> &Path {
        self.state_dir.path()
    }

    /// The key policy of `key_arn` (a key of `account`), read with boto3, independent of
    /// amishare.
    pub fn key_policy(&self, account: &str, key_arn: &str) -> Value {
        let out = self.aws(
            account,
            REGION,
            "kms",
            "get_key_policy",
            json!({"KeyId": key_arn, "PolicyName": "default"}),
        );
        serde_json::from_str(out["Policy"].as_str().unwrap()).unwrap()
    }

    /// `amishare --output json rollback RUN_ID EXTRA... --yes` as the seed's source role: exit 0
    /// (else the output is shown), and its JSON report.
    pub fn rollback_ok(&self, seed: &Value, run_id: &str, extra: &[&str]) -> Value {
        let out = self
            .amishare_as_source(seed)
            .args(["--output", "json", "rollback", run_id])
            .args(extra)
            .arg("--yes")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        stdout_json(&out)
    }

    /// Call AWS through boto3 as `account` (header `x-moto-account-id`), independent of amishare:
    /// `emu.aws("111122223333", "us-east-1", "kms", "get_key_policy", json!({"KeyId": k, "PolicyName": "default"}))`.
    pub fn aws(
        &self,
        account: &str,
        region: &str,
        service: &str,
        method: &str,
        params: Value,
    ) -> Value {
        let script = r#"
import json, sys, boto3
endpoint, acct, region, service, method, params = sys.argv[1:7]
c = boto3.client(service, endpoint_url=endpoint, region_name=region,
                 aws_access_key_id="testing", aws_secret_access_key="testing")
c.meta.events.register("before-sign.*.*",
    lambda request, **kw: request.headers.__setitem__("x-moto-account-id", acct))
out = getattr(c, method)(**json.loads(params))
out.pop("ResponseMetadata", None)
print(json.dumps(out, default=str))
"#;
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args([
                &self.endpoint,
                account,
                region,
                service,
                method,
                &params.to_string(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "boto3 {service}.{method} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Create [`TARGET_ROLE`] in `account` (trusting the source account, inline
    /// `AdministratorAccess`), as the seed does in its target account: on AWS the role amishare
    /// assumes exists and amishare reads its IAM (a session of a role the emulator does not know
    /// is an administrator whose policies nobody can read, which the plan now refuses to guess).
    pub fn admin_target_role(&self, account: &str) {
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{SOURCE_ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]});
        self.aws(
            account,
            REGION,
            "iam",
            "create_role",
            json!({"RoleName": TARGET_ROLE, "AssumeRolePolicyDocument": trust.to_string()}),
        );
        let admin = json!({"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
        self.aws(
            account,
            REGION,
            "iam",
            "put_role_policy",
            json!({"RoleName": TARGET_ROLE, "PolicyName": "AdministratorAccess",
                   "PolicyDocument": admin.to_string()}),
        );
    }

    /// Instances in `accounts` x `regions` that are not terminated (pending, running, stopping,
    /// stopped), listed with boto3 (the emulator's own Python) so the check does not depend on
    /// amishare. Each entry: `{"account", "region", "id", "state"}`.
    pub fn live_instances(&self, accounts: &[&str], regions: &[&str]) -> Vec<Value> {
        let script = r#"
import json, sys, boto3
endpoint, accounts, regions = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
out = []
for acct in accounts:
    for region in regions:
        ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=region,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        ec2.meta.events.register("before-sign.ec2.*",
            lambda request, acct=acct, **kw: request.headers.__setitem__("x-moto-account-id", acct))
        for r in ec2.describe_instances()["Reservations"]:
            for i in r["Instances"]:
                st = i["State"]["Name"]
                if st not in ("terminated", "shutting-down"):
                    out.append({"account": acct, "region": region, "id": i["InstanceId"], "state": st})
print(json.dumps(out))
"#;
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&self.endpoint)
            .arg(accounts.join(","))
            .arg(regions.join(","))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "listing instances failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        match serde_json::from_slice(&out.stdout).unwrap() {
            Value::Array(items) => items,
            other => panic!("instances list is not an array: {other}"),
        }
    }
}

impl Drop for Emulator {
    /// `kill PID`, wait up to 3 s for the process to go, then `kill -9`.
    fn drop(&mut self) {
        // SIGTERM first (a clean stop), SIGKILL if it is still there after 5 s; wait for either.
        for signal in ["-TERM", "-KILL"] {
            let _ = Command::new("kill")
                .arg(signal)
                .arg(self.pid.to_string())
                .status();
            for _ in 0..100 {
                if !process_alive(self.pid) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Whether a process still runs: a zombie (exited, not yet reaped by its parent) does not.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size_line, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size_line.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// Parse the JSON document a command printed on stdout.
pub fn stdout_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}
