"""An HTTP client of the guard, as an attacker (or a benign user) would use it.

Why: attacks must be measured against the running service through its real API, with its
rate limits, quotas, output tiers and blocking, not against the model in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pandas as pd

from edgeshield.errors import ConfigError, GuardError
from edgeshield.guard import RequestSchema, request_schema

__all__ = ["ApiAnswers", "GuardClient", "ServiceRefusedError"]


class ServiceRefusedError(GuardError):
    """The service refused the client for good (401, 403, or a quota it cannot wait out)."""

    def __init__(self, message: str, *, status_code: int, queries: int) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.queries = queries


@dataclass(frozen=True, kw_only=True)
class ApiAnswers:
    """What the API returned for a batch of rows.

    ``p_failure`` is filled when the tier exposes probabilities (full, rounded, reverse
    sigmoid) or the top-1 confidence (which, for a binary model, is the same information).
    """

    labels: npt.NDArray[np.int64]
    p_failure: npt.NDArray[np.float64] | None


class GuardClient:
    """Send rows to ``POST /v1/predict`` in batches, waiting out 429 rate limits.

    Parameters
    ----------
    http
        Any httpx client pointed at the service (``httpx.Client(base_url=...)`` or a
        FastAPI ``TestClient``).
    api_key
        The client's key.
    batch
        Records per request.
    max_wait_s
        Longest total time spent waiting on ``Retry-After`` before giving up.
    sleep
        Injectable sleep (tests).
    schema
        The served model's request schema (default: AI4I 2020's records).
    """

    def __init__(
        self,
        http: httpx.Client,
        api_key: str,
        *,
        batch: int = 50,
        max_wait_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        schema: RequestSchema | None = None,
    ) -> None:
        if batch < 1:
            raise ConfigError("batch must be at least 1")
        self.http = http
        self.api_key = api_key
        self.batch = batch
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        self.queries = 0
        self.waited_s = 0.0
        self.throttled = 0
        self.schema = request_schema() if schema is None else schema

    def _post(self, records: list[dict[str, Any]]) -> dict[str, object]:
        while True:
            try:
                response = self.http.post(
                    "/v1/predict", json={"records": records}, headers={"X-API-Key": self.api_key}
                )
            except httpx.TransportError as exc:  # refused, reset, timed out: say where
                where = self.http.base_url
                raise GuardError(f"cannot reach the service at {where}: {exc}") from exc
            if response.status_code == 200:
                try:
                    body: dict[str, object] = response.json()
                except ValueError as exc:
                    raise GuardError(
                        f"the service at {self.http.base_url} answered 200 without JSON"
                    ) from exc
                return body
            detail = _detail(response)
            if response.status_code == 429 and "Retry-After" in response.headers:
                wait = float(response.headers["Retry-After"])
                self.throttled += 1
                if self.waited_s + wait > self.max_wait_s:
                    raise ServiceRefusedError(
                        f"gave up after waiting {self.waited_s:.0f} s: {detail}",
                        status_code=429,
                        queries=self.queries,
                    )
                self.waited_s += wait
                self._sleep(wait)
                continue
            raise ServiceRefusedError(
                f"service answered {response.status_code}: {detail}",
                status_code=response.status_code,
                queries=self.queries,
            )

    def query(self, frame: pd.DataFrame) -> ApiAnswers:
        """Labels (and probabilities when exposed) for rows under the schema's headers.

        Raises
        ------
        ServiceRefusedError
            The service refused for good; ``queries`` says how many were answered before.
        """
        records = self.schema.records(frame)
        labels: list[int] = []
        probs: list[float] = []
        exposed = True
        for start in range(0, len(records), self.batch):
            chunk = records[start : start + self.batch]
            body = self._post(chunk)
            predictions = body["predictions"]
            assert isinstance(predictions, list)
            for item in predictions:
                label = int(item["label"])
                labels.append(label)
                if item.get("probabilities") is not None:
                    probs.append(float(item["probabilities"][1]))
                elif item.get("confidence") is not None:
                    c = float(item["confidence"])
                    probs.append(c if label == 1 else 1.0 - c)
                else:
                    exposed = False
            self.queries += len(chunk)
        return ApiAnswers(
            labels=np.asarray(labels, dtype=np.int64),
            p_failure=np.asarray(probs, dtype=np.float64) if exposed and probs else None,
        )


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]
