"""Unit tests of the emulator's key-use rule (keyuse.evaluate_key_use), one case per clause of the rule."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from amishare_emulator.keyuse import evaluate_key_use

SRC, TGT = "111122223333", "444455556666"
REGION = "us-east-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{SRC}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TGT_USER = f"arn:aws:iam::{TGT}:user/alice"
TGT_ROLE = f"arn:aws:iam::{TGT}:role/path/Launcher"
TGT_SESSION = f"arn:aws:sts::{TGT}:assumed-role/Launcher/session-1"
ROOT_SRC = {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{SRC}:root"},
            "Action": "kms:*", "Resource": "*"}


def key(statements, manager="CUSTOMER", state="Enabled", account=SRC, raw=None):
    policy = raw if raw is not None else json.dumps({"Version": "2012-10-17", "Statement": statements})
    return SimpleNamespace(arn=KEY_ARN.replace(SRC, account), region=REGION, account_id=account,
                           key_manager=manager, key_state=state, policy=policy)


def use(principal, actions=("kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey")):
    return {"Sid": "use", "Effect": "Allow", "Principal": {"AWS": principal}, "Action": list(actions),
            "Resource": "*"}


def grant(principal, cond=True):
    s = {"Sid": "grant", "Effect": "Allow", "Principal": {"AWS": principal},
         "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*"}
    if cond:
        s["Condition"] = {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    return s


def ok(k, caller=TGT_USER, account=TGT):
    return evaluate_key_use(k, caller, account).allowed


def test_default_policy_is_usable_by_own_account_only():
    k = key([ROOT_SRC])
    assert ok(k, f"arn:aws:iam::{SRC}:user/bob", SRC)
    assert not ok(k)
    d = evaluate_key_use(k, TGT_USER, TGT)
    assert d.missing_action == "kms:CreateGrant"


@pytest.mark.parametrize("principal", [
    f"arn:aws:iam::{TGT}:root", TGT, "*", TGT_USER, [f"arn:aws:iam::999988887777:root", TGT],
])
def test_allow_naming_the_account_or_principal(principal):
    assert ok(key([ROOT_SRC, use(principal), grant(principal)]))


def test_principal_star_string_form():
    s1 = dict(use("x"), Principal="*")
    s2 = dict(grant("x"), Principal="*")
    assert ok(key([s1, s2]))


def test_role_arn_matches_its_assumed_role_sessions_but_not_other_principals():
    k = key([use(TGT_ROLE), grant(TGT_ROLE)])
    assert ok(k, TGT_SESSION, TGT)
    assert ok(k, TGT_ROLE, TGT)
    assert not ok(k, f"arn:aws:sts::{TGT}:assumed-role/Other/s", TGT)
    assert not ok(k, TGT_USER, TGT)
    assert not ok(k, f"arn:aws:sts::999988887777:assumed-role/Launcher/s", "999988887777")


def test_both_groups_are_required():
    p = f"arn:aws:iam::{TGT}:root"
    assert not ok(key([use(p)]))                      # no CreateGrant
    assert not ok(key([grant(p)]))                    # no Decrypt / ReEncrypt
    assert ok(key([use(p, ["kms:ReEncryptFrom"]), grant(p)]))
    assert ok(key([use(p, ["kms:Re*"]), grant(p)]))
    assert not ok(key([use(p, ["kms:ReEncrypt"]), grant(p)]))  # matches no real action
    assert ok(key([use(p, ["KMS:decrypt"]), grant(p)]))        # case-insensitive
    assert ok(key([use(p, ["kms:Decryp?"]), grant(p)]))
    assert ok(key([{"Effect": "Allow", "Principal": {"AWS": p}, "Action": "kms:*", "Resource": "*"}]))


def test_not_action():
    p = f"arn:aws:iam::{TGT}:root"
    s = {"Effect": "Allow", "Principal": {"AWS": p}, "NotAction": ["kms:Encrypt"], "Resource": "*"}
    assert ok(key([s]))
    s2 = {"Effect": "Allow", "Principal": {"AWS": p}, "NotAction": ["kms:CreateGrant"], "Resource": "*"}
    assert not ok(key([s2]))


def test_conditions_grant_is_for_aws_resource_only_on_create_grant():
    p = f"arn:aws:iam::{TGT}:root"
    assert ok(key([use(p), grant(p, cond=True)]))
    on_decrypt = dict(use(p), Condition={"Bool": {"kms:GrantIsForAWSResource": "true"}})
    assert not ok(key([on_decrypt, grant(p)]))
    false_cond = dict(grant(p), Condition={"Bool": {"kms:GrantIsForAWSResource": False}})
    assert not ok(key([use(p), false_cond]))


@pytest.mark.parametrize("cond,expected", [
    ({"StringEquals": {"kms:ViaService": f"ec2.{REGION}.amazonaws.com"}}, True),
    ({"StringEquals": {"kms:ViaService": "ec2.eu-west-1.amazonaws.com"}}, False),
    ({"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}, True),
    ({"StringEquals": {"kms:ViaService": ["rds.us-east-1.amazonaws.com", f"ec2.{REGION}.amazonaws.com"]}}, True),
    ({"StringEquals": {"kms:CallerAccount": TGT}}, True),
    ({"StringEquals": {"kms:CallerAccount": "999988887777"}}, False),
    ({"StringNotEquals": {"kms:CallerAccount": "999988887777"}}, True),
    ({"StringEquals": {"kms:callerAccount": TGT, "kms:viaService": f"ec2.{REGION}.amazonaws.com"}}, True),
    ({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}, False),        # network conditions never help
    ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, False),
    ({"StringEquals": {"aws:SourceVpc": "vpc-1"}}, False),
    ({"StringEquals": {"aws:SourceVpce": "vpce-1"}}, False),
    ({"StringEquals": {"aws:PrincipalOrgID": "o-123"}}, False),  # any other key: not helping
    ({"StringEqualsIfExists": {"kms:ViaService": f"ec2.{REGION}.amazonaws.com"}}, True),
])
def test_allow_conditions(cond, expected):
    p = f"arn:aws:iam::{TGT}:root"
    assert ok(key([dict(use(p), Condition=cond), dict(grant(p, cond=False), Condition=cond)])) is expected


def test_deny_rules():
    p = f"arn:aws:iam::{TGT}:root"
    base = [ROOT_SRC, use(p), grant(p)]
    deny_all = {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}
    assert not ok(key(base + [deny_all]))
    deny_other = dict(deny_all, Principal={"AWS": "arn:aws:iam::999988887777:root"})
    assert ok(key(base + [deny_other]))
    deny_encrypt = dict(deny_all, Action="kms:Encrypt")
    assert ok(key(base + [deny_encrypt]))
    deny_decrypt = dict(deny_all, Action="kms:Decrypt")
    assert not ok(key(base + [deny_decrypt]))
    ip = dict(deny_all, Condition={"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}})
    assert not ok(key(base + [ip]))           # EC2's address is never in the user's range
    ip_exception = dict(deny_all, Condition={"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"},
                                             "Bool": {"aws:ViaAWSService": "false"}})
    assert ok(key(base + [ip_exception]))
    deny_other_account = dict(deny_all, Condition={"StringNotEquals": {"kms:CallerAccount": TGT}})
    assert ok(key(base + [deny_other_account]))
    not_principal = {"Effect": "Deny", "NotPrincipal": {"AWS": TGT_USER}, "Action": "kms:*", "Resource": "*"}
    assert ok(key(base + [not_principal]))
    assert not ok(key(base + [not_principal]), f"arn:aws:iam::{TGT}:user/mallory", TGT)
    deny_unknown = dict(deny_all, Condition={"StringNotEquals": {"aws:PrincipalOrgID": "o-1"}})
    assert not ok(key(base + [deny_unknown]))  # conservative


def test_aws_managed_key_never_usable_by_another_account():
    stmts = [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]
    assert not ok(key(stmts, manager="AWS"))
    assert ok(key(stmts, manager="AWS"), f"arn:aws:iam::{SRC}:user/bob", SRC)


def test_aws_ebs_policy_allows_own_account_via_ec2():
    from amishare_emulator.kms_patches import aws_managed_policy

    k = key(None, manager="AWS", raw=aws_managed_policy(SRC, REGION, "ebs"))
    assert ok(k, f"arn:aws:iam::{SRC}:user/bob", SRC)
    assert not ok(k)


def test_key_state_missing_resource_bad_json_single_statement_object():
    p = f"arn:aws:iam::{TGT}:root"
    assert not ok(key([use(p), grant(p)], state="Disabled"))
    assert not ok(key([{k: v for k, v in use(p).items() if k != "Resource"}, grant(p)]))
    assert ok(key([use(p), dict(grant(p), Resource=KEY_ARN)]))
    assert not ok(key([use(p), dict(grant(p), Resource=KEY_ARN.replace("1234abcd", "ffffffff"))]))
    assert not ok(key(None, raw="{not json"))
    one = json.dumps({"Statement": {"Effect": "Allow", "Principal": {"AWS": p}, "Action": "kms:*",
                                    "Resource": "*"}})
    assert ok(key(None, raw=one))
    assert not evaluate_key_use(None, TGT_USER, TGT).allowed


def test_same_account_named_role_only():
    """Same account: a policy without the root statement that names only role A does not let user B use it."""
    role_a = f"arn:aws:iam::{SRC}:role/A"
    k = key([use(role_a), grant(role_a)])
    assert ok(k, f"arn:aws:sts::{SRC}:assumed-role/A/s", SRC)
    assert not ok(k, f"arn:aws:iam::{SRC}:user/b", SRC)
