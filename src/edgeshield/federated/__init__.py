"""Federated training across plants on Flower: SecAgg+, differential privacy, robust aggregation.

:func:`run_federated` trains the use case's failure classifier in Flower's simulation engine
from a :class:`FederatedConfig`: SecAgg+ on by default, record-level DP-SGD (Opacus) or
client-level DP (Flower's fixed-clipping wrappers), Krum / Multi-Krum / median / trimmed mean /
Bulyan, and bucketed secure aggregation (SecAgg+ inside buckets, a robust rule across them).
Conditions Flower lets pass silently (SecAgg+ halted, a robust precondition failed, a round
that left the model unchanged) raise :class:`~edgeshield.errors.AggregationError`.
The same apps run on Flower's deployment engine (see ``docs/federated.md``).
"""

from __future__ import annotations

from edgeshield.federated._aggregators import aggregate, bucket_partition, check_precondition
from edgeshield.federated._client import VALIDATION_FRACTION, ClientSettings, make_client_app
from edgeshield.federated._config import (
    Aggregator,
    ClientDP,
    DPTrainable,
    FederatedConfig,
    MaliciousPlant,
    PlantBehaviour,
    RecordDP,
)
from edgeshield.federated._deploy import (
    TlsFiles,
    config_from_dict,
    deployment_server_app,
    generate_supernode_keys,
    generate_tls,
    write_flower_app,
)
from edgeshield.federated._engine import Engine, run_in_process
from edgeshield.federated._local import (
    dp_epsilon,
    get_arrays,
    set_arrays,
    train_local,
    weights_digest,
)
from edgeshield.federated._plant import serve_plant
from edgeshield.federated._release import evaluate_release, fit_release, privacy_statement
from edgeshield.federated._roster import PlantRoster, key_fingerprint
from edgeshield.federated._run import FederatedResult, quiet_flower, run_federated, server_encoder
from edgeshield.federated._server import AfterAggregate, RoundRecord, ServerPlan, make_server_app
from edgeshield.federated._server_opt import ServerOptimizer
from edgeshield.federated._start import server_public_rows
from edgeshield.federated._superlink import serve_superlink
from edgeshield.federated._trust import (
    SIGNATURE_FILE,
    PlantPolicy,
    generate_vendor_key,
    load_vendor_key,
    redact_urls,
    sign_app,
    verify_fab,
)

__all__ = [
    "SIGNATURE_FILE",
    "VALIDATION_FRACTION",
    "AfterAggregate",
    "Aggregator",
    "ClientDP",
    "ClientSettings",
    "DPTrainable",
    "Engine",
    "FederatedConfig",
    "FederatedResult",
    "MaliciousPlant",
    "PlantBehaviour",
    "PlantPolicy",
    "PlantRoster",
    "RecordDP",
    "RoundRecord",
    "ServerOptimizer",
    "ServerPlan",
    "TlsFiles",
    "aggregate",
    "bucket_partition",
    "check_precondition",
    "config_from_dict",
    "deployment_server_app",
    "dp_epsilon",
    "evaluate_release",
    "fit_release",
    "generate_supernode_keys",
    "generate_tls",
    "generate_vendor_key",
    "get_arrays",
    "key_fingerprint",
    "load_vendor_key",
    "make_client_app",
    "make_server_app",
    "privacy_statement",
    "quiet_flower",
    "redact_urls",
    "run_federated",
    "run_in_process",
    "serve_plant",
    "serve_superlink",
    "server_encoder",
    "server_public_rows",
    "set_arrays",
    "sign_app",
    "train_local",
    "verify_fab",
    "weights_digest",
    "write_flower_app",
]
