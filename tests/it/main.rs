//! amishare's integration tests, in one test binary so the AWS SDK and the crate are linked once
//! instead of once per file. One module per area; run one area with
//! `cargo test --test it <module>::` (e.g. `cargo test --test it explain_cli::`).
//!
//! Snapshots (insta) live in `tests/it/snapshots/`, named `it__<module>__<name>.snap`; proptest's
//! saved failure seeds in `tests/proptest-regressions/<module>.txt` (its default place for a
//! source under a directory with a `main.rs`); the in-memory port fakes are in the crate
//! (`amishare::testing`, feature `test-util`).

// Shared: the emulator harness (start/seed/reset an emulator, its control endpoints and request
// log, running the real binary against it).
mod common;

// AWS conventions through the real binary: credential_process profiles, AWS_MAX_ATTEMPTS/AWS_RETRY_MODE.
mod aws_conventions;
// Bad arguments and configuration: exit 2, a one-line error and a hint, before any AWS call.
mod cli_errors;
// `copy` / `apply` / `rollback` end to end: the real binary against one emulator per test.
mod copy_e2e;
// The emulator harness itself: start, control endpoints, request log, the Drop guard.
mod copy_harness;
// The guided prompts of `copy` through a pseudo-terminal; `--no-input` and no-terminal errors.
mod copy_prompts;
// `diagnose` (the real binary) against the emulator, one test per cause it can produce.
mod diagnose_emulator;
// `diagnose` against AWS responses replayed with aws-smithy-mocks (what the emulator can't do).
mod diagnose_mocks;
// Everyday use: completions, man pages, `runs` and `show` from journals, without AWS.
mod everyday;
// Everyday use, the checks: the private state directory, offline checks of copy's flags and
// durations, `--no-input` on rollback and apply.
mod everyday_checks;
// `explain` end to end: exit codes, rendered text and JSON (snapshots), errors.
mod explain_cli;
// Organization scale: `copy --to-ou` over nested OUs (20 accounts, one suspended); accounts files.
mod org_scale;
// A source AMI that is still `pending`: waited for by `copy`, a blocker under `--dry-run`.
mod pending_source;
// Key policy editing, the KmsKeyUsagePolicy template and the reviewable diff.
mod policy_edit;
// Property tests: the policy parser and analysis never panic on arbitrary input.
mod policy_parser_props;
// The copy workflow (discover -> plan -> apply) over the in-memory fakes of its ports.
mod workflow_fakes;
