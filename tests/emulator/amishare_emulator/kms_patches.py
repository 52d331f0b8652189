"""Extensions of moto's KMS: AWS managed keys (alias/aws/ebs, KeyManager=AWS), keys reachable by
ARN from other accounts subject to the key policy, PutKeyPolicy validation."""

from __future__ import annotations

import json
import re
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.kms.models import KmsBackend, kms_backends
from moto.kms.responses import KmsResponse
from moto.kms.utils import RESERVED_ALIASES
from moto.kms.utils import generate_private_key as _moto_generate_private_key

from . import identity, kms_grants, kms_import
from .keyuse import evaluate_direct_call
from .policy_eval import parse_statements, statement_action_matches, statement_principal_matches
from .policy_eval import statement_resource_matches
from .state import current_caller, record_decision

_KEY_ARN = re.compile(r"^arn:aws[\w-]*:kms:([a-z0-9-]+):(\d{12}):(key|alias)/(.+)$")

# Operations AWS KMS supports across accounts (the key policy decides).
CROSS_ACCOUNT_OPS = {
    "describe_key": "kms:DescribeKey",
    "create_grant": "kms:CreateGrant",
    "list_grants": "kms:ListGrants",
    "revoke_grant": "kms:RevokeGrant",
    "encrypt": "kms:Encrypt",
    "decrypt": "kms:Decrypt",
    "re_encrypt": "kms:ReEncryptFrom",
    "generate_data_key": "kms:GenerateDataKey",
    "generate_data_key_without_plaintext": "kms:GenerateDataKeyWithoutPlaintext",
    "get_key_rotation_status": "kms:GetKeyRotationStatus",
    "get_public_key": "kms:GetPublicKey",
    "sign": "kms:Sign",
    "verify": "kms:Verify",
    "generate_mac": "kms:GenerateMac",
    "verify_mac": "kms:VerifyMac",
}
# Operations that only work in the key's own account.
OWNER_ONLY_OPS = {
    "get_key_policy": "kms:GetKeyPolicy",
    "put_key_policy": "kms:PutKeyPolicy",
    "list_key_policies": "kms:ListKeyPolicies",
    "enable_key": "kms:EnableKey",
    "disable_key": "kms:DisableKey",
    "schedule_key_deletion": "kms:ScheduleKeyDeletion",
    "cancel_key_deletion": "kms:CancelKeyDeletion",
    "enable_key_rotation": "kms:EnableKeyRotation",
    "disable_key_rotation": "kms:DisableKeyRotation",
    "tag_resource": "kms:TagResource",
    "untag_resource": "kms:UntagResource",
    "list_resource_tags": "kms:ListResourceTags",
    "update_key_description": "kms:UpdateKeyDescription",
    "create_alias": "kms:CreateAlias",
    "update_alias": "kms:UpdateAlias",
    "replicate_key": "kms:ReplicateKey",
}


def aws_managed_policy(account: str, region: str, service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": f"auto-{service}-2",
            "Statement": [
                {
                    "Sid": f"Allow access through {service.upper()} for all principals in the account that are "
                    f"authorized to use {service.upper()}",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                               "kms:CreateGrant", "kms:DescribeKey"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:CallerAccount": account,
                            "kms:ViaService": f"{'ec2' if service == 'ebs' else service}.{region}.amazonaws.com",
                        }
                    },
                },
                {
                    "Sid": "Allow direct access to key metadata to the account",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                    "Resource": "*",
                },
            ],
        },
        indent=4,
    )


def _generate_default_keys(self: KmsBackend, alias_name: str) -> str | None:
    if alias_name not in RESERVED_ALIASES:
        return None
    service = alias_name.split("/")[-1]
    key = self.create_key(
        aws_managed_policy(self.account_id, self.region_name, service),
        "ENCRYPT_DECRYPT",
        "SYMMETRIC_DEFAULT",
        "Default master key that protects my EBS volumes when no other key is defined"
        if service == "ebs"
        else f"Default key that protects my {service.upper()} data when no other key is defined",
        None,
    )
    key.key_manager = "AWS"
    self.create_alias(key.id, alias_name)
    return key.id


def aws_managed_key(account: str, region: str, alias: str = "alias/aws/ebs") -> Any:
    kms = kms_backends[account][region]
    kid = kms.get_key_id_from_alias(alias)  # creates the AWS managed key lazily
    return kms.keys[kid]


