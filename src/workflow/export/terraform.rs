//! Terraform (HCL2) for each account: `<account>/main.tf` with one provider alias per region
//! and only documented arguments of the AWS provider's resources ([`DOCUMENTED_ARGUMENTS`]).
//! Policies are heredoc JSON (`${` and `%{` escaped, so IAM policy variables stay literal).

use std::collections::BTreeSet;

use super::{key_id_of, slug, AccountChanges, Change, ExportFile, ExportInput, Located};
use crate::domain::arn::{policy_arn, Principal};
use crate::policy::template::KMS_KEY_USAGE_POLICY_NAME;

/// The resource types amishare writes and the arguments each documents, from the AWS
/// provider's pages on registry.terraform.io
/// (`https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/<TYPE without aws_>`,
/// e.g. `.../resources/kms_key_policy`, `.../resources/ami_copy`), checked against the
/// provider's `website/docs/r/*.html.markdown`. `aws_ami_copy` also accepts `aws_ami`'s
/// arguments; amishare uses only the ones listed here. `bypass_policy_lockout_safety_check` is
/// documented but amishare never writes it (see the tests).
pub const DOCUMENTED_ARGUMENTS: &[(&str, &[&str])] = &[
    (
        "aws_kms_key_policy",
        &["key_id", "policy", "bypass_policy_lockout_safety_check"],
    ),
    (
        "aws_ami_launch_permission",
        &[
            "image_id",
            "account_id",
            "group",
            "organization_arn",
            "organizational_unit_arn",
        ],
    ),
    (
        "aws_snapshot_create_volume_permission",
        &["snapshot_id", "account_id"],
    ),
    (
        "aws_iam_policy",
        &[
            "name",
            "name_prefix",
            "path",
            "description",
            "policy",
            "tags",
        ],
    ),
    ("aws_iam_role_policy_attachment", &["role", "policy_arn"]),
    (
        "aws_iam_service_linked_role",
        &["aws_service_name", "custom_suffix", "description", "tags"],
    ),
    ("aws_iam_user_policy_attachment", &["user", "policy_arn"]),
    ("aws_iam_group_policy_attachment", &["group", "policy_arn"]),
    (
        "aws_kms_grant",
        &[
            "name",
            "key_id",
            "grantee_principal",
            "operations",
            "constraints",
            "retiring_principal",
            "grant_creation_tokens",
            "retire_on_delete",
        ],
    ),
    (
        "aws_ami_copy",
        &[
            "name",
            "source_ami_id",
            "source_ami_region",
            "encrypted",
            "kms_key_id",
            "description",
            "destination_outpost_arn",
            "deprecation_time",
            "tags",
        ],
    ),
];

/// Meta-arguments Terraform accepts in every resource block (Terraform language docs,
/// "Meta-Arguments"); amishare writes only `provider`.
pub const META_ARGUMENTS: &[&str] = &["provider", "depends_on", "count", "for_each", "lifecycle"];

/// The `provider "aws"` arguments amishare writes (provider docs, "Argument Reference").
pub const PROVIDER_ARGUMENTS: &[&str] = &["alias", "region", "allowed_account_ids"];

/// `<account>/main.tf` for every account with changes.
pub fn files(input: &ExportInput<'_>, accounts: &[AccountChanges]) -> Vec<ExportFile> {
    accounts
        .iter()
        .map(|a| ExportFile {
            path: format!("{}/main.tf", a.account),
            contents: main_tf(input, a),
        })
        .collect()
}

/// The alias of the provider for an account and region: `acct_111122223333_us_east_1`.
pub fn alias(account: &str, region: &str) -> String {
    format!("acct_{account}_{}", slug(region))
}

