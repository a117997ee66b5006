"""Issue 19, item 4: data nobody here wrote, through the CLI only, from import to ownership.

The breast-cancer schema stands for a vendor's own data: import split into 3 plants, federated
training with SecAgg+ and DP-SGD, the owner's watermark, sealing, a licence, a client, ``guard
serve`` as a real process answering requests in the schema's own fields (and refusing AI4I's),
and ownership verified on the released model (and not claimed on the unmarked one).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from guard_kit import OPERATOR_TOKEN, Deployment, GuardProcess

from edgeshield.cli import run
from edgeshield.guard import request_schema
from edgeshield.usecase import load_classifier, load_schema, read_table, sqlite_url

pytestmark = pytest.mark.slow
# Training and the owner's watermark are the vendor's tools: the gateway's install lacks Flower.
pytest.importorskip("flwr", reason="federated training needs edgeshield[vendor]")

SECRET = "a-watermark-secret-for-the-your-data-test-0123456789"


@pytest.fixture(scope="module")
def deployment(
    breast_cancer_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """Everything the vendor and the operator run: import into 3 plants, federated DP training,
    the owner's watermark, sealing, a licence and a client. Returns the directory and the key."""
    cli = _Cli()
    root = tmp_path_factory.mktemp("your-data")
    url = sqlite_url(root / "clinics.db")
    raw = pd.read_csv(breast_cancer_csv).sample(frac=1.0, random_state=0)
    reference, test, plants = root / "ref.csv", root / "test.csv", root / "plants.csv"
    raw.iloc[:100].to_csv(reference, index=False)  # the vendor's public rows
    raw.iloc[100:240].to_csv(test, index=False)
    raw.iloc[240:].to_csv(plants, index=False)
    bc = ("--schema", "breast_cancer")
    cli("data", "import", str(plants), "--db-url", url, *bc, "--plants", "3", "--seed", "0")
    cli(
        "fl", "run", *bc, "--db-url", url, "--reference", str(reference), "--test", str(test),
        "--plants", "3", "--rounds", "3", "--epochs", "5", "--engine", "in-process",
        "--dp", "1.0", "--dp-rate", "0.1", "--out", str(root / "fl"),
    )  # fmt: skip
    cli("ownership", "keygen", "--out", str(root / "wm.key"))
    ref = ("--csv", str(reference), "--seed", "0")
    cli(
        "ownership", "embed", "--model", str(root / "fl" / "model"), "--key", str(root / "wm.key"),
        "--out", str(root / "model"), "--envelope", str(root / "env.json"), "--triggers", "20",
        *ref,
    )  # fmt: skip
    cli(
        "ownership", "calibrate", "--key", str(root / "wm.key"), "--envelope",
        str(root / "env.json"), "--out", str(root / "null.json"), "--models", "4", "--fpr", "0.2",
        "--epochs", "10", "--triggers", "20", *ref,
    )  # fmt: skip
    cli("vault", "keygen", "--kind", "owner", "--out", str(root / "owner"))
    cli("vault", "keygen", "--kind", "device", "--out", str(root / "gateway"))
    cli(
        "guard", "seal", str(root / "model"), "--out", str(root / "model.esb"),
        "--owner-key", str(root / "owner.pem"), "--recipient", str(root / "gateway.pub.pem"),
        "--model-id", "cancer-classifier",
    )  # fmt: skip
    cli(
        "vault", "licence", "issue", "--owner-key", str(root / "owner.pem"),
        "--device-public", str(root / "gateway.pub.pem"), "--bundle", str(root / "model.esb"),
        "--days", "2", "--out", str(root / "gateway.licence"),
    )  # fmt: skip
    out = cli(
        "guard", "add-client", "--clients", str(root / "clients.json"), "--id", "clinic",
        "--tier", "full", "--rate", "1000", "--burst", "1000",
    )  # fmt: skip
    match = re.search(r"api key \(shown once\): (\S+)", out)
    assert match, out
    thief = cli(
        "guard", "add-client", "--clients", str(root / "clients.json"), "--id", "thief",
        "--tier", "label", "--rate", "1000", "--burst", "1000",
    )  # fmt: skip
    stolen = re.search(r"api key \(shown once\): (\S+)", thief)
    assert stolen, thief
    (root / "thief.key").write_text(stolen.group(1))
    return root, match.group(1)


