"""Sealed model bundles: encrypted, signed, bound to a device and a licence.

A two-level API in the style of pyca's Fernet: :func:`seal`, :func:`open_bundle` and
:func:`verify_bundle` on top; keys, licences and the bundle header below. Every tampering raises
the one :class:`~edgeshield.errors.IntegrityError`; a bundle sealed for another device
raises :class:`~edgeshield.errors.KeyMismatchError`; a licence problem raises
:class:`~edgeshield.errors.LicenceError`.
"""

from __future__ import annotations

from edgeshield.vault._format import HashAlgorithm, TensorEntry
from edgeshield.vault._keys import (
    DeviceKey,
    DevicePublicKey,
    OwnerKey,
    OwnerPublicKey,
    refuse_existing,
    write_key_file,
)
from edgeshield.vault._licence import (
    Clock,
    LedgerRef,
    Licence,
    issue_licence,
    read_licence,
    system_clock,
)
from edgeshield.vault._manifest import (
    generate_manifest_key,
    sign_model_directory,
    verify_model_directory,
)
from edgeshield.vault._open import (
    BundleInfo,
    BundleSource,
    inspect_bundle,
    open_bundle,
    verify_bundle,
)
from edgeshield.vault._seal import SealOptions, model_digest, seal, seal_file

__all__ = [
    "BundleInfo",
    "BundleSource",
    "Clock",
    "DeviceKey",
    "DevicePublicKey",
    "HashAlgorithm",
    "LedgerRef",
    "Licence",
    "OwnerKey",
    "OwnerPublicKey",
    "SealOptions",
    "TensorEntry",
    "generate_manifest_key",
    "inspect_bundle",
    "issue_licence",
    "model_digest",
    "open_bundle",
    "read_licence",
    "refuse_existing",
    "seal",
    "seal_file",
    "sign_model_directory",
    "system_clock",
    "verify_bundle",
    "verify_model_directory",
    "write_key_file",
]