fn main_tf(input: &ExportInput<'_>, a: &AccountChanges) -> String {
    let mut out = header(input, a);
    out.push_str(
        "terraform {\n  required_version = \">= 1.5.0\" # import blocks\n  required_providers {\n    aws = {\n      source  = \"hashicorp/aws\"\n      version = \">= 5.0\"\n    }\n  }\n}\n",
    );
    let regions: BTreeSet<&str> = a.changes.iter().map(|c| c.region.as_str()).collect();
    for region in regions {
        out.push_str(&format!(
            "\nprovider \"aws\" {{\n  alias               = {}\n  region              = {}\n  allowed_account_ids = [{}]\n}}\n",
            hcl_string(&alias(&a.account, region)),
            hcl_string(region),
            hcl_string(&a.account)
        ));
    }
    let mut names = Names::default();
    let policies: Vec<String> = a
        .changes
        .iter()
        .filter_map(|c| match &c.change {
            Change::UsagePolicy { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    for c in &a.changes {
        out.push('\n');
        out.push_str(&block(input, a, c, &policies, &mut names));
    }
    out
}

fn header(input: &ExportInput<'_>, a: &AccountChanges) -> String {
    let what = if input.planned_only {
        "would change (dry run)"
    } else {
        "changed"
    };
    let side = if a.is_source {
        "the source account: apply it first, the copies in the target accounts need its key policy and shares"
    } else {
        "a target account: apply it after the source account's"
    };
    format!(
        "# {} {}: what amishare plan {} {what} in account {}.\n# This is {side}.\n# Review it, then run `terraform init && terraform plan` here with credentials for account {}\n# (the providers refuse any other account: allowed_account_ids).\n\n",
        super::README_MARK,
        env!("CARGO_PKG_VERSION"),
        input.run_id(),
        a.account,
        a.account
    )
}

/// Unique resource names within one file.
#[derive(Default)]
struct Names(BTreeSet<String>);

impl Names {
    fn take(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 2;
        while !self.0.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        name
    }
}

/// One change as a (commented) resource block.
fn block(
    input: &ExportInput<'_>,
    a: &AccountChanges,
    c: &Located,
    policies: &[String],
    names: &mut Names,
) -> String {
    let provider = format!("aws.{}", alias(&a.account, &c.region));
    let from = c
        .step
        .as_deref()
        .map(|s| format!("# step {s}: "))
        .unwrap_or_else(|| "# ".to_string());
    match &c.change {
        Change::KeyPolicy { key_arn, policy } => format!(
            "{from}the key policy of {key_arn}.\n# aws_kms_key_policy REPLACES THE WHOLE KEY POLICY: this is the merged document (the policy as it was\n# plus amishare's additions), not the additions alone. Destroying this resource gives the key AWS's\n# default key policy. bypass_policy_lockout_safety_check is deliberately not set.\nresource \"aws_kms_key_policy\" {} {{\n  provider = {provider}\n  key_id   = {}\n  policy   = {}\n}}\n",
            hcl_string(&names.take(&format!("key_policy_{}", slug(key_id_of(key_arn))))),
            hcl_string(key_arn),
            heredoc(policy)
        ),
        Change::LaunchPermission { image_id, account } => {
            // An organization or OU ARN has its own argument (the resource's documented three).
            let arg = if account.contains(":organization/") {
                "organization_arn"
            } else if account.contains(":ou/") {
                "organizational_unit_arn"
            } else {
                "account_id"
            };
            format!(
                "{from}share {image_id} with {account} (launch permission).\nresource \"aws_ami_launch_permission\" {} {{\n  provider = {provider}\n  image_id = {}\n  {arg} = {}\n}}\n",
                hcl_string(&names.take(&format!("launch_{}_{}", slug(image_id), slug(account)))),
                hcl_string(image_id),
                hcl_string(account)
            )
        }
        Change::SnapshotPermission {
            snapshot_id,
            account,
        } => format!(
            "{from}share snapshot {snapshot_id} with {account} (createVolumePermission).\nresource \"aws_snapshot_create_volume_permission\" {} {{\n  provider    = {provider}\n  snapshot_id = {}\n  account_id  = {}\n}}\n",
            hcl_string(&names.take(&format!("snapshot_{}_{account}", slug(snapshot_id)))),
            hcl_string(snapshot_id),
            hcl_string(account)
        ),
        Change::UsagePolicy {
            name,
            document,
            existing_arn,
        } => {
            // After a run the policy exists: adopt it with an import block (creating it again
            // would fail with EntityAlreadyExists).
            let import = match existing_arn {
                Some(arn) => Some((arn.clone(), "exists already: import it, then this document becomes its new default version\n# (IAM keeps at most 5 versions of a managed policy)")),
                None if !input.planned_only => Some((
                    policy_arn(input.partition(), &a.account, name),
                    "was created by this run: import it, so that Terraform adopts it instead of creating it again",
                )),
                None => None,
            };
            usage_policy_block(&from, &provider, name, document, import)
        }
        Change::Attach {
            policy_arn,
            principal_arn,
        } => attach_block(&from, &provider, policy_arn, principal_arn, policies, names),
        Change::Grant {
            name,
            key_arn,
            grantee_principal,
            operations,
            retiring_principal,
        } => {
            let ops: Vec<String> = operations.iter().map(|o| hcl_string(o)).collect();
            let retiring = retiring_principal
                .as_deref()
                .map(|r| format!("  retiring_principal = {}\n", hcl_string(r)))
                .unwrap_or_default();
            format!(
                "{from}a KMS grant on {key_arn} for {grantee_principal}.\nresource \"aws_kms_grant\" {} {{\n  provider           = {provider}\n  name               = {}\n  key_id             = {}\n  grantee_principal  = {}\n  operations         = [{}]\n{retiring}}}\n",
                hcl_string(&names.take(&format!("grant_{}", slug(name)))),
                hcl_string(name),
                hcl_string(key_arn),
                hcl_string(grantee_principal),
                ops.join(", ")
            )
        }
        Change::ServiceLinkedRole { service, role_arn } => format!(
            "{from}the service-linked role {role_arn} (kept by amishare's rollback: every Auto Scaling group of the account uses it).\nresource \"aws_iam_service_linked_role\" {} {{\n  provider         = {provider}\n  aws_service_name = {}\n}}\n",
            hcl_string(&names.take(&format!("slr_{}", slug(service)))),
            hcl_string(service)
        ),
        Change::Copy { .. } => {
            let created = input.created_by(c.step.as_deref());
            let note = if created.is_empty() {
                String::new()
            } else {
                format!(
                    "# This run created {}: aws_ami_copy documents no import, so applying this block makes ANOTHER\n# copy. Keep the block for review, or remove it to leave the copy outside Terraform.\n",
                    created.join(", ")
                )
            };
            format!("{note}{}", copy_block(&from, &provider, &c.change, &c.region, names))
        }
        Change::Comment { text } => format!("{from}{}\n", text.replace('\n', "\n# ")),
    }
}

/// The Terraform name of the usage policy resource.
fn policy_resource(name: &str) -> String {
    if name == KMS_KEY_USAGE_POLICY_NAME {
        "kms_key_usage_policy".to_string()
    } else {
        format!("policy_{}", slug(name))
    }
}

fn usage_policy_block(
    from: &str,
    provider: &str,
    name: &str,
    document: &str,
    import: Option<(String, &str)>,
) -> String {
    let resource = policy_resource(name);
    // No description or path: amishare creates the policy without them, and both force a
    // replacement when they differ from an imported policy.
    let import = match import {
        Some((arn, why)) => format!(
            "# {name} {why}.\nimport {{\n  provider = {provider}\n  to       = aws_iam_policy.{resource}\n  id       = {}\n}}\n\n",
            hcl_string(&arn)
        ),
        None => String::new(),
    };
    format!(
        "{from}{name}: least-privilege use of KMS key(s), for the principals that copy or launch.\n{import}resource \"aws_iam_policy\" {} {{\n  provider = {provider}\n  name     = {}\n  policy   = {}\n}}\n",
        hcl_string(&resource),
        hcl_string(name),
        heredoc(document)
    )
}

fn attach_block(
    from: &str,
    provider: &str,
    policy_arn: &str,
    principal_arn: &str,
    policies: &[String],
    names: &mut Names,
) -> String {
    let Some(p) = Principal::parse(principal_arn) else {
        return format!("{from}not exported: cannot attach {policy_arn} to `{principal_arn}` (not a user, role or group)\n");
    };
    let Some(kind) = p.kind.iam_entity() else {
        return format!("{from}not exported: cannot attach {policy_arn} to `{principal_arn}` (not a user, role or group)\n");
    };
    let arn = match policies
        .iter()
        .find(|n| policy_arn.rsplit('/').next() == Some(n.as_str()))
    {
        Some(name) => format!("aws_iam_policy.{}.arn", policy_resource(name)),
        None => hcl_string(policy_arn),
    };
    let pad = " ".repeat("policy_arn".len() - kind.len());
    format!(
        "{from}attach it to {principal_arn}.\nresource \"aws_iam_{kind}_policy_attachment\" {} {{\n  provider   = {provider}\n  {kind}{pad} = {}\n  policy_arn = {arn}\n}}\n",
        hcl_string(&names.take(&format!("attach_{kind}_{}", slug(p.name)))),
        hcl_string(p.name)
    )
}

fn copy_block(
    from: &str,
    provider: &str,
    change: &Change,
    region: &str,
    names: &mut Names,
) -> String {
    let Change::Copy {
        source_image_id,
        source_region,
        name,
        kms_key_id,
        tags,
    } = change
    else {
        return String::new();
    };
    let key = match kms_key_id {
        Some(k) if k == "alias/aws/ebs" => {
            "  # no kms_key_id: the account's default EBS key (alias/aws/ebs) encrypts the copy\n"
                .to_string()
        }
        Some(k) if k.starts_with("arn:") => format!("  kms_key_id        = {}\n", hcl_string(k)),
        Some(k) => format!(
            "  # the provider documents a full key ARN for kms_key_id: resolve {k} to its ARN\n  kms_key_id        = {}\n",
            hcl_string(k)
        ),
        None => "  # no kms_key_id: the account's default EBS key encrypts the copy\n".to_string(),
    };
    let tags = if tags.is_empty() {
        String::new()
    } else {
        let lines: Vec<String> = tags
            .iter()
            .map(|(k, v)| format!("    {} = {}\n", hcl_string(k), hcl_string(v)))
            .collect();
        format!("  tags = {{\n{}  }}\n", lines.concat())
    };
    format!(
        "{from}copy {source_image_id} from {source_region}, encrypted. Not included: the test launch\n# amishare makes after the copy (a check, not infrastructure).\nresource \"aws_ami_copy\" {} {{\n  provider          = {provider}\n  name              = {}\n  source_ami_id     = {}\n  source_ami_region = {}\n  encrypted         = true\n{key}{tags}}}\n",
        hcl_string(&names.take(&format!("copy_{}", slug(region)))),
        hcl_string(name),
        hcl_string(source_image_id),
        hcl_string(source_region)
    )
}

/// A quoted HCL string: `\`, `"` and control characters escaped, and `${` / `%{` doubled so
/// they are not template sequences.
pub fn hcl_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    escape_templates(&out)
}

/// A JSON document as a heredoc (`<<EOT ... EOT`), pretty-printed when it parses.
pub fn heredoc(json: &str) -> String {
    let pretty = serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| json.to_string());
    format!("<<EOT\n{}\nEOT", escape_templates(&pretty))
}

fn escape_templates(text: &str) -> String {
    text.replace("${", "$${").replace("%{", "%%{")
}