class _Cli:
    """Run one command through the CLI's entry point, as typed; require success by default.

    In this process (each command in a child would load torch again: most of this module's
    time); ``guard serve`` below is a real child process.
    """

    def __init__(self, *, expect: int | None = 0) -> None:
        self.expect = expect

    def __call__(self, *argv: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(list(argv))
        stdout, stderr = out.getvalue(), err.getvalue()
        assert self.expect is None or code == self.expect, stdout + stderr
        assert "Traceback" not in stderr
        return stdout if "--json" in argv else stdout + stderr


@pytest.fixture(scope="module")
def served(deployment: tuple[Path, str]) -> Iterator[tuple[str, str, Path]]:
    """``guard serve`` on the sealed breast-cancer model, as an operator starts it."""
    root, key = deployment
    files = Deployment(
        args=[
            "--bundle", str(root / "model.esb"), "--device-key", str(root / "gateway.pem"),
            "--owner-public", str(root / "owner.pub.pem"),
            "--licence", str(root / "gateway.licence"), "--clients", str(root / "clients.json"),
            "--db", f"sqlite:///{root / 'state.db'}",
        ],
        env={"EDGESHIELD_GUARD_WATERMARK_SECRET": SECRET},
        keys={"clinic": key},
        db_url=f"sqlite:///{root / 'state.db'}",
    )  # fmt: skip
    process = GuardProcess(files).start()
    try:
        yield process.url, key, root
    finally:
        process.stop()


def _records(csv: Path, n: int) -> list[dict[str, Any]]:
    """The first ``n`` rows as a client sends them (the guard's request schema's own fields)."""
    schema = load_schema("breast_cancer")
    return request_schema(schema).records(read_table(csv, schema).iloc[:n])


def test_the_served_model_answers_in_the_schema_s_fields(
    served: tuple[str, str, Path], breast_cancer_csv: Path
) -> None:
    url, key, root = served
    records = _records(breast_cancer_csv, 40)
    with httpx.Client(base_url=url, timeout=120) as http:
        reply = http.post("/v1/predict", json={"records": records}, headers={"X-API-Key": key})
        assert reply.status_code == 200, reply.text
        served_labels = [p["label"] for p in reply.json()["predictions"]]
    model = load_classifier(root / "model")
    rows = read_table(breast_cancer_csv, load_schema("breast_cancer")).iloc[:40]
    clean = list(model.predict(rows))
    # Only API-watermark cells (0.5 % of them) may answer differently from the model.
    assert sum(a != int(b) for a, b in zip(served_labels, clean, strict=True)) <= 2
    assert sum(served_labels) >= 5  # the first 40 rows hold malignant masses, found


def test_an_ai4i_record_and_a_bad_value_are_refused_with_422(
    served: tuple[str, str, Path], breast_cancer_csv: Path
) -> None:
    url, key, _ = served
    ai4i = {
        "type": "M", "air_temperature_k": 300.0, "process_temperature_k": 310.0,
        "rotational_speed_rpm": 1500.0, "torque_nm": 40.0, "tool_wear_min": 100.0,
    }  # fmt: skip
    negative = {**_records(breast_cancer_csv, 1)[0], "mean_radius": -1.0}
    with httpx.Client(base_url=url, timeout=120) as http:
        for body in ({"records": [ai4i]}, {"records": [negative]}):
            reply = http.post("/v1/predict", json=body, headers={"X-API-Key": key})
            assert reply.status_code == 422, reply.text
            assert "detail" in reply.json()
        assert http.get("/v1/health").status_code == 200


def test_openapi_of_the_served_guard_names_the_schema_s_fields(
    served: tuple[str, str, Path],
) -> None:
    url, _, _ = served
    spec = httpx.get(f"{url}/openapi.json", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})
    assert spec.status_code == 200, spec.text
    fields = spec.json()["components"]["schemas"]["Record"]["properties"]
    assert len(fields) == 30
    assert "worst_radius" in fields
    assert json.dumps(fields).count("torque") == 0


