"""The ledger's blocks: front ends, gas per plugin, SMTChecker proofs."""

# The page's typography (en dash) is rendered as is.
# ruff: noqa: RUF001

from __future__ import annotations

from ._core import (
    WORDS_TEENS,
    Results,
    bold,
    met,
    quote,
    renderer,
    signed,
    table,
    word,
)

# --- ledger front ends (benchmarks/ledger_frontends.py) -----------------------------------

CONTRACTS = ("ModelRegistry", "ModelLicence", "FederatedRoundAudit")


@renderer("ledger_frontends.parse")
def ledger_frontends_parse(results: Results) -> str:
    forms = results["ledger_frontends"]["forms"]
    order = ("yaml", "txt", "pnml", "ttl")
    rows = []
    for contract in CONTRACTS:
        mine = {f["form"]: f for f in forms if f["contract"] == contract}
        same = sum(f["same_fsm"] for f in mine.values())
        rows.append(
            [
                contract,
                *(f"{mine[form]['parse_ms']:.1f}" for form in order),
                "all 4" if same == len(order) else bold(f"{same} of {len(order)}", True),
            ]
        )
    return table(
        [
            "contract",
            "YAML ms",
            "controlled English ms",
            "PNML ms",
            "Turtle + SHACL ms",
            "same FSM",
        ],
        "lrrrrc",
        rows,
    )


@renderer("ledger_frontends.exploration")
def ledger_frontends_exploration(results: Results) -> str:
    runs = results["ledger_frontends"]["exploration"]
    bounds = sorted({r["max_value"] for r in runs})
    rows = []
    for contract in CONTRACTS:
        mine = {r["max_value"]: r for r in runs if r["contract"] == contract}
        rows.append(
            [
                contract,
                *(
                    f"{mine[b]['states']} / {mine[b]['cut']} / {mine[b]['explore_s']:.3f}"
                    for b in bounds
                ),
            ]
        )
    header = ["contract", *(f"bound {b}: states / cut / s" for b in bounds)]
    return table(header, "l" + "r" * len(bounds), rows)


# --- generated contracts: gas (benchmarks/ledger.py) --------------------------------------

TRANSITION_HEADERS = {"reportUsage": "report", "rebindDevice": "rebind"}


@renderer("ledger.gas")
def ledger_gas(results: Results) -> str:
    ledger = results["ledger"]
    header = [
        "variant",
        "deploy",
        "Δ deploy",
        *(TRANSITION_HEADERS.get(t, t) for t in ledger["sequence"]),
        "Δ max",
        "Δ mean",
    ]
    rows = [
        [
            variant,
            f"{g['deploy']:,}",
            f"{g['deploy_delta_pct']:+.1f} %",
            *(f"{s['gas']:,}" for s in g["steps"]),
            signed(g["transition_delta_max"]),
            signed(g["transition_delta_mean"]),
        ]
        for variant, g in ledger["gas"].items()
    ]
    return table(header, "l" + "r" * (len(header) - 1), rows)


@renderer("ledger.targets")
def ledger_targets(results: Results) -> str:
    rows = []
    for variant, t in results["ledger"]["targets"].items():
        if "%" in t["metric"]:
            figures = (f"{t['value']:+.1f} %", f"≤ {t['target']:+.0f} %")
        else:
            figures = (f"{t['value']:+,}", f"≤ {t['target']:+,}")
        rows.append([f"{variant.removeprefix('+ ')}, {t['metric']}", *figures, met(t["met"])])
    return table(["target", "measured", "target", ""], "lrrc", rows)


@quote
def ledger_frontends_forms(results: Results) -> str:
    forms = results["ledger_frontends"]["forms"]
    same = sum(f["same_fsm"] for f in forms)
    count = "All" if same == len(forms) else f"{word(same).capitalize()} of the"
    return f"{count} {WORDS_TEENS.get(len(forms), str(len(forms)))} forms give the YAML FSM"


@renderer("ledger_frontends.properties")
def ledger_frontends_properties(results: Results) -> str:
    props = results["ledger_frontends"]["properties"]
    fails = [p["trace_length"] for p in props if not p["holds"]]
    ms = [p["check_ms"] for p in props]
    return (
        f"At bound 2, {len(props) - len(fails)} of the {len(props)} benchmark properties hold;"
        f" the {len(fails)} that fail each come with a counterexample of {min(fails)} to"
        f" {max(fails)} calls"
        f" (e.g. `reportUsage cannot happen after suspend` fails through accept, suspend, resume,"
        f" reportUsage). Checking one property on the explored graph takes {min(ms):.2f} to"
        f" {max(ms):.1f} ms."
    )


@quote
def ledger_shipped(results: Results) -> str:
    g = results["ledger"]["gas"]
    shipped, events, timed = g["all plugins (shipped)"], g["+ events"], g["+ timed transitions"]
    return (
        f"The shipped contract with every plugin costs {shipped['deploy_delta_pct']:+.1f} % deploy"
        f" gas and {signed(shipped['transition_delta_mean'])} gas per transition on average;"
        f" events ({signed(events['transition_delta_mean'])}) and timed transitions"
        f" ({signed(timed['transition_delta_mean'])}, one cold read of the deadline)"
    )


