"""Unit tests of the per-action decision (keyuse.decide_action / evaluate_key_use with identity
policies and grants) and of the condition operators added for issue 9; no server needed."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from amishare_emulator.identity import Principal
from amishare_emulator.keyuse import decide_action, evaluate_key_use
from amishare_emulator.policy_eval import eval_operator, parse_statements

SRC, TGT = "111122223333", "444455556666"
KEY_ARN = f"arn:aws:kms:us-east-1:{SRC}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = f"arn:aws:iam::{TGT}:role/Launcher"
SESSION = f"arn:aws:sts::{TGT}:assumed-role/Launcher/s"
ROOT_SRC = {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{SRC}:root"},
            "Action": "kms:*", "Resource": "*"}


def key(stmts, grants=()):
    return SimpleNamespace(arn=KEY_ARN, region="us-east-1", account_id=SRC, key_manager="CUSTOMER",
                           key_state="Enabled", policy=json.dumps({"Statement": stmts}),
                           grants={g.id: g for g in grants})


def grant(gid, grantee, ops, constraints=None):
    return SimpleNamespace(id=gid, grantee_principal=grantee, operations=ops, constraints=constraints or {})


def principal(arn=SESSION, account=TGT, policies=(), kind="role", **kw):
    return Principal(arn, account, ROLE if kind == "role" else arn, kind,
                     policies=[(n, parse_statements({"Statement": s})) for n, s in policies], **kw)


ALLOW_ALL_KMS = ("kms", [{"Sid": "k", "Effect": "Allow", "Action": "kms:*", "Resource": "*"}])


def decide(k, p, action="kms:Decrypt"):
    return decide_action(k, parse_statements(k.policy), action, p, False)


def test_same_account_delegation_needs_identity_policy():
    user = f"arn:aws:iam::{SRC}:user/test"
    k = key([ROOT_SRC])
    v = decide(k, principal(user, SRC, kind="user"))
    assert not v.allowed and v.missing == "identity policy"
    v = decide(k, principal(user, SRC, [ALLOW_ALL_KMS], kind="user"))
    assert v.allowed and v.decided_by == "identity policy" and v.statement == "kms/k"


def test_identity_deny_beats_key_policy_allow_and_not_resource():
    named = {"Sid": "role", "Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:*", "Resource": "*"}
    deny = ("deny", [{"Sid": "d", "Effect": "Deny", "Action": "kms:*", "NotResource": "arn:aws:kms:*:*:key/other"}])
    v = decide(key([named]), principal(policies=[ALLOW_ALL_KMS, deny]))
    assert not v.allowed and v.missing == "explicit deny in identity policy" and v.statement == "deny/d"
    other = ("deny", [{"Sid": "d", "Effect": "Deny", "Action": "kms:*", "NotResource": KEY_ARN}])
    assert decide(key([named]), principal(policies=[ALLOW_ALL_KMS, other])).allowed


def test_grants_to_a_role_or_to_an_account():
    k = key([ROOT_SRC], [grant("g1", ROLE, ["Decrypt"])])
    v = decide(k, principal())
    assert v.allowed and v.decided_by == "grant" and v.statement == "grant g1"
    assert not decide(k, principal(), "kms:Encrypt").allowed  # not in the grant's operations
    k = key([ROOT_SRC], [grant("g2", f"arn:aws:iam::{TGT}:root", ["Decrypt"])])
    assert not decide(k, principal()).allowed
    v = decide(k, principal(policies=[ALLOW_ALL_KMS]))
    assert v.allowed and v.decided_by == "grant + identity policy"


def test_grant_encryption_context_constraints():
    g = grant("g", ROLE, ["Decrypt"], {"EncryptionContextSubset": {"aws:ebs:id": "vol-1"}})
    k = key([ROOT_SRC], [g])
    assert decide_action(k, parse_statements(k.policy), "kms:Decrypt", principal(), True, {"aws:ebs:id": "vol-1"}).allowed
    assert not decide_action(k, parse_statements(k.policy), "kms:Decrypt", principal(), True,
                             {"aws:ebs:id": "vol-2"}).allowed


def test_ec2_use_needs_create_grant_from_identity_and_decrypt_from_the_key_policy():
    user = f"arn:aws:iam::{SRC}:user/test"
    cg = ("cg", [{"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": KEY_ARN,
                  "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}}}])
    d = evaluate_key_use(key([ROOT_SRC]), user, SRC, principal(user, SRC, [cg], kind="user"))
    assert d.allowed and d.decided_by == "identity policy" and d.statement == "cg/#0"
    assert d.per_action["kms:Decrypt"].decided_by == "key policy"
    d = evaluate_key_use(key([ROOT_SRC]), user, SRC, principal(user, SRC, kind="user"))
    assert not d.allowed and d.missing_action == "kms:CreateGrant" and d.missing_source == "identity policy"
    assert "no identity-based policy allows the kms:CreateGrant action" in d.denial_message(user, KEY_ARN)


def test_principal_conditions_tags_org_paths():
    stmt = {"Sid": "org", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-1/r-1/ou-1/*"]},
                          "StringEquals": {"aws:PrincipalTag/team": "web"}}}
    p = principal(policies=[ALLOW_ALL_KMS], tags={"team": "web"}, org_id="o-1", org_paths=["o-1/r-1/ou-1/"])
    assert decide(key([stmt]), p).allowed
    p.tags = {"team": "db"}
    assert not decide(key([stmt]), p).allowed
    p.tags, p.org_paths = {"team": "web"}, ["o-1/r-1/ou-2/"]
    assert not decide(key([stmt]), p).allowed


@pytest.mark.parametrize("op,values,ctx,expected", [
    ("IpAddress", ["10.0.0.0/8"], "10.1.2.3", True),
    ("NotIpAddress", ["10.0.0.0/8", "192.0.2.1"], "192.0.2.1", False),
    ("NumericLessThan", ["5"], "3", True),
    ("NumericGreaterThanEquals", ["5"], "3", False),
    ("DateGreaterThan", ["2020-01-01T00:00:00Z"], "2026-12-01T00:00:00Z", True),
    ("StringNotEquals", ["a", "b"], "b", False),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "b"], True),
    ("ForAllValues:StringEquals", ["a"], ["a", "b"], False),
    ("ForAnyValue:StringEquals", ["b"], ["a", "b"], True),
    ("StringEqualsIfExists", ["x"], None, True),
    ("Null", ["true"], None, True),
])
def test_condition_operators(op, values, ctx, expected):
    assert eval_operator(op, "k", values, {} if ctx is None else {"k": ctx}) is expected