def test_the_model_card_and_the_plants_name_the_schema(deployment: tuple[Path, str]) -> None:
    root, _ = deployment
    card = json.loads((root / "model" / "model_card.json").read_text())
    assert json.dumps(card).count("breast_cancer") >= 1
    rows = pd.read_sql_table("rows_breast_cancer", f"sqlite:///{root / 'clinics.db'}")
    assert len(rows) == 329  # the plants; reference and test rows stay outside


def test_ownership_is_proved_on_the_released_model_and_not_on_the_unmarked_one(
    deployment: tuple[Path, str],
) -> None:
    root, _ = deployment
    cli = _Cli()
    verify = (
        "ownership",
        "verify",
        "--key",
        str(root / "wm.key"),
        "--null",
        str(root / "null.json"),
    )
    released = json.loads(cli(*verify, "--suspect", str(root / "model"), "--fpr", "0.2", "--json"))
    assert released["verdict"] == "OWNED", released
    unmarked = _Cli(expect=None)(
        *verify, "--suspect", str(root / "fl" / "model"), "--fpr", "0.2", "--json"
    )
    assert json.loads(unmarked)["verdict"] != "OWNED"


def test_under_dp_the_plants_sent_the_model_alone_and_epsilon_covers_it(
    deployment: tuple[Path, str],
) -> None:
    """Issue 19 with issue 14: on a schema of the user's, DP training records no per-plant
    counts, metrics or row numbers (plants sent the noised model alone), the threshold came
    from the operator's reference rows, and ε is stated for every plant."""
    root, _ = deployment
    summary = json.loads((root / "fl" / "summary.json").read_text())
    assert len(summary["rounds"]) == 3
    assert all(record["plants"] == {} for record in summary["rounds"])
    privacy = summary["privacy"]
    assert privacy["record_dp"] is True
    assert privacy["threshold"] == "chosen by the server on public data"
    assert "no row count" in privacy["covers"]
    assert "no validation counts" in privacy["covers"]
    assert 0 < privacy["epsilon"] < float("inf")
    assert privacy["sample_rate"] == 0.1
    assert privacy["noise_multiplier"] == 1.0


@pytest.mark.parametrize("kind", ["knockoff", "jacobian"])
def test_the_red_team_attacks_the_served_model_in_its_own_fields(
    served: tuple[str, str, Path], kind: str
) -> None:
    """``guard attack --schema``: the thief queries in the breast-cancer request space, with its
    own rows (no generator exists for this schema), and the fidelity curve comes back."""
    url, _, root = served
    out = _Cli()(
        "guard", "attack", "--url", url, "--kind", kind, "--budget", "60", "--budget", "120",
        "--schema", "breast_cancer", "--pool", str(root / "test.csv"),
        "--eval", str(root / "ref.csv"), "--key-file", str(root / "thief.key"),
    )  # fmt: skip
    assert f"{kind} extraction against {url}" in out
    rows = [line for line in out.splitlines() if re.match(r"^\W*(60|120)\W", line)]
    assert [re.findall(r"\d+", r)[:2] for r in rows] == [["60", "60"], ["120", "120"]], out
    fidelities = [float(v) for r in rows for v in re.findall(r"\d\.\d{3}", r)]
    assert len(fidelities) == 8, out  # agreement, on failures, macro, surrogate F1 per budget
    assert all(0.0 <= f <= 1.0 for f in fidelities)


def test_the_red_team_needs_its_own_rows_and_the_served_schema(
    served: tuple[str, str, Path],
) -> None:
    """Without --pool there is nothing to query (one error line); AI4I rows against the
    breast-cancer API are refused by the service, which the attack reports in one line."""
    url, _, root = served
    cli = _Cli(expect=1)
    key = ("--key-file", str(root / "thief.key"))
    out = cli("guard", "attack", "--url", url, "--kind", "knockoff", "--budget", "50",
              "--schema", "breast_cancer", *key)  # fmt: skip
    assert out.strip().splitlines() == [
        "error: --pool is needed for schema 'breast_cancer': only AI4I 2020 rows can be generated"
    ]
    out = cli("guard", "attack", "--url", url, "--kind", "knockoff", "--budget", "20",
              "--eval-rows", "20", *key)  # fmt: skip
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith("error: ")
    assert "422" in lines[0]
