"""Deployment dropouts: a plant killed mid-run, and a run below its threshold (issue 13).

Split from ``test_federated_deployment.py`` (whose helpers it uses) so that this two-minute test
runs on its own federation beside that file's tests instead of after them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_federated_deployment import (
    POLICY,
    _config,
    _env,
    _exit_code,
    _Federation,
    _kill_plant_after_its_first_answer,
    _Processes,
    _strict,
    _submit_in_background,
)

from edgeshield.usecase import load_classifier

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Federation]:
    """A federation of three plants for this test alone (it kills one of them)."""
    base = tmp_path_factory.mktemp("federation-dropouts")
    procs = _Processes(base, _env(base))
    try:
        yield _Federation(base, procs, plants=3, plant_args=POLICY)
    finally:
        procs.stop()


def test_dropouts_one_plant_killed_leaves_a_model_too_few_plants_stop_the_run(
    federation: _Federation,
) -> None:
    """Plant 3 dies after its first SecAgg+ answer: the run goes on with two (the threshold)
    and records the dropout. Then a run whose threshold needs all three plants, with plant 3
    still dead: after the stage wait it stops loudly (exit 1, one error line, no model).

    The second part does not kill another plant mid-run: the SuperLink sees a killed node only
    after two missed heartbeats (60 s, fixed in Flower), and the mid-round failure of SecAgg+
    below its threshold is tested in simulation
    (``test_cli_exits_non_zero_when_secagg_cannot_reconstruct``). It has its own federation
    (it kills a plant), in its own file so that its two minutes overlap the
    other deployment tests."""
    run_id, proc = _submit_in_background(federation, "drop-one")
    _kill_plant_after_its_first_answer(federation, 2, run_id)
    assert _exit_code(federation, proc) == 0, federation.log(proc)
    run = federation.base / "run-drop-one"
    summary = _strict((run / "summary.json").read_text())
    assert isinstance(summary, dict)
    dead = federation.fleet.plant_ids[2]
    assert [r["absent"] for r in summary["rounds"]] == [[dead], [dead]]
    assert [r["participants"] for r in summary["rounds"]] == [2, 2]
    assert summary["participation"]["min_plants"] == 2
    assert load_classifier(run / "model").threshold == summary["rounds"][-1]["threshold"]

    app = federation.app(
        "too-few",
        _config(pretraining=None, secagg_threshold=1.0, stage_wait=5.0),
        signed=True,
    )
    out = federation.submit_cli(app)
    assert out.returncode == 1, out.stdout + out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out.stderr
    assert "only 2 of 3 plants connected" in errors[0]
    run = federation.base / "run-too-few"
    assert not (run / "model").exists()
    assert (run / "error.json").exists()
