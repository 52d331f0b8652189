"""Organizations as far as sharing needs them (Organizations API reference; EC2 user guide "Share an
AMI with organizations or OUs"): which organization / OUs an account belongs to, and a seeding aid.

- `org_facts(account)`: its organization id and aws:PrincipalOrgPaths.
- `org_arns(account)`: the ARNs of the account's organization and of every OU on its path (root
  excluded); a launch permission naming any of them makes an image visible and launchable.
- CreateAccount with the tag `emulator:account-id` = a 12-digit id creates the member account with
  that id (AWS picks ids; the seed uses this to place a known target account in an OU). The tag is
  not stored.
- CreateAccount's role (`RoleName`, default `OrganizationAccountAccessRole`) trusts the management
  account and has administrator rights (Organizations user guide "Accessing a member account that
  has a management account access role": "grants full administrative permissions"; AWS gives it the
  inline policy `AdministratorAccess`, Allow * on *). moto creates it without any policy.
- AttachPolicy of a customer SCP / RCP needs its policy type enabled on the root (EnablePolicyType),
  else `PolicyTypeNotEnabledException` (Organizations API reference "AttachPolicy"); the policies
  then apply (guardrails/scp.py, rcp.py).
- A member account (not the management account) that calls ListPoliciesForTarget, DescribePolicy
  or ListParents gets `AccessDeniedException` "You don't have permissions to access this
  resource." (Organizations API reference: these "can be called only from the organization's
  management account or by a member account that is a delegated administrator"; delegation
  policies are not modelled, so no member is one). moto would look in the member's own empty
  backend and answer a not-found error.
- `reset()`: the emulator's reset forgets every organization, including which accounts are members
  (moto keeps that map outside its backends).
"""

from __future__ import annotations

from typing import Any

from moto.organizations.models import OrganizationsBackend, organizations_backends

ACCOUNT_ID_TAG = "emulator:account-id"


def _backend_of(account: str) -> tuple[Any, Any] | None:
    """(management backend, FakeAccount) of the organization `account` belongs to."""
    for _acct, per in list(organizations_backends.items()):
        backend = per.get("aws") if hasattr(per, "get") else None
        if backend is None or getattr(backend, "org", None) is None:
            continue
        acc = next((a for a in backend.accounts if a.id == account), None)
        if acc is not None:
            return backend, acc
    return None


def org_arns(account: str) -> set[str]:
    found = _backend_of(account)
    if found is None:
        return set()
    backend, acc = found
    out = {backend.org.arn}
    by_id = {ou.id: ou for ou in backend.ou}
    parent = acc.parent_id
    while parent in by_id and parent != backend.org.root_id:
        out.add(by_id[parent].arn)
        parent = by_id[parent].parent_id
    return out


def org_facts(account: str) -> tuple[str | None, list[str]]:
    """(organization id, [aws:PrincipalOrgPaths entry `o-x/r-x/ou-x/.../`]) of an account."""
    found = _backend_of(account)
    if found is None:
        return None, []
    backend, acc = found
    org = backend.org
    chain, parent = [], acc.parent_id
    by_id = {ou.id: ou for ou in backend.ou}
    while parent in by_id and parent != org.root_id:
        chain.append(parent)
        parent = by_id[parent].parent_id
    return org.id, ["/".join([org.id, org.root_id, *reversed(chain)]) + "/"]


_orig_create_account = OrganizationsBackend.create_account


ADMIN_POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
ENFORCED_TYPES = ("SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY", "DECLARATIVE_POLICY_EC2")


def _access_role(account: str, management: str, role_name: str) -> None:
    """The member account's access role: trusts the management account, administrator rights."""
    import json

    from moto.iam.models import iam_backends

    iam = iam_backends[account]["aws"]
    role = next((r for r in list(iam.roles.values()) if r.name == role_name), None)
    if role is None:
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"AWS": f"arn:aws:iam::{management}:root"}}]}
        role = iam.create_role(role_name=role_name, assume_role_policy_document=json.dumps(trust), path="/",
                               permissions_boundary=None, description="", tags=[], max_session_duration="3600")
    if not role.policies:
        iam.put_role_policy(role_name, "AdministratorAccess", ADMIN_POLICY)


def create_account(self: OrganizationsBackend, **kwargs: Any) -> dict[str, Any]:
    tags = list(kwargs.get("Tags") or [])
    wanted = next((t.get("Value") for t in tags if t.get("Key") == ACCOUNT_ID_TAG), None)
    kwargs["Tags"] = [t for t in tags if t.get("Key") != ACCOUNT_ID_TAG]
    status = _orig_create_account(self, **kwargs)
    if wanted and len(wanted) == 12 and wanted.isdigit():
        new_id = status["CreateAccountStatus"]["AccountId"]
        acc = next(a for a in self.accounts if a.id == new_id)
        acc.id = wanted
        organizations_backends.master_accounts[wanted] = organizations_backends.master_accounts.pop(new_id)
        status = acc.create_account_status
    _access_role(status["CreateAccountStatus"]["AccountId"], self.account_id,
                 kwargs.get("RoleName") or "OrganizationAccountAccessRole")
    return status


_orig_attach_policy = OrganizationsBackend.attach_policy


def attach_policy(self: OrganizationsBackend, **kwargs: Any) -> None:
    from moto.organizations.exceptions import PolicyTypeNotEnabledException

    from .guardrails.scp import policy_type_enabled

    policy = self.get_policy_by_id(kwargs["PolicyId"])
    if (policy.type in ENFORCED_TYPES and not policy.aws_managed and self.org is not None
            and not policy_type_enabled(self, policy.type)):
        raise PolicyTypeNotEnabledException
    _orig_attach_policy(self, **kwargs)


MEMBER_DENIED = "You don't have permissions to access this resource."
MANAGEMENT_ONLY_READS = ("list_policies_for_target", "describe_policy", "list_parents")


def _management_only(name: str) -> Any:
    original = getattr(OrganizationsBackend, name)

    def call(self: OrganizationsBackend, *args: Any, **kwargs: Any) -> Any:
        from moto.organizations.exceptions import OrganizationsClientError

        if self.org is None and self.account_id in organizations_backends.master_accounts:
            raise OrganizationsClientError("AccessDeniedException", MEMBER_DENIED)
        return original(self, *args, **kwargs)

    return call


def reset() -> None:
    organizations_backends.master_accounts.clear()


def apply() -> None:
    OrganizationsBackend.create_account = create_account  # type: ignore[assignment]
    OrganizationsBackend.attach_policy = attach_policy  # type: ignore[assignment]
    for name in MANAGEMENT_ONLY_READS:
        setattr(OrganizationsBackend, name, _management_only(name))
