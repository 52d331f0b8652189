"""moto makes an RSA private key for every KMS key; the emulator makes it on first use only
(kms_patches.LazyPrivateKey). Asymmetric keys still sign, verify and give their public key;
symmetric keys still encrypt and decrypt."""

from __future__ import annotations

from conftest import SRC

from amishare_emulator.kms_patches import LazyPrivateKey


def test_a_lazy_key_is_made_on_first_use_only():
    k = LazyPrivateKey("RSA_2048")
    assert k.made is None
    assert k.public_key()  # DER bytes of a real key
    assert k.made is not None


def test_asymmetric_keys_still_sign_and_verify(aws):
    kms = aws.client("kms", SRC)
    key = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    sig = kms.sign(KeyId=key, Message=b"golden ami", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    ok = kms.verify(KeyId=key, Message=b"golden ami", Signature=sig, SigningAlgorithm="RSASSA_PSS_SHA_256")
    assert ok["SignatureValid"] is True
    assert kms.get_public_key(KeyId=key)["PublicKey"]


def test_symmetric_keys_still_encrypt_and_decrypt(aws):
    kms = aws.client("kms", SRC)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"secret")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
