"""Issue 19, item 4: one end-to-end test per shipped schema, through the CLI only.

For AI4I 2020 (the default: the published UCI file) and for breast cancer (data nobody here
wrote, standing for a vendor's own): import split into 3 plants, federated training with
SecAgg+ and DP-SGD, the owner's watermark, sealing, a licence, a client, ``guard serve`` as a
real process answering requests in the schema's own fields (and refusing the other schema's),
the red team's extraction attacks in those fields, and ownership verified on the released
model (and not claimed on the unmarked one).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Case:
    """One shipped schema: its rows' split and what the pipeline needs beyond the defaults."""

    schema: str
    split: tuple[int, int, int]
    """Rows of the vendor's public reference set, of the held-out test set, of the plants."""
    fl: tuple[str, ...]
    """Extra ``fl run`` options (AI4I pretrains on its public file, the others need rows)."""
    fields: int
    """Fields of a request record."""
    field: str
    """One of them."""
    other: dict[str, Any]
    """A record of the other shipped schema (refused with 422)."""


AI4I_RECORD = {
    "type": "M", "air_temperature_k": 300.0, "process_temperature_k": 310.0,
    "rotational_speed_rpm": 1500.0, "torque_nm": 40.0, "tool_wear_min": 100.0,
}  # fmt: skip
CASES = {
    "breast_cancer": Case(
        schema="breast_cancer", split=(100, 140, 329), fl=("--reference", "{ref}"), fields=30,
        field="worst_radius", other=AI4I_RECORD,
    ),
    "ai4i2020": Case(
        schema="ai4i2020", split=(1500, 1500, 3000), fl=(), fields=6, field="torque_nm",
        other={"mean_radius": 14.0, "worst_radius": 16.0},
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Site:
    """What the vendor and the operator produced for one case, and the client's API key."""

    case: Case
    root: Path
    key: str


@pytest.fixture(scope="module", params=list(CASES))
def deployment(
    request: pytest.FixtureRequest,
    breast_cancer_csv: Path,
    real_data_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Site:
    """Everything the vendor and the operator run: import into 3 plants, federated DP training,
    the owner's watermark, sealing, a licence and two clients (a clinic or line, and a thief)."""
    case = CASES[request.param]
    cli = _Cli()
    root = tmp_path_factory.mktemp(f"your-data-{case.schema}")
    url = sqlite_url(root / "plants.db")
    source = breast_cancer_csv if case.schema == "breast_cancer" else real_data_path
    raw = pd.read_csv(source).sample(frac=1.0, random_state=0)
    reference, test, plants = root / "ref.csv", root / "test.csv", root / "plants.csv"
    n_ref, n_test, n_plants = case.split
    raw.iloc[:n_ref].to_csv(reference, index=False)  # the vendor's public rows
    raw.iloc[n_ref : n_ref + n_test].to_csv(test, index=False)
    raw.iloc[n_ref + n_test : n_ref + n_test + n_plants].to_csv(plants, index=False)
    schema = ("--schema", case.schema)
    cli("data", "import", str(plants), "--db-url", url, *schema, "--plants", "3", "--seed", "0")
    extra = [a.format(ref=reference) for a in case.fl]
    cli(
        "fl", "run", *schema, "--db-url", url, *extra, "--test", str(test),
        "--plants", "3", "--rounds", "3", "--epochs", "5", "--engine", "in-process",
        "--dp", "1.0", "--dp-rate", "0.1", "--reproducible-dp", "--out", str(root / "fl"),
    )  # fmt: skip
    # One seed, one pipeline: seeded DP noise above and a fixed watermark key here (keygen's
    # is random). With fresh draws the embedding's 95 % trigger target on 75 rows was missed
    # now and then (its clean refusal is the product's answer; a flaky fixture is not).
    from edgeshield.ownership import WatermarkKey

    WatermarkKey(hashlib.sha256(case.schema.encode()).digest()).save(root / "wm.key")
    ref = ("--csv", str(reference), "--seed", "0")
    cli(
        "ownership", "embed", "--model", str(root / "fl" / "model"), "--key", str(root / "wm.key"),
        "--out", str(root / "model"), "--envelope", str(root / "env.json"), "--triggers", "20",
        *ref,
    )  # fmt: skip
    # 9 null models (stated FPR 0.1): with 4, the calibration's conservative bounds on the null
    # rate and overdispersion left a marked model at 17 of 20 triggers NOT OWNED (p = 0.27) in
    # one run of the suite (fresh key and DP noise every run)
    cli(
        "ownership", "calibrate", "--key", str(root / "wm.key"), "--envelope",
        str(root / "env.json"), "--out", str(root / "null.json"), "--models", "9", "--fpr", "0.1",
        "--epochs", "10", "--triggers", "20", *ref,
    )  # fmt: skip
    cli("vault", "keygen", "--kind", "owner", "--out", str(root / "owner"))
    cli("vault", "keygen", "--kind", "device", "--out", str(root / "gateway"))
    cli(
        "guard", "seal", str(root / "model"), "--out", str(root / "model.esb"),
        "--owner-key", str(root / "owner.pem"), "--recipient", str(root / "gateway.pub.pem"),
        "--model-id", f"{case.schema}-classifier",
    )  # fmt: skip
    cli(
        "vault", "licence", "issue", "--owner-key", str(root / "owner.pem"),
        "--device-public", str(root / "gateway.pub.pem"), "--bundle", str(root / "model.esb"),
        "--days", "2", "--out", str(root / "gateway.licence"),
    )  # fmt: skip
    (root / "thief.key").write_text(_add_client(cli, root, "thief", "label"))
    return Site(case, root, _add_client(cli, root, "clinic", "full"))


def _add_client(cli: _Cli, root: Path, name: str, tier: str) -> str:
    """``guard add-client`` for ``name`` at ``tier``; the API key it shows once."""
    out = cli(
        "guard", "add-client", "--clients", str(root / "clients.json"), "--id", name,
        "--tier", tier, "--rate", "1000", "--burst", "1000",
    )  # fmt: skip
    match = re.search(r"api key \(shown once\): (\S+)", out)
    assert match, out
    return match.group(1)


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


@dataclass(frozen=True)
class Served:
    """A running ``guard serve`` of one case."""

    site: Site
    url: str


@pytest.fixture(scope="module")
def served(deployment: Site) -> Iterator[Served]:
    """``guard serve`` on the sealed model, as an operator starts it."""
    root = deployment.root
    files = Deployment(
        args=[
            "--bundle", str(root / "model.esb"), "--device-key", str(root / "gateway.pem"),
            "--owner-public", str(root / "owner.pub.pem"),
            "--licence", str(root / "gateway.licence"), "--clients", str(root / "clients.json"),
            "--db", f"sqlite:///{root / 'state.db'}",
        ],
        env={"EDGESHIELD_GUARD_WATERMARK_SECRET": SECRET},
        keys={"clinic": deployment.key},
        db_url=f"sqlite:///{root / 'state.db'}",
    )  # fmt: skip
    process = GuardProcess(files).start()
    try:
        yield Served(deployment, process.url)
    finally:
        process.stop()


def _rows(site: Site, n: int) -> pd.DataFrame:
    """The first ``n`` held-out rows, read through the case's schema."""
    return read_table(site.root / "test.csv", load_schema(site.case.schema)).iloc[:n]


def _records(site: Site, n: int) -> list[dict[str, Any]]:
    """The first ``n`` held-out rows as a client sends them (the request schema's own fields)."""
    return request_schema(load_schema(site.case.schema)).records(_rows(site, n))


def test_the_served_model_answers_in_the_schema_s_fields(served: Served) -> None:
    site = served.site
    with httpx.Client(base_url=served.url, timeout=120) as http:
        body = {"records": _records(site, 40)}
        reply = http.post("/v1/predict", json=body, headers={"X-API-Key": site.key})
        assert reply.status_code == 200, reply.text
        served_labels = [p["label"] for p in reply.json()["predictions"]]
    clean = list(load_classifier(site.root / "model").predict(_rows(site, 40)))
    # Only API-watermark cells (0.5 % of them) may answer differently from the model.
    assert sum(a != int(b) for a, b in zip(served_labels, clean, strict=True)) <= 2


def test_the_other_schema_s_record_and_a_bad_value_are_refused_with_422(served: Served) -> None:
    site = served.site
    numeric = request_schema(load_schema(site.case.schema)).numeric[0].name
    negative = {**_records(site, 1)[0], numeric: -1.0}
    with httpx.Client(base_url=served.url, timeout=120) as http:
        for body in ({"records": [site.case.other]}, {"records": [negative]}):
            reply = http.post("/v1/predict", json=body, headers={"X-API-Key": site.key})
            assert reply.status_code == 422, reply.text
            assert "detail" in reply.json()
        assert http.get("/v1/health").status_code == 200


def test_openapi_of_the_served_guard_names_the_schema_s_fields(served: Served) -> None:
    token = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    spec = httpx.get(f"{served.url}/openapi.json", headers=token)
    assert spec.status_code == 200, spec.text
    components = spec.json()["components"]["schemas"]
    name = "SensorRecord" if served.site.case.schema == "ai4i2020" else "Record"  # AI4I's own
    fields = components[name]["properties"]
    assert len(fields) == served.site.case.fields
    assert served.site.case.field in fields
    assert not set(fields) & set(served.site.case.other)


def test_the_model_card_and_the_plants_name_the_schema(deployment: Site) -> None:
    root, case = deployment.root, deployment.case
    card = json.loads((root / "model" / "model_card.json").read_text())
    assert card["dataset_schema"]["name"] == case.schema
    table = load_schema(case.schema).table_name  # AI4I keeps its historical table name
    rows = pd.read_sql_table(table, f"sqlite:///{root / 'plants.db'}")
    assert len(rows) == case.split[2]  # the plants; reference and test rows stay outside


def test_ownership_is_proved_on_the_released_model_and_not_on_the_unmarked_one(
    deployment: Site,
) -> None:
    root = deployment.root
    verify = ("ownership", "verify", "--key", str(root / "wm.key"), "--null",
              str(root / "null.json"), "--fpr", "0.1", "--json")  # fmt: skip
    released = json.loads(_Cli()(*verify, "--suspect", str(root / "model")))
    assert released["verdict"] == "OWNED", released
    unmarked = _Cli(expect=None)(*verify, "--suspect", str(root / "fl" / "model"))
    assert json.loads(unmarked)["verdict"] != "OWNED"


def test_under_dp_the_plants_sent_the_model_alone_and_epsilon_covers_it(
    deployment: Site,
) -> None:
    """Issue 19 with issue 14: DP training records no per-plant counts, metrics or row numbers
    (plants sent the noised model alone), the threshold came from public rows (the operator's,
    or AI4I's generated reference set), and ε is stated for every plant."""
    summary = json.loads((deployment.root / "fl" / "summary.json").read_text())
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
def test_the_red_team_attacks_the_served_model_in_its_own_fields(served: Served, kind: str) -> None:
    """``guard attack --schema``: the thief queries in the served request space with its own
    rows, and the fidelity curve comes back."""
    root = served.site.root
    out = _Cli()(
        "guard", "attack", "--url", served.url, "--kind", kind, "--budget", "60",
        "--budget", "120", "--schema", served.site.case.schema, "--pool", str(root / "test.csv"),
        "--eval", str(root / "ref.csv"), "--key-file", str(root / "thief.key"),
    )  # fmt: skip
    assert f"{kind} extraction against {served.url}" in out
    rows = [line for line in out.splitlines() if re.match(r"^\W*(60|120)\W", line)]
    assert [re.findall(r"\d+", r)[:2] for r in rows] == [["60", "60"], ["120", "120"]], out
    fidelities = [float(v) for r in rows for v in re.findall(r"\d\.\d{3}", r)]
    assert len(fidelities) == 8, out  # agreement, on failures, macro, surrogate F1 per budget
    assert all(0.0 <= f <= 1.0 for f in fidelities)


def test_the_red_team_needs_rows_it_can_send(served: Served, breast_cancer_csv: Path) -> None:
    """Breast cancer: without --pool there is nothing to query (one error line). Either case:
    the other schema's rows are refused by the service, which the attack reports in one line."""
    site = served.site
    cli = _Cli(expect=1)
    key = ("--key-file", str(site.root / "thief.key"))
    attack = ("guard", "attack", "--url", served.url, "--kind", "knockoff", "--budget", "20")
    if site.case.schema == "breast_cancer":
        out = cli(*attack, "--schema", "breast_cancer", *key)
        assert out.strip().splitlines() == [
            "error: --pool is needed for schema 'breast_cancer': only AI4I 2020 rows can be"
            " generated"
        ]
        wrong: tuple[str, ...] = ("--eval-rows", "20")  # generated AI4I rows
    else:
        csv = str(breast_cancer_csv)
        wrong = ("--schema", "breast_cancer", "--pool", csv, "--eval", csv)
    lines = cli(*attack, *wrong, *key).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert "422" in lines[0]
