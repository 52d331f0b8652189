"""Partitions (aws, aws-cn, aws-us-gov): moto 5.2.1 already builds ARNs in the partition of the
request's region (STS identities, IAM roles and policies, KMS keys) and keeps IAM per partition.
What it lets through: AssumeRole of a role ARN of another partition (STS answers for any ARN). AWS
only knows roles of its own partition, so the emulator refuses it with `ValidationError` (the code
and wording are the emulator's choice, not verified against AWS), which makes a wrongly built
role ARN visible to the tests."""

from __future__ import annotations

from typing import Any

from moto.sts.exceptions import STSValidationError
from moto.sts.models import STSBackend
from moto.utilities.utils import get_partition

_orig_assume_role = STSBackend.assume_role


def assume_role(self: STSBackend, region_name: str, role_session_name: str, role_arn: str, *args: Any,
                **kwargs: Any) -> Any:
    want = get_partition(region_name)
    parts = (role_arn or "").split(":")
    got = parts[1] if len(parts) > 1 else ""
    if got != want:
        raise STSValidationError(f'Partition "{got}" is not valid for resource "{role_arn}" in {region_name} '
                                 f'(partition {want})')
    return _orig_assume_role(self, region_name, role_session_name, role_arn, *args, **kwargs)


def apply() -> None:
    # Chain onto whatever AssumeRole is installed when applied (sts_trust's trust-policy check),
    # not moto's original captured at import time.
    global _orig_assume_role
    _orig_assume_role = STSBackend.assume_role
    STSBackend.assume_role = assume_role  # type: ignore[assignment]