def lookup_key_by_ref(ref: str | None, account: str | None = None, region: str | None = None) -> Any:
    """Key object for a key id / key ARN / alias name / alias ARN, or None."""
    if not ref:
        return None
    m = _KEY_ARN.match(ref)
    if m:
        region, account, kind, rest = m.groups()
        if kind == "alias":
            ref = "alias/" + rest
        else:
            ref = rest
    if account is None or region is None:
        return None
    if account not in list(kms_backends.keys()) and not ref.startswith("alias/aws/"):
        return None
    kms = kms_backends[account][region]
    if ref.startswith("alias/"):
        if ref in RESERVED_ALIASES:
            kid = kms.get_key_id_from_alias(ref)
        else:
            kid = None
            for k in kms.keys.values():
                if ref in k.aliases:
                    kid = k.id
        return kms.keys.get(kid) if kid else None
    return kms.keys.get(ref)


# ----------------------------------------------------------------------------- responses
def _foreign_target(resp: KmsResponse) -> tuple[str, str] | None:
    """(account, region) named by the request's KeyId when it is an ARN of another account."""
    try:
        key_id = resp._get_param("KeyId")
    except Exception:
        return None
    if not isinstance(key_id, str):
        return None
    m = _KEY_ARN.match(key_id)
    if not m:
        return None
    region, account = m.group(1), m.group(2)
    if account == resp.current_account:
        return None
    return account, region


def _kms_backend(self: KmsResponse) -> KmsBackend:
    target = getattr(self, "_emu_target", None)
    if target is not None:
        return kms_backends[target[0]][self.region]
    return kms_backends[self.current_account][self.region]


def _access_denied(caller_arn: str, action: str, key_arn: str, explicit: bool = False) -> JsonRESTError:
    why = ("with an explicit deny in a resource-based policy" if explicit
           else f"because no resource-based policy allows the {action} action")
    return JsonRESTError(
        "AccessDeniedException",
        f"User: {caller_arn} is not authorized to perform: {action} on resource: {key_arn} {why}",
    )


def _request_facts(resp: KmsResponse, name: str) -> tuple[dict[str, Any], dict[str, str] | None]:
    """(extra condition keys, encryption context) of a direct call."""
    extra: dict[str, Any] = {}
    if name == "create_grant":
        extra["kms:grantoperations"] = list(resp._get_param("Operations") or [])
        extra["kms:granteeprincipal"] = resp._get_param("GranteePrincipal") or ""
        if resp._get_param("RetiringPrincipal"):
            extra["kms:retiringprincipal"] = resp._get_param("RetiringPrincipal")
    enc = resp._get_param("EncryptionContext")
    if name == "re_encrypt":
        enc = resp._get_param("SourceEncryptionContext")
    return extra, enc if isinstance(enc, dict) else None


def _authorise(resp: KmsResponse, name: str, key: Any) -> None:
    """Key policy + identity policies + grants for a direct call; AccessDeniedException when denied."""
    caller = current_caller()
    caller_arn = caller.arn if caller else f"arn:aws:iam::{resp.current_account}:root"
    action = CROSS_ACCOUNT_OPS.get(name) or OWNER_ONLY_OPS[name]
    extra, enc = _request_facts(resp, name)
    principal = identity.resolve(caller_arn, resp.current_account)
    decision = evaluate_direct_call(key, action, caller_arn, resp.current_account, principal,
                                    caller.source_ip if caller else None, extra, enc)
    record_decision({"operation": f"kms:{name}", "resource": key.arn, "caller": caller_arn,
                     "caller_account": resp.current_account,
                     "key": key.arn, "key_manager": getattr(key, "key_manager", None), "direct_call": True,
                     **decision.to_json()})
    if not decision.allowed:
        raise JsonRESTError("AccessDeniedException", decision.denial_message(caller_arn, key.arn))


# Key states (KMS developer guide "Key states of AWS KMS keys", the key state table): cryptographic
# operations fail on a Disabled key (DisabledException) and on a key PendingDeletion or PendingImport
# (KMSInvalidStateException); CreateGrant fails only PendingDeletion. moto checks none of this.
CRYPTO_OPS = {"encrypt", "decrypt", "re_encrypt", "generate_data_key", "generate_data_key_without_plaintext",
              "sign", "verify", "generate_mac", "verify_mac"}


