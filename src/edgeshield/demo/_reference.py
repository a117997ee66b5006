"""Reference models for the price of each protection: central, federated without and with DP.

Why: the report puts the released model's F1 next to what each protection cost (issue 14),
and only a model trained without that protection can say it. A second process trains them
while the demo's chain of custody runs (the in-process Flower engine trains one plant at a
time on one thread, so a second core is otherwise idle): on the same fleet (drawn again from
the seed), scored on the same test rows, which the demo checks by their digest before it
reports a single figure. Demo only: the simulation holds every plant's rows; a real fleet
would spend privacy budget on every extra DP run, and a run without DP would leave the
plants' updates without DP.

The child is ``python -m edgeshield.demo._reference OUT`` with the run's configuration as JSON
on its standard input (never the signing keys or the node's URL); it writes its figures to
``OUT``.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from edgeshield.demo._config import DemoConfig, PoisonKind

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CENTRAL_EPOCHS", "ReferenceRuns", "measure", "rows_digest"]

CENTRAL_EPOCHS = 20
"""Epochs of the central model on the pooled rows (``benchmarks/pretraining.py``'s recipe)."""

_SENT = (
    "plants", "rows", "rounds", "local_epochs", "batch_size", "malicious", "poison",
    "bucket_size", "dp_noise", "reproducible_dp", "pretrain", "seed", "split_by",
)  # fmt: skip
"""The fields the child needs; the signing keys and the node's URL are never sent."""


def rows_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of the rows' values, so that two processes can show they scored the same rows."""
    import pandas as pd

    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return "sha256:" + hashlib.sha256(hashed.tobytes()).hexdigest()


def _scored(classifier: Any, test: pd.DataFrame, began: float) -> dict[str, float]:
    metrics = classifier.evaluate(test)
    return {
        "f1": float(metrics.f1),
        "pr_auc": float(metrics.pr_auc),
        "seconds": time.perf_counter() - began,
    }


def measure(config: DemoConfig, work_dir: Path) -> dict[str, Any]:
    """Train the reference models of ``config``'s fleet and score them on its test rows.

    The rows are the demo's own (:func:`~edgeshield.demo._data.load_demo_data`, same seed):
    generated AI4I plants, or a file's plants and held-out rows, split as the demo splits them.

    ``central`` trains on every plant's training rows pooled (no federation, no attack, no
    DP, no watermark); ``federated_no_dp`` and ``federated_dp`` run the demo's federated
    configuration (same plants, rounds, attack, SecAgg+ buckets, median, public pretraining)
    without the watermark, without and with record-level DP-SGD (``None`` when the demo runs
    without DP). Flower runs in-process here whatever the demo's engine.
    """
    import pandas as pd

    from edgeshield.demo._context import need
    from edgeshield.demo._data import load_demo_data
    from edgeshield.demo._steps_training import _fl_config, pooled_rows
    from edgeshield.federated import Engine, run_federated
    from edgeshield.usecase import PlantDatabase, TrainConfig, sqlite_url, train_classifier

    data = load_demo_data(config)  # the demo's own rows: same seed, same split
    source: Any
    if data.fleet is not None:
        dp = _fl_config(config, robust=True)
        train, test = pooled_rows(data.fleet, dp)
        source = data.fleet
    else:
        dp = _fl_config(config, robust=True, plant_rows=data.plant_rows)
        train = pd.concat(data.plants.values(), ignore_index=True)
        test = need(data.test, "held-out rows of the file")
        source = sqlite_url(work_dir / "plants.db")
        with PlantDatabase(source, schema=data.schema) as db:
            for plant, frame in data.plants.items():
                db.write_plant(plant, frame)
    out: dict[str, Any] = {"test_rows": len(test), "rows_digest": rows_digest(test)}
    began = time.perf_counter()
    central = train_classifier(
        train,
        # the released model's shape
        TrainConfig(epochs=CENTRAL_EPOCHS, hidden=config.hidden, bins=config.bins),
        seed=config.seed,
        schema=data.schema,
    )
    out["central"] = {**_scored(central, test, began), "epochs": CENTRAL_EPOCHS}
    runs = {"federated_no_dp": dataclasses.replace(dp, record_dp=None)}
    if dp.record_dp is not None:
        runs["federated_dp"] = dp
    for name, fl in runs.items():
        began = time.perf_counter()
        result = run_federated(
            fl,
            source,
            work_dir / name,
            engine=Engine.IN_PROCESS,
            schema=data.schema,
            reference=data.reference,
            test_frame=data.test,
        )
        out[name] = {**_scored(result.classifier, test, began), "epsilon": result.record_epsilon}
    out.setdefault("federated_dp", None)
    return out


def _config_json(config: DemoConfig) -> str:
    values: dict[str, Any] = {name: getattr(config, name) for name in _SENT}
    values = {k: v.value if isinstance(v, enum.Enum) else v for k, v in values.items()}
    # A file's rows: the child reads the same file by the same schema (its canonical form).
    values["schema"] = None if config.schema is None else config.schema.as_dict()
    values["data"] = None if config.data is None else str(config.data.resolve())
    return json.dumps(values)


def _config_from_json(text: str) -> DemoConfig:
    from edgeshield.usecase import PublicSource, schema_from_dict

    values = json.loads(text)
    values["poison"] = PoisonKind(values["poison"])
    values["pretrain"] = None if values["pretrain"] is None else PublicSource(values["pretrain"])
    if values.get("schema") is not None:
        values["schema"] = schema_from_dict(values["schema"], source="the demo's configuration")
    if values.get("data") is not None:
        values["data"] = Path(values["data"])
    return DemoConfig(**values)


class ReferenceRuns:
    """The child process that trains the reference models; :meth:`collect` reads its figures.

    Close it (:meth:`close`, or the demo's ``resources``) to stop a child still running.
    """

    def __init__(self, config: DemoConfig, run_dir: Path) -> None:
        self._dir = run_dir / "reference"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._out = self._dir / "figures.json"
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self._log: IO[bytes] = (self._dir / "log.txt").open("wb")
        try:
            self._process = subprocess.Popen(  # noqa: S603 (this interpreter, fixed module)
                [sys.executable, "-m", "edgeshield.demo._reference", str(self._out)],
                stdin=subprocess.PIPE,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        except BaseException:
            self._log.close()
            raise
        assert self._process.stdin is not None
        self._process.stdin.write(_config_json(config).encode())
        self._process.stdin.close()

    def collect(self, test: pd.DataFrame, *, timeout: float) -> dict[str, Any]:
        """The reference figures, or ``{"error": ...}`` when they cannot be trusted or are late.

        ``test`` is the demo's own test rows: figures scored on other rows are refused.
        """
        began = time.perf_counter()
        try:
            code = self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            return {"error": f"not finished {timeout:.0f} s after the demo's last step"}
        finally:
            self._log.close()
        waited = time.perf_counter() - began
        if code != 0 or not self._out.is_file():
            return {"error": f"the reference process exited with {code} (see reference/log.txt)"}
        figures: dict[str, Any] = json.loads(self._out.read_text())
        if figures.get("rows_digest") != rows_digest(test):
            return {"error": "the reference models were scored on other test rows"}
        return {**figures, "waited_seconds": waited}

    def close(self) -> None:
        """Stop the child if it still runs, and close its log."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._log.close()


def _main() -> None:
    """The child: read the configuration, train and score, write the figures."""
    import torch

    torch.set_num_threads(1)  # the demo's own process keeps the other core
    os.nice(10)  # and, on a busy machine, the CPU first: the reference models can wait
    out = Path(sys.argv[1])
    config = _config_from_json(sys.stdin.read())
    figures = measure(config, out.parent)
    out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    _main()
