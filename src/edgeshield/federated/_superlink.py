"""The vendor's SuperLink with its Control API kept off the plants' network.

Flower 1.42 serves the Fleet API (SuperNodes), the Control API (``flwr run``, ``flwr supernode
register``) and the Runtime API (the ServerApp process) as one FastAPI app on one
``--host``/``--port``; ``--control-api-address`` is deprecated and ignored, and account
authentication on the Control API needs Flower's enterprise edition. Whoever reaches that
port with the CA certificate can therefore register a node and submit a run.

:func:`serve_superlink` starts the same Flower app (Flower's own argument parser, lifespan and
routers) on two TLS listeners:

* the Flower ``--host``/``--port``, which must be a loopback address: every API, for the
  vendor's ``flwr`` and the ServerApp process on this machine (remote vendor staff reach it
  through SSH port forwarding, never through the plants' network);
* ``fleet_host``/``fleet_port`` for the plants: only paths under ``/v1/fleet/``; every other
  request is answered ``404`` before it reaches Flower.

It uses two private Flower names (``_parse_superlink_lifespan_config``, ``SuperLinkLifespan``)
of the pinned 1.42 release.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from edgeshield.errors import ConfigError

__all__ = ["FLEET_PREFIX", "serve_superlink"]

logger = logging.getLogger(__name__)

#: The only path prefix the plants' listener forwards to Flower.
FLEET_PREFIX = "/v1/fleet/"

_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_ASGIApp = Callable[[_Scope, _Receive, _Send], Awaitable[None]]


class _FleetOnly:
    """ASGI wrapper: Fleet API paths pass, everything else is a 404 (no lifespan of its own)."""

    def __init__(self, app: _ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] == "lifespan":  # the loopback listener owns Flower's lifespan
            return
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(FLEET_PREFIX):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            logger.warning("refused %s on the fleet listener", scope.get("path"))
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            await send({"type": "http.response.body", "body": b"not found"})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve_superlink(flower_args: list[str], *, fleet_host: str, fleet_port: int) -> None:
    """Run Flower's SuperLink: all APIs on loopback, the Fleet API alone on ``fleet_host``.

    Parameters
    ----------
    flower_args
        ``flower-superlink`` arguments; ``--host`` must be a loopback address, TLS is required.
    fleet_host, fleet_port
        Where the plants' SuperNodes connect (e.g. ``0.0.0.0``, 9092).

    Raises
    ------
    ConfigError
        When the control listener is not on loopback, TLS is missing, or the ports collide.
    """
    import uvicorn
    from flwr.superlink.cli.flower_superlink import (
        SuperLinkLifespan,
        _parse_superlink_lifespan_config,
    )
    from flwr.superlink.main import create_app

    from edgeshield._http import BoundedHTTPProtocol

    argv = sys.argv
    sys.argv = ["flower-superlink", *flower_args]
    try:
        config = _parse_superlink_lifespan_config()
    finally:
        sys.argv = argv
    if not _is_loopback(config.host):
        raise ConfigError(
            f"the SuperLink's --host {config.host} must be a loopback address: it serves the"
            " Control API; plants connect to --fleet-host/--fleet-port"
        )
    if config.ssl_certfile is None or config.ssl_keyfile is None:
        raise ConfigError(
            "the SuperLink needs TLS (--ssl-ca-certfile/--ssl-certfile/--ssl-keyfile)"
        )
    if fleet_port == config.port:
        raise ConfigError("the fleet port must differ from the SuperLink's --port")
    app = create_app(config, SuperLinkLifespan)
    key, cert = config.ssl_keyfile, config.ssl_certfile
    control = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            lifespan="on",
            http=BoundedHTTPProtocol,
            ssl_keyfile=key,
            ssl_certfile=cert,
        )
    )
    fleet = uvicorn.Server(
        uvicorn.Config(
            _FleetOnly(app),
            host=fleet_host,
            port=fleet_port,
            lifespan="off",
            http=BoundedHTTPProtocol,
            ssl_keyfile=key,
            ssl_certfile=cert,
        )
    )

    @contextlib.contextmanager
    def no_signals() -> Iterator[None]:  # the control server handles SIGINT/SIGTERM for both
        yield

    fleet.capture_signals = no_signals  # type: ignore[method-assign]

    async def both() -> None:
        fleet_task = asyncio.create_task(fleet.serve())
        try:
            await control.serve()
        finally:
            fleet.should_exit = True
            await fleet_task

    logger.info(
        "SuperLink: all APIs on %s:%s (loopback), Fleet API only on %s:%s",
        config.host,
        config.port,
        fleet_host,
        fleet_port,
    )
    asyncio.run(both())
