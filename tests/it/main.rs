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
// AWS_CA_BUNDLE: the emulator behind TLS with a CA made by the test; trusted only through it.
mod ca_bundle;
// Bad arguments and configuration: exit 2, a one-line error and a hint, before any AWS call.
mod cli_errors;
// Many runs at once editing one key policy: all succeed first try, nothing lost (issue 22).
mod concurrent;
// `copy` / `apply` / `rollback` end to end: the real binary against one emulator per test.
mod copy_e2e;
// The emulator harness itself: start, control endpoints, request log, the Drop guard.
mod copy_harness;
// The guided prompts of `copy` through a pseudo-terminal; `--no-input` and no-terminal errors.
mod copy_prompts;
// The guided question about the target accounts: a role to assume, a profile, or the hand-off.
mod copy_prompts_access;
// `diagnose` (the real binary) against the emulator, one test per cause it can produce.
mod diagnose_emulator;
// `diagnose` against AWS responses replayed with aws-smithy-mocks (what the emulator can't do).
mod diagnose_mocks;
// Everyday use: completions, man pages, `runs` and `show` from journals, without AWS.
mod everyday;
// Everyday use, the checks: the private state directory, offline checks of copy's flags and
// durations, `--no-input` on rollback and apply.
mod everyday_checks;
// Issue 19: an explicit profile (`--profile`, `--target-profile`, `--org-profile`,
// `--key-account-profile`) wins over environment keys; a wrong-account profile is refused.
mod explicit_profiles;
// `--export terraform|cloudformation DIR`: the files checked by python-hcl2, cfn-lint and sh.
mod export;
// `explain` end to end: exit codes, rendered text and JSON (snapshots), errors.
mod explain_cli;
// Issue 21 end to end: each guardrail (SCP, RCP, boundary, Allowed AMIs, key state) refuses the
// run before any change, naming the layer and policy; after the fix the same command succeeds.
mod guardrails_e2e;
// Launchers (`--grant`): the key each launches with, fixed per launcher; Auto Scaling's role.
mod launchers;
// Issue 11: the test launch as the --grant launchers (AssumeRole, Auto Scaling group, analysis only).
mod launch_as;
// Organization scale: `copy --to-ou` over nested OUs (20 accounts, one suspended); accounts files.
mod org_scale;
// A source AMI that is still `pending`: waited for by `copy`, a blocker under `--dry-run`.
mod pending_source;
// The copy's lifecycle flags through the real binary against the emulator (and offline checks).
mod lifecycle;
// The copy's lifecycle flags over the in-memory fakes: planned, journalled, rolled back.
mod lifecycle_fakes;
// The aws-cn and aws-us-gov partitions: every ARN amishare builds is in the region's partition.
mod partitions;
// SSO profiles: the SDK's SSO provider with a cached token against the emulator's fake portal.
mod sso;
// Key policy editing, the KmsKeyUsagePolicy template and the reviewable diff.
mod policy_edit;
// Issue 18: the plan never runs a step it predicts will fail (the copier's IAM, Auto Scaling's
// missing service-linked role, blocked before any change).
mod plan_rule;
// Property tests: the policy parser and analysis never panic on arbitrary input.
mod policy_parser_props;
// The copy workflow (discover -> plan -> apply) over the in-memory fakes of its ports.
mod workflow_fakes;
// Issue 12's robustness: the throttling gate over the fakes; a batched share refused for one account.
mod scale_fakes;
