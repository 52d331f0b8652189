"""KMS keys with imported key material (KMS developer guide "Importing key material", "Key states of
AWS KMS keys"): CreateKey with `Origin=EXTERNAL` makes a key in state `PendingImport` (moto makes it
`Enabled`); GetParametersForImport answers an import token and a wrapping public key; ImportKeyMaterial
makes the key `Enabled` (the material itself is accepted unchecked); DeleteImportedKeyMaterial returns
it to `PendingImport`. Authorised like the other owner-only key operations (kms_patches).

Pages: https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.kms.responses import KmsResponse

OPS = {"get_parameters_for_import": "kms:GetParametersForImport", "import_key_material": "kms:ImportKeyMaterial",
       "delete_imported_key_material": "kms:DeleteImportedKeyMaterial"}


def _external_key(resp: KmsResponse) -> Any:
    key = resp.kms_backend.describe_key(resp._get_param("KeyId"))
    if key.origin != "EXTERNAL":
        raise JsonRESTError("UnsupportedOperationException",
                            f"{key.arn} origin is {key.origin} which is not valid for this operation.")
    return key


def get_parameters_for_import(self: KmsResponse) -> str:
    key = _external_key(self)
    return json.dumps({"KeyId": key.arn, "ImportToken": base64.b64encode(os.urandom(64)).decode(),
                       "PublicKey": base64.b64encode(os.urandom(294)).decode(),
                       "ParametersValidTo": time.time() + 86400})


def import_key_material(self: KmsResponse) -> str:
    key = _external_key(self)
    if key.key_state == "PendingDeletion":
        raise JsonRESTError("KMSInvalidStateException", f"{key.arn} is pending deletion.")
    key.key_state = "Enabled"
    return json.dumps({"KeyId": key.arn, "KeyMaterialId": os.urandom(32).hex()})


def delete_imported_key_material(self: KmsResponse) -> str:
    key = _external_key(self)
    key.key_state = "PendingImport"
    return json.dumps({"KeyId": key.arn})


def after_create(resp: KmsResponse, body: str) -> str:
    """CreateKey with Origin=EXTERNAL: the new key waits for its material."""
    if resp._get_param("Origin") != "EXTERNAL":
        return body
    doc = json.loads(body)
    key = resp.kms_backend.describe_key(doc["KeyMetadata"]["KeyId"])
    key.key_state = "PendingImport"
    doc["KeyMetadata"]["KeyState"] = "PendingImport"
    doc["KeyMetadata"]["Enabled"] = False
    return json.dumps(doc)


def apply() -> None:
    KmsResponse.get_parameters_for_import = get_parameters_for_import  # type: ignore[attr-defined]
    KmsResponse.import_key_material = import_key_material  # type: ignore[attr-defined]
    KmsResponse.delete_imported_key_material = delete_imported_key_material  # type: ignore[attr-defined]
