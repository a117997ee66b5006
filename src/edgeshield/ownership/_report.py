"""The ownership evidence report: the test, its null distribution and the commitment, for people.

Why: the claim "this model is ours" goes to someone who is not a statistician; the report puts
the suspect's trigger agreement next to the measured null distribution, states the p-value
and the false-positive rate of the decision, and shows the commitment with its time stamp.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from edgeshield.errors import StorageError
from edgeshield.ownership._commit import CommitmentReceipt
from edgeshield.ownership._verify import OwnershipResult

__all__ = ["EvidencePaths", "OwnershipEvidence", "write_evidence"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class OwnershipEvidence:
    """Everything an ownership claim rests on.

    Parameters
    ----------
    owner_id, key_id
        Who claims, and the public id of the watermark key.
    suspect
        How the suspect was identified (a path, a URL, a device id).
    suspect_model_digest
        The suspect's model digest (``FailureClassifier.model_digest``, the one a bundle and a
        licence name) when its weights are available, else empty.
    result
        The calibrated ownership test.
    null_names
        The null models the test was calibrated on.
    receipt
        The commitment record, when one was made.
    commitment_matches
        Whether the commitment re-computed from key, model digest and owner equals the record.
    chain_note
        Which chain holds the commitment, in words, when a reader must know it (for
        instance that it was an embedded, throw-away chain nobody else can check).
    created_at
        When the report was made.
    """

    owner_id: str
    key_id: str
    suspect: str
    suspect_model_digest: str
    result: OwnershipResult
    null_names: tuple[str, ...]
    receipt: CommitmentReceipt | None = None
    commitment_matches: bool | None = None
    chain_note: str = ""
    created_at: datetime = field(default_factory=_utc_now)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "owner_id": self.owner_id,
            "key_id": self.key_id,
            "suspect": self.suspect,
            "suspect_model_digest": self.suspect_model_digest,
            "result": self.result.as_dict(),
            "null_models": list(self.null_names),
            "commitment": self.receipt.as_dict() if self.receipt else None,
            "commitment_matches": self.commitment_matches,
            "chain_note": self.chain_note,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class EvidencePaths:
    """Files written by :func:`write_evidence`."""

    markdown: Path
    html: Path
    plot: Path
    json: Path


def _plot(result: OwnershipResult) -> bytes:
    # matplotlib is the vendor's (edgeshield[vendor]); a gateway that only imports the
    # ownership package, e.g. through the guard's CLI, never needs it.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(result.null_counts)
    q = result.queries
    fig, ax = plt.subplots(figsize=(7.5, 3.8), dpi=110)
    bins = np.arange(-0.5, q + 1.5, 1.0)
    ax.hist(counts, bins=bins.tolist(), color="#8a9bb0", label=f"null models ({counts.size})")
    support = np.arange(q + 1)
    p0, rho = result.null_rate_upper, result.overdispersion
    if rho > 0:
        scale = 1 / rho - 1
        pmf = stats.betabinom.pmf(support, q, p0 * scale, (1 - p0) * scale)
    else:
        pmf = stats.binom.pmf(support, q, p0)
    ax.plot(support, pmf * counts.size, color="#33475b", lw=1.2, label="calibrated null model")
    ax.axvline(result.matches, color="#c0392b", lw=2.2, label=f"suspect: {result.matches}/{q}")
    if result.critical_matches is not None:
        ax.axvline(
            result.critical_matches - 0.5,
            color="#e67e22",
            ls="--",
            lw=1.2,
            label=f"decision threshold at FPR {result.fpr:g}",
        )
    ax.set_xlim(-0.5, q + 0.5)
    ax.set_xlabel("triggers answered with the secret label")
    ax.set_ylabel("models")
    ax.set_title(f"Trigger agreement vs the measured null ({result.p_text().split(' (')[0]})")
    ax.legend(fontsize=8, loc="upper center")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _lines(evidence: OwnershipEvidence) -> list[tuple[str, str]]:
    r = evidence.result
    verdict = "OWNED: the suspect carries the watermark" if r.owned else "NOT SHOWN"
    rows = [
        ("Decision", f"{verdict} ({r.p_text()} at stated FPR {r.fpr:g})"),
        ("Owner", evidence.owner_id),
        ("Watermark key id", evidence.key_id),
        ("Suspect", evidence.suspect),
        (
            "Suspect model digest",
            evidence.suspect_model_digest or "(black-box: weights not available)",
        ),
        ("Trigger queries", str(r.queries)),
        ("Agreement", f"{r.matches}/{r.queries} = {r.agreement:.1%}"),
        (
            "Null agreement",
            f"pooled {r.null_rate:.2%}, conservative {r.null_rate_upper:.2%}, "
            f"over-dispersion {r.overdispersion_estimate:.3f} (bound used {r.overdispersion:.3f}), "
            f"{len(r.null_counts)} null models",
        ),
        (
            "Bound of the calibration",
            f"no p-value below 1/(N+1) = {r.p_floor:.3g} for N = {r.null_models} null models; "
            f"stated FPR {r.fpr:g} needs N >= {r.null_models_needed}",
        ),
        ("Empirical p-value", f"{r.empirical_p_value:.3g} (rank among the null models)"),
        (
            "Control points called failure",
            f"{r.control_failure_rate:.0%} of {r.controls} typical safe operating points"
            if r.controls
            else "not queried",
        ),
        (
            "Matches needed at this FPR",
            "none suffice" if r.critical_matches is None else str(r.critical_matches),
        ),
    ]
    if evidence.receipt is not None:
        rc = evidence.receipt
        rows += [
            ("Commitment", rc.commitment.hex()),
            ("Committed at", rc.committed_at.isoformat()),
            ("Recorded in", rc.store),
            *([("Chain", evidence.chain_note)] if evidence.chain_note else []),
            ("Revealed at", rc.revealed_at.isoformat() if rc.revealed_at else "not yet"),
            ("Commitment opens", str(evidence.commitment_matches)),
        ]
    rows.append(("Report made at", evidence.created_at.isoformat()))
    return rows


_LIMITS = (
    "The p-value is the probability that an independently trained model agrees with at least "
    "this many trigger labels, under a beta-binomial model fitted to the measured null models "
    "with a 95 % upper confidence bound on their agreement rate. It is only as good as the "
    "null population: models trained by a different process than those measured may agree "
    "more often. Label-only distillation on ordinary inputs can remove a trigger-set mark."
)


def write_evidence(evidence: OwnershipEvidence, directory: str | Path) -> EvidencePaths:
    """Write ``evidence.md``, ``evidence.html`` (plot inline), ``agreement.png`` and JSON.

    Raises
    ------
    StorageError
        The directory cannot be written.
    """
    directory = Path(directory)
    png = _plot(evidence.result)
    rows = _lines(evidence)
    markdown = ["# Ownership evidence", "", "| item | value |", "|---|---|"]
    markdown += [f"| {k} | {v.replace('|', '/')} |" for k, v in rows]
    markdown += ["", "![Trigger agreement vs the null distribution](agreement.png)", ""]
    markdown += ["## How to read this", "", _LIMITS, ""]
    image = base64.b64encode(png).decode()
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Ownership evidence</title>"
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto}"
        "th{text-align:left;padding-right:1rem}td{font-family:monospace}</style></head><body>"
        f"<h1>Ownership evidence</h1><table>{table}</table>"
        "<img alt='trigger agreement vs the null distribution' "
        f"src='data:image/png;base64,{image}'>"
        f"<h2>How to read this</h2><p>{html.escape(_LIMITS)}</p></body></html>"
    )
    paths = EvidencePaths(
        markdown=directory / "evidence.md",
        html=directory / "evidence.html",
        plot=directory / "agreement.png",
        json=directory / "evidence.json",
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        paths.plot.write_bytes(png)
        paths.markdown.write_text("\n".join(markdown))
        paths.html.write_text(page)
        paths.json.write_text(json.dumps(evidence.as_dict(), indent=2))
    except OSError as exc:
        raise StorageError(f"cannot write the evidence report to {directory}: {exc}") from exc
    return paths