def check_key_state(name: str, key: Any) -> None:
    state = getattr(key, "key_state", "Enabled")
    if state == "Enabled" or (name not in CRYPTO_OPS and name != "create_grant"):
        return
    if name == "create_grant" and state != "PendingDeletion":
        return
    if state == "Disabled":
        raise JsonRESTError("DisabledException", f"{key.arn} is disabled.")
    words = {"PendingDeletion": "pending deletion", "PendingImport": "pending import"}.get(state, state)
    raise JsonRESTError("KMSInvalidStateException", f"{key.arn} is {words}.")


def _by_id(resp: KmsResponse, key_ref: Any, key: Any) -> None:
    """AWS accepts a key ARN (or alias ARN) wherever it documents `KeyId`; moto looks keys up by id
    for DisableKey, EnableKey, ScheduleKeyDeletion, ... (HTTP 500): hand moto the key id."""
    if isinstance(key_ref, str) and key_ref.startswith("arn:") and key is not None:
        try:
            doc = json.loads(resp.body)
        except (TypeError, ValueError):
            return
        doc["KeyId"] = key.id
        resp.body = json.dumps(doc)


def _wrap_op(name: str) -> None:
    orig = getattr(KmsResponse, name)

    def wrapper(self: KmsResponse) -> Any:
        self._emu_target = None
        target = _foreign_target(self)
        key_ref = self._get_param("KeyId")
        if target is not None:
            caller = current_caller()
            caller_arn = caller.arn if caller else f"arn:aws:iam::{self.current_account}:root"
            key = lookup_key_by_ref(key_ref, target[0], self.region)
            if name in OWNER_ONLY_OPS:
                if key is None:
                    raise JsonRESTError("NotFoundException", f"Key '{key_ref}' does not exist")
                raise _access_denied(caller_arn, OWNER_ONLY_OPS[name], key.arn)
            if target[1] != self.region or key is None:
                raise JsonRESTError("NotFoundException", f"Key '{key_ref}' does not exist")
            _authorise(self, name, key)
            check_key_state(name, key)
            self._emu_target = (target[0], self.region)
            _by_id(self, key_ref, key)
            return orig(self)
        key = lookup_key_by_ref(key_ref, self.current_account, self.region) if isinstance(key_ref, str) else None
        if key is not None:
            _authorise(self, name, key)
            check_key_state(name, key)
            _by_id(self, key_ref, key)
        return orig(self)

    setattr(KmsResponse, name, wrapper)


def _validate_policy_document(resp: KmsResponse, policy: Any, check_lockout: bool,
                              key_arn: str | None = None) -> None:
    if policy is None:
        return
    if not isinstance(policy, str) or len(policy.encode()) > 32768:
        raise JsonRESTError("LimitExceededException", "Policy exceeds the maximum size of 32768 bytes")
    try:
        doc = json.loads(policy)
    except Exception:
        raise JsonRESTError("MalformedPolicyDocumentException", "The new key policy is not valid JSON.")
    stmts = parse_statements(policy)
    if not isinstance(doc, dict) or stmts is None:
        raise JsonRESTError("MalformedPolicyDocumentException", "The new key policy has no Statement.")
    from moto.iam.models import iam_backends

    for s in stmts:
        if str(s.get("Effect", "")) not in ("Allow", "Deny"):
            raise JsonRESTError("MalformedPolicyDocumentException",
                                "Policy contains a statement with an invalid Effect.")
        p = s.get("Principal", s.get("NotPrincipal"))
        if p is None:
            raise JsonRESTError("MalformedPolicyDocumentException",
                                "Policy contains a statement with no principal.")
        vals = [p] if p == "*" else []
        if isinstance(p, dict):
            for k, v in p.items():
                vals.extend(v if isinstance(v, list) else [v])
        for v in vals:
            if not isinstance(v, str):
                raise JsonRESTError("MalformedPolicyDocumentException",
                                    "Policy contains a statement with one or more invalid principals.")
            m = re.match(r"^arn:aws:iam::(\d{12}):(role|user)/(.+)$", v)
            if m and "*" in v:
                raise JsonRESTError("MalformedPolicyDocumentException",
                                    "Policy contains a statement with one or more invalid principals.")
            if m:
                acct, kind, path = m.groups()
                name = path.split("/")[-1]
                if acct in list(iam_backends.keys()):
                    iam = iam_backends[acct]["aws"]
                    exists = name in (iam.roles_by_name() if hasattr(iam, "roles_by_name") else
                                      {r.name for r in iam.roles.values()}) if kind == "role" else name in iam.users
                    if not exists:
                        raise JsonRESTError("MalformedPolicyDocumentException",
                                            "Policy contains a statement with one or more invalid principals.")
    if check_lockout:
        caller = current_caller()
        caller_arn = caller.arn if caller else f"arn:aws:iam::{resp.current_account}:root"
        acct = resp.current_account
        ok = False
        for s in stmts:
            if s.get("Effect") != "Allow" or s.get("Condition"):
                continue
            if (statement_action_matches(s, "kms:PutKeyPolicy")
                    and (key_arn is None or statement_resource_matches(s, key_arn))
                    and statement_principal_matches(s, caller_arn, acct)):
                ok = True
        if not ok:
            raise JsonRESTError(
                "MalformedPolicyDocumentException",
                "The new key policy will not allow you to update the key policy in the future.",
            )


