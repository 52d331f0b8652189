"""SSM Parameter Store: the `aws:ec2:image` data type as AWS validates it (SSM API reference,
PutParameter `DataType`; user guide "Native parameter support for Amazon Machine Image IDs").

moto 5.2.1 stores any value under `aws:ec2:image`. AWS checks that the value is an AMI id that is
available to the account in the parameter's region, asynchronously: PutParameter answers 200 (with
the version it would create) either way, and a value that fails the check is not written (the
parameter is not created, or keeps its previous value). The emulator does the check at once and
drops a failing write in the same way; every dropped write is listed at
`GET /_emulator/ssm/rejected`.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from moto.core.utils import utcnow
from moto.ssm.models import Parameter, SimpleSystemManagerBackend

from .ec2.common import find_image

IMAGE_DATA_TYPE = "aws:ec2:image"
AMI_ID = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
REJECTED: list[dict[str, Any]] = []
_LOCK = threading.Lock()

_orig_put = SimpleSystemManagerBackend.put_parameter


def image_available(account: str, region: str, value: str) -> str | None:
    """`None` when `value` is an AMI available to `account` in `region`, else why not."""
    if not AMI_ID.match(value or ""):
        return f"{value!r} is not an AMI id"
    ami = find_image(region, value, account)
    if ami is None:
        return f"{value} is not available to {account} in {region}"
    if ami.state != "available":
        return f"{value} is {ami.state}"
    return None


def put_parameter(self: SimpleSystemManagerBackend, name: str, description: str, value: str,
                  parameter_type: str, allowed_pattern: str, keyid: str, overwrite: bool,
                  tags: list[dict[str, str]], data_type: str, tier: str | None = None,
                  policies: str | None = None) -> Parameter:
    if data_type == IMAGE_DATA_TYPE:
        why = image_available(self.account_id, self.region_name, value)
        if why is not None:
            versions = self._parameters.get(name) or []
            if versions and not overwrite:
                return _orig_put(self, name, description, value, parameter_type, allowed_pattern, keyid,
                                 overwrite, tags, data_type, tier=tier, policies=policies)
            with _LOCK:
                REJECTED.append({"account": self.account_id, "region": self.region_name, "name": name,
                                 "value": value, "reason": why})
            return Parameter(account_id=self.account_id, name=name, value=value,
                             parameter_type=parameter_type or "String", description=description,
                             allowed_pattern=allowed_pattern, keyid=keyid, last_modified_date=utcnow(),
                             version=(versions[-1].version + 1) if versions else 1, data_type=data_type,
                             tier=tier or "Standard", policies=policies)
    return _orig_put(self, name, description, value, parameter_type, allowed_pattern, keyid, overwrite,
                     tags, data_type, tier=tier, policies=policies)


def rejected() -> list[dict[str, Any]]:
    with _LOCK:
        return list(REJECTED)


def reset() -> None:
    with _LOCK:
        REJECTED.clear()


def apply() -> None:
    SimpleSystemManagerBackend.put_parameter = put_parameter  # type: ignore[assignment]
