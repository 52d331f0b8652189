"""Extensions of moto's EC2 for the cross-account encrypted-AMI workflow, one module per concern:
`common` (lookups across accounts, visibility, pending clock, caller, EBS default key, the key-use
check EC2 makes on a caller's behalf), `snapshots` (snapshots, volumes, createVolumePermission, EBS
default key API), `images` (RegisterImage, CopyImage, DescribeImages, launch permissions),
`instances` (lifecycle and RunInstances). Applied by monkeypatching at server start (server.py)."""

from __future__ import annotations


def apply() -> None:
    from . import allowed_amis, images, instances, lifecycle, snapshots

    snapshots.apply()
    images.apply()
    instances.apply()
    lifecycle.apply()  # after images: it wraps images' CopyImage
    allowed_amis.apply()