@renderer("ledger.timing")
def ledger_timing(results: Results) -> str:
    ledger = results["ledger"]
    c, lat = ledger["compile"], ledger["latency"]
    cached = max(v["cached_s"] for v in c.values())
    load = ledger["environment"]["load_average"][0]
    return (
        "Compile time (solc-js, one `node` process per compile, median of 2 cold runs) and"
        " latency on the embedded py-evm chain (median of"
        f" {lat['repeats']}), measured on the shared 2-core machine under a load average of"
        f" {load:.1f} at the start: ModelRegistry {c['ModelRegistry']['cold_s_median']:.1f} s,"
        f" ModelLicence {c['ModelLicence']['cold_s_median']:.1f} s, FederatedRoundAudit"
        f" {c['FederatedRoundAudit']['cold_s_median']:.1f} s cold, {1000 * cached:.1f} ms or less"
        f" from the artifact cache; deploy of ModelLicence {lat['deploy_ms_median']:.0f} ms, one"
        f" `reportUsage` transaction {lat['transaction_ms_median']:.0f} ms (one dry run, send,"
        " mine, receipt, through web3). Before it is sent, a transaction on the embedded chain"
        f" is dry-run once ({lat['dry_run_ms_median']:.1f} ms) instead of web3's gas estimate"
        f" ({lat['estimate_gas_ms_median']:.1f} ms, py-evm's binary search), same transaction"
        " and state; a JSON-RPC node keeps web3's estimate."
    )


# --- SMTChecker proofs (benchmarks/ledger_smt.py) ------------------------------------------

SMT_OUTCOMES = ("proved", "violated", "unknown", "not checked")


@renderer("ledger_smt.setup")
def ledger_smt_setup(results: Results) -> str:
    smt = results["ledger_smt"]
    z3 = smt["z3"].split(" - ")[0].replace("Z3 version", "z3")
    return (
        f"{smt['solc']}'s SMTChecker, {smt['engine'].upper()} engine, every Horn query answered"
        f" by {z3} with a {smt['timeout_s_per_query']:g} s timeout."
    )


@renderer("ledger_smt.contracts")
def ledger_smt_contracts(results: Results) -> str:
    props = results["ledger_smt"]["properties"]
    rows = []
    for contract in CONTRACTS:
        mine = [p for p in props if p["contract"] == contract]
        counts = [sum(p["outcome"] == o for p in mine) for o in SMT_OUTCOMES]
        timed = [p["seconds"] for p in mine if p["outcome"] != "not checked"]
        rows.append(
            [
                contract,
                str(len(mine)),
                str(counts[0]),
                bold(str(counts[1]), counts[1] > 0),
                bold(str(counts[2]), counts[2] > 0),
                str(counts[3]),
                f"{sum(timed):.1f}",
                f"{max(timed):.1f}" if timed else "–",
            ]
        )
    header = ["contract", "properties", *SMT_OUTCOMES, "seconds", "slowest property s"]
    return table(header, "lrrrrrrr", rows)


@renderer("ledger_smt.summary")
def ledger_smt_summary(results: Results) -> str:
    smt = results["ledger_smt"]
    props = smt["properties"]
    counts = {o: sum(p["outcome"] == o for p in props) for o in SMT_OUTCOMES}
    unchecked = [f"`{p['property']}`" for p in props if p["outcome"] == "not checked"]
    checked = [p for p in props if p["outcome"] != "not checked"]
    shared = [p for p in checked if p.get("same_harness_as")]
    checked = [p for p in checked if not p.get("same_harness_as")]
    queries = sorted({p["queries"] for p in checked})
    per = (
        f"{word(queries[0]).capitalize()} CHC quer{'y' if queries[0] == 1 else 'ies'} per property"
        if len(queries) == 1
        else f"{queries[0]}–{queries[-1]} CHC queries per property"
    )
    seconds = [p["seconds"] for p in checked]
    text = f"**{counts['proved']} of {len(props)}** properties proved"
    others = [f"{counts[o]} {o}" for o in ("violated", "unknown") if counts[o]]
    text += ", " + (", ".join(others) if others else "none violated or unknown")
    if unchecked:
        kinds = {
            "liveness" if " eventually " in p["property"] else "funds with no refund to assert"
            for p in props
            if p["outcome"] == "not checked"
        }
        them = "it" if len(unchecked) == 1 else "them"
        text += (
            f"; {word(len(unchecked))} not checked ({', '.join(unchecked)}:"
            f" {' or '.join(sorted(kinds))}, which an assert harness cannot express;"
            f" the explicit-state checker decides {them})"
        )
    funds = [p for p in props if " can always recover " in p["property"]]
    if funds and all(p["outcome"] == "proved" for p in funds):
        text += (
            f". The {'funds property is' if len(funds) == 1 else 'funds properties are'}"
            " proved through the stronger one-step refund condition of"
            " [contracts.md](contracts.md)"
        )
    if shared:
        pairs = "; ".join(f"`{p['property']}` that of `{p['same_harness_as']}`" for p in shared)
        text += (
            f". {word(len(shared)).capitalize()} harness{'' if len(shared) == 1 else 'es'}"
            f" the same text as an earlier property's, answered by that run without a query"
            f" of {'its' if len(shared) == 1 else 'their'} own ({pairs})"
        )
        per = per.replace("per property", "per harness solved")
    return (
        f"{text}. {per}, {min(seconds):.1f}–{max(seconds):.1f} s each,"
        f" {smt['total_seconds']:.1f} s in all."
    )
