"""The seed's guardrail worlds (issue 20): an SCP on the target's OU, a permissions boundary on the
launcher role, a resource control policy on the source key's organization, Allowed AMIs in the
target. Each world appears only when its option is given; `seed.py` calls `apply` after its own
worlds and `add_arguments` for the CLI."""

from __future__ import annotations

import argparse
import json
from typing import Any

MANAGEMENT_DEFAULT = "999988887777"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--org-scp-deny", default=None, metavar="ACTIONS",
                    help="with --org-ou-accounts: enable SCPs and attach to the OU an SCP denying ACTIONS "
                         "(comma-separated, e.g. kms:CreateGrant)")
    ap.add_argument("--launcher-boundary", action="store_true",
                    help="with --launcher-role: a permissions boundary on the launcher allowing EC2, Auto "
                         "Scaling and STS but no KMS action")
    ap.add_argument("--source-org-rcp", action="store_true",
                    help="the source account is a member of an organization (managed by "
                         f"--source-management-account) whose root carries the data-perimeter RCP on KMS")
    ap.add_argument("--source-management-account", default=MANAGEMENT_DEFAULT, metavar="ACCT")
    ap.add_argument("--allowed-amis", choices=["enabled", "audit-mode"], default=None,
                    help="enable Allowed AMIs in the target account (region of --region)")
    ap.add_argument("--allowed-amis-providers", default="amazon", metavar="LIST",
                    help="with --allowed-amis: ImageProviders of the one criterion (comma-separated)")


def invalid(args: argparse.Namespace) -> str | None:
    """A one-line reason when the guardrail options cannot build a world together, else None."""
    if getattr(args, "org_scp_deny", None) and not getattr(args, "org_ou_accounts", 0):
        return "--org-scp-deny needs --org-ou-accounts N (the SCP is attached to that OU)"
    if getattr(args, "launcher_boundary", False) and not getattr(args, "launcher_role", False):
        return "--launcher-boundary needs --launcher-role (the boundary is set on that role)"
    if getattr(args, "source_org_rcp", False) and getattr(args, "org_ou_accounts", 0):
        return ("--source-org-rcp cannot be combined with --org-ou-accounts (the source account would "
                "manage one organization and be a member of another)")
    return None


def _client(service: str, ep: str, region: str, account: str) -> Any:
    from .seed import client

    return client(service, ep, region, account)


def apply(args: argparse.Namespace, out: dict[str, Any], ep: str, region: str, src: str, tgt: str) -> None:
    p = args.name_prefix
    deny = getattr(args, "org_scp_deny", None)
    if deny:
        if not out.get("ou_id"):
            raise ValueError("--org-scp-deny needs --org-ou-accounts")
        out["scp_id"] = attach_scp(_client("organizations", ep, region, src), out["ou_id"],
                                   [a.strip() for a in deny.split(",") if a.strip()], f"{p}-deny")
        out["scp_target_id"] = out["ou_id"]
    if getattr(args, "launcher_boundary", False):
        if not out.get("launcher_role_arn"):
            raise ValueError("--launcher-boundary needs --launcher-role")
        out["launcher_boundary_arn"] = set_boundary(_client("iam", ep, region, tgt), f"{p}-launcher",
                                                    f"{p}-launcher-boundary")
    if getattr(args, "source_org_rcp", False):
        if out.get("organization_id"):
            raise ValueError("--source-org-rcp cannot be combined with --org-ou-accounts (the source "
                             "account would manage one organization and be a member of another)")
        seed_rcp_org(out, ep, region, src, getattr(args, "source_management_account", MANAGEMENT_DEFAULT), p)
    mode = getattr(args, "allowed_amis", None)
    if mode:
        providers = [x.strip() for x in getattr(args, "allowed_amis_providers", "amazon").split(",") if x.strip()]
        ec2 = _client("ec2", ep, region, tgt)
        ec2.replace_image_criteria_in_allowed_images_settings(ImageCriteria=[{"ImageProviders": providers}])
        ec2.enable_allowed_images_settings(AllowedImagesSettingsState=mode)
        out.update(allowed_amis=mode, allowed_amis_providers=providers)


def attach_scp(org: Any, target: str, actions: list[str], name: str) -> str:
    """Enable SCPs on the root (when not yet) and attach a Deny of `actions` to `target`."""
    root = org.list_roots()["Roots"][0]
    if not any(t["Type"] == "SERVICE_CONTROL_POLICY" for t in root.get("PolicyTypes", [])):
        org.enable_policy_type(RootId=root["Id"], PolicyType="SERVICE_CONTROL_POLICY")
    doc = {"Version": "2012-10-17", "Statement": [{"Sid": "DenyListed", "Effect": "Deny", "Action": actions,
                                                   "Resource": "*"}]}
    pid = org.create_policy(Content=json.dumps(doc), Description="seeded guardrail", Name=name,
                            Type="SERVICE_CONTROL_POLICY")["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=pid, TargetId=target)
    return pid


BOUNDARY_DOC = {"Version": "2012-10-17", "Statement": [
    {"Sid": "ComputeOnly", "Effect": "Allow", "Action": ["ec2:*", "autoscaling:*", "sts:AssumeRole"],
     "Resource": "*"}]}


def set_boundary(iam: Any, role: str, name: str) -> str:
    arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(BOUNDARY_DOC))["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName=role, PermissionsBoundary=arn)
    return arn


def perimeter_rcp(org_id: str) -> dict[str, Any]:
    """AWS's data-perimeter sample for KMS (Organizations user guide, RCP examples; Control Tower
    CT.KMS.PV.7): only principals of the organization, or AWS services, may use the keys."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "EnforceOrgIdentities", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
        "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": org_id},
                      "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}}]}


def seed_rcp_org(out: dict[str, Any], ep: str, region: str, src: str, mgmt: str, p: str) -> None:
    org = _client("organizations", ep, region, mgmt)
    o = org.create_organization(FeatureSet="ALL")["Organization"]
    root = org.list_roots()["Roots"][0]["Id"]
    org.create_account(Email="source@example.com", AccountName=f"{p}-source",
                       Tags=[{"Key": "emulator:account-id", "Value": src}])
    org.enable_policy_type(RootId=root, PolicyType="RESOURCE_CONTROL_POLICY")
    pid = org.create_policy(Content=json.dumps(perimeter_rcp(o["Id"])), Description="data perimeter",
                            Name=f"{p}-perimeter", Type="RESOURCE_CONTROL_POLICY")["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=pid, TargetId=root)
    out.update(source_organization_id=o["Id"], source_management_account=mgmt, rcp_id=pid)
