"""The plant's task executor: runs EdgeShield's installed ClientApp, for vendor-signed apps only.

Started next to a SuperNode launched with ``--isolation process`` (``edgeshield fl plant``), it
replaces Flower's ``flower-superexec``, which would start one ``flwr-clientapp`` process per
task and import the app's code *from the submitted FAB*. Here, for each task the SuperNode
hands out on its local Runtime API:

1. the FAB is verified against the vendor's Ed25519 key (:func:`verify_fab`) and run-config
   overrides (not covered by the signature) are refused;
2. the instruction is checked against the plant's :class:`PlantPolicy` (SecAgg+, DP floor);
3. the ClientApp that runs is the one installed on the plant (:func:`make_client_app`), never
   code from the FAB, in this one long-lived process: torch, Opacus and Flower are imported
   once, not once per SecAgg+ stage;
4. any refusal or error goes back as a Flower error reply, its text redacted of database
   credentials, and is logged on the plant as one ``ERROR`` line.

The task protocol (AcquireTask, PullTaskInput, PushMessages, PushTaskOutput) is Flower's
own, driven through the same helpers ``flwr-clientapp`` uses.
"""

from __future__ import annotations

import logging
import threading

from flwr.app import Context, Message
from flwr.app.error import Error
from flwr.clientapp.client_app import ClientApp
from flwr.common.constant import ErrorCode, SubStatus
from flwr.proto.runtime_pb2 import AcquireTaskRequest
from flwr.supercore.constant import TaskType
from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http
from flwr.supercore.interceptors import RuntimeTokenHttpInterceptor, RuntimeVersionHttpInterceptor
from flwr.supercore.retry import make_simple_http_retry_invoker
from flwr.supercore.runtime import RuntimeHttpClient
from flwr.supernode.runtime.run_clientapp import pull_task_input, push_message, push_task_output

from edgeshield.errors import PlantPolicyError, UntrustedAppError
from edgeshield.federated._client import make_client_app
from edgeshield.federated._trust import PlantPolicy, redact_urls, verify_fab
from edgeshield.usecase import DatasetSchema

__all__ = ["serve_plant"]

logger = logging.getLogger(__name__)


def _client(address: str, component: str, token: str | None = None) -> RuntimeHttpClient:
    interceptors = [RuntimeVersionHttpInterceptor(component_name=component)]
    if token is not None:
        interceptors.append(RuntimeTokenHttpInterceptor(token))  # type: ignore[arg-type]
    return RuntimeHttpClient.from_server_address(
        server_address=address,
        insecure=True,
        root_certificates=None,
        interceptors=interceptors,
        retry_invoker=make_simple_http_retry_invoker(),
    )


def _error(message: Message, reason: str) -> Message:
    return Message(
        Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=message
    )


def _run_task(
    address: str, token: str, app: ClientApp, policy: PlantPolicy, verified: set[str]
) -> None:
    """One task, as ``flwr-clientapp`` runs it, with the plant's checks in front."""
    client = _client(address, "flwr-clientapp", token)
    heartbeat = HeartbeatSender(make_task_heartbeat_fn_http(client))
    heartbeat.start()
    message: Message | None = None
    context: Context | None = None
    reply: Message | None = None
    status, details = SubStatus.FAILED, "refused by the plant"
    try:
        message, context, run, fab = pull_task_input(client)
        if fab.hash_str not in verified:
            verify_fab(fab.content, policy.vendor_key)
            verified.add(fab.hash_str)
        if run.override_config:
            raise UntrustedAppError(
                "run-config overrides are not covered by the vendor's signature"
            )
        policy.check(message)
        reply = app(message=message, context=context)
        if reply.has_error():
            reply = _error(message, redact_urls(reply.error.reason or ""))
        status, details = SubStatus.COMPLETED, ""
        logger.info(
            "edgeshield plant answered run %s (%s)",
            message.metadata.run_id,
            message.metadata.message_type,
        )
    except (UntrustedAppError, PlantPolicyError) as exc:
        run_id = message.metadata.run_id if message is not None else "?"
        logger.error("edgeshield plant refused run %s: %s", run_id, exc)
        if message is not None:
            reply = _error(message, f"refused by the plant: {exc}")
    except Exception as exc:  # a plant-side failure goes back to the server, redacted
        reason = redact_urls(f"{type(exc).__name__}: {exc}")
        logger.error("edgeshield plant task failed: %s", reason)
        details = reason
        if message is not None:
            reply = _error(message, reason)
    finally:
        try:
            if reply is not None and context is not None:
                push_message(client, reply, context)
            push_task_output(client, context, status, details)
        finally:
            heartbeat.stop()
            client.close()


def serve_plant(
    runtime_api_address: str,
    policy: PlantPolicy,
    *,
    stop: threading.Event | None = None,
    poll_seconds: float = 0.1,
    schemas: tuple[DatasetSchema, ...] = (),
) -> None:
    """Serve the SuperNode's ClientApp tasks at ``runtime_api_address`` until ``stop`` is set.

    The plant reads its rows by the one of ``schemas`` (AI4I 2020 when none is given) that a
    run trains on, and refuses a run that trains on any other.
    """
    app = make_client_app(schemas=schemas)
    stop = stop or threading.Event()
    verified: set[str] = set()
    client = _client(runtime_api_address, "SuperExec")
    logger.info("edgeshield plant serving tasks from %s", runtime_api_address)
    try:
        while not stop.is_set():
            res = client.AcquireTask(
                AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP.value])
            )
            if res.HasField("task") and res.token:
                _run_task(runtime_api_address, res.token, app, policy, verified)
            else:
                stop.wait(poll_seconds)
    finally:
        client.close()