_orig_put_key_policy = KmsResponse.put_key_policy
_orig_get_key_policy = KmsResponse.get_key_policy
_orig_create_key = KmsResponse.create_key


def put_key_policy(self: KmsResponse) -> str:
    bypass = str(self._get_param("BypassPolicyLockoutSafetyCheck", False)).lower() == "true"
    self._validate_key_id(self._get_param("KeyId"))
    key = self.kms_backend.describe_key(self._get_param("KeyId"))
    if key.key_manager == "AWS":
        raise _access_denied(current_caller().arn if current_caller() else "", "kms:PutKeyPolicy", key.arn)
    _validate_policy_document(self, self._get_param("Policy"), check_lockout=not bypass, key_arn=key.arn)
    self.kms_backend.put_key_policy(key.id, self._get_param("Policy"))
    return json.dumps(None)


def get_key_policy(self: KmsResponse) -> str:
    name = self._get_param("PolicyName") or "default"
    if name != "default":
        raise JsonRESTError("NotFoundException", "No such policy exists")
    key_id = self._get_param("KeyId")
    self._validate_key_id(key_id)
    key = self.kms_backend.describe_key(key_id)
    return json.dumps({"Policy": key.policy or "{}", "PolicyName": "default"})


def create_key(self: KmsResponse) -> str:
    bypass = str(self._get_param("BypassPolicyLockoutSafetyCheck", False)).lower() == "true"
    _validate_policy_document(self, self._get_param("Policy"), check_lockout=not bypass)
    return kms_import.after_create(self, _orig_create_key(self))


class LazyPrivateKey:
    """moto 5.2.1 creates an RSA-2048 private key for EVERY KMS key, symmetric ones included
    (`Key.__init__` -> `generate_private_key`): ~150 ms of CPU per key, paid by every account and
    region whose `aws/ebs` key is first used, so a copy to 60 new account/regions spends seconds
    on keys nothing signs with. The key is made on first use instead (Sign, Verify,
    GetPublicKey), with the same spec."""

    def __init__(self, key_spec: str):
        self.key_spec = key_spec
        self.made: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("key_spec", "made"):
            raise AttributeError(name)
        if self.made is None:
            self.made = _moto_generate_private_key(self.key_spec)
        return getattr(self.made, name)


def lazy_private_key(key_spec: str) -> Any:
    return LazyPrivateKey(key_spec)


def apply() -> None:
    import moto.kms.models as kms_models

    kms_models.generate_private_key = lazy_private_key  # type: ignore[assignment]
    kms_grants.apply()
    KmsBackend._generate_default_keys = _generate_default_keys  # type: ignore[assignment]
    KmsResponse.kms_backend = property(_kms_backend)  # type: ignore[assignment]
    KmsResponse.put_key_policy = put_key_policy  # type: ignore[assignment]
    KmsResponse.get_key_policy = get_key_policy  # type: ignore[assignment]
    KmsResponse.create_key = create_key  # type: ignore[assignment]
    kms_import.apply()
    OWNER_ONLY_OPS.update(kms_import.OPS)
    for name in list(CROSS_ACCOUNT_OPS) + list(OWNER_ONLY_OPS):
        if hasattr(KmsResponse, name):
            _wrap_op(name)
