"""The sealed bundles' blocks (benchmarks/vault.py)."""

# The page's typography (multiplication sign, en dash, minus sign, rho) is rendered as is.
# ruff: noqa: RUF001

from __future__ import annotations

from ._core import (
    Results,
    met,
    quote,
    renderer,
    table,
)

# --- sealed bundles (benchmarks/vault.py) -------------------------------------------------

VAULT_LOADS = {
    "sealed_load": "sealed load (`open_bundle`) + touch",
    "torch_load": "`torch.load(weights_only=True)` + touch",
    "safetensors_load_file": "`safetensors.torch.load_file` + touch (mmap)",
    "sealed_load_no_touch": "sealed load, no touch",
    "bare_aesgcm_decrypt_into": "bare `AESGCM.decrypt_into` loop, same size",
    "bare_blake3_hash": "bare BLAKE3 over the same bytes (1 MiB segments, one thread)",
    "bare_read_chunks": "bare chunked read of the bundle",
    "sealed_load_threads_1": "sealed load + touch, 1 decryption thread",
    "sealed_load_threads_2": "sealed load + touch, 2 decryption threads",
    "sealed_load_threads_4": "sealed load + touch, 4 decryption threads",
    "sealed_load_blake3": "sealed load + touch, same model sealed with plain BLAKE3",
}
MIB = 1024 * 1024


def verdict(on_min: bool, on_median: bool) -> str:
    """A timing target is met only when the min and the (paired) median ratios both meet it.

    On the shared machine a min-of-5 ratio moves with whatever slowed the baseline's best
    round; a bound that only the min meets is reported as such, not as met.
    """
    if on_min and not on_median:
        return "**missed** (met on the min only)"
    return met(on_min)


def loads_table(vault: Results) -> str:
    """The load timings of one run of benchmarks/vault.py (either model size)."""
    loads = vault["loads"]
    rows = [
        [
            label,
            *(
                f"{loads[regime][key][stat]:.3f}"
                for regime in ("reuse", "fresh")
                for stat in ("min_s", "median_s", "cpu_min_s")
            ),
        ]
        for key, label in VAULT_LOADS.items()
        if key in loads["reuse"]
    ]
    header = ["measurement (s)"] + [
        f"{regime} {stat}" for regime in ("reuse", "fresh") for stat in ("min", "median", "CPU min")
    ]
    return table(header, "lrrrrrr", rows)


@renderer("vault.loads")
def vault_loads(results: Results) -> str:
    return loads_table(results["vault"])


@renderer("vault_1gib.loads")
def vault_1gib_loads(results: Results) -> str:
    return loads_table(results["vault_1gib"])


def targets_table(vault: Results) -> str:
    """The issue's targets against one run of benchmarks/vault.py (either model size)."""
    r = vault["ratios"]
    rss = vault["rss"]
    model_mib = vault["model_bytes"] / MIB
    sealed_mib = (rss["sealed"]["peak"] - rss["sealed"]["rss_before"]) / MIB
    load_limit, decrypt_limit = 1.5, 0.5
    load_met = max(r["reuse/sealed_vs_torch_load_min"], r["fresh/sealed_vs_torch_load_min"])
    load_typical = max(
        r.get("reuse/sealed_vs_torch_load_paired_median", 0.0),
        r.get("fresh/sealed_vs_torch_load_paired_median", 0.0),
    )
    decrypt = r["reuse/decrypt_throughput_vs_bare_min"]
    decrypt_typical = r.get("reuse/decrypt_throughput_vs_bare_median", decrypt)
    first = r["fresh_process_sealed_vs_torch_load"]
    rows = [
        [
            f"sealed load ≤ {load_limit}× `torch.load`, warm cache",
            f"reuse: **{r['reuse/sealed_vs_torch_load_min']:.2f}×** min,"
            f" {r['reuse/sealed_vs_torch_load_median']:.2f}× median,"
            f" {r['reuse/sealed_vs_torch_load_paired_median']:.2f}× paired median,"
            f" {r['reuse/sealed_vs_torch_load_cpu_min']:.2f}× CPU;"
            f" fresh: **{r['fresh/sealed_vs_torch_load_min']:.2f}×** min,"
            f" {r['fresh/sealed_vs_torch_load_median']:.2f}× median,"
            f" {r['fresh/sealed_vs_torch_load_cpu_min']:.2f}× CPU",
            verdict(load_met <= load_limit, load_typical <= load_limit),
        ],
        [
            "same, one first load in a fresh process",
            f"{rss['sealed']['fresh_process_load_s']:.3f} s vs"
            f" {rss['torch']['fresh_process_load_s']:.3f} s: **{first:.2f}×** (single run)",
            "met in this case" if first <= load_limit else "**missed** in this case",
        ],
        [
            f"decryption throughput ≥ {decrypt_limit}× bare AES-GCM `decrypt_into`",
            f"sealed load without touch vs bare loop: **{decrypt:.2f}×** min (reuse),"
            f" {r['fresh/decrypt_throughput_vs_bare_min']:.2f}× (fresh)",
            verdict(decrypt >= decrypt_limit, decrypt_typical >= decrypt_limit),
        ],
        [
            "seal vs `safetensors.torch.save_file`",
            f"{vault['seal']['min_s']:.3f} s vs {vault['safetensors_save_file']['min_s']:.3f} s:"
            f" **{r['seal_vs_save_file_min']:.2f}×** min, {r['seal_vs_save_file_median']:.2f}×"
            " median",
            "(no target)",
        ],
        [
            f"peak RSS growth ≤ 1.1× model + one chunk ({r['rss_target_vs_model']:.2f}×)",
            f"sealed **{r['sealed_peak_rss_growth_vs_model']:.2f}×** ({sealed_mib:.0f} MiB for"
            f" {model_mib:.0f} MiB), `torch.load` {r['torch_peak_rss_growth_vs_model']:.2f}×",
            met(r["sealed_peak_rss_growth_vs_model"] <= r["rss_target_vs_model"]),
        ],
    ]
    if "seal_peak_rss_growth_vs_model" in r:
        seal = r["seal_peak_rss_growth_vs_model"]
        rows.append(
            [
                "sealing peak RSS growth ≤ 1.2× model (state dict already in memory)",
                f"**{seal:.2f}×** ({(rss['seal']['peak'] - rss['seal']['rss_before']) / MIB:.0f}"
                f" MiB for {model_mib:.0f} MiB)",
                met(seal <= 1.2),
            ]
        )
    if "reuse/threads_1_vs_torch_load_min" in r:
        rows.append(
            [
                "scaling with decryption threads (sealed load + touch vs `torch.load`, min)",
                "; ".join(
                    f"{regime}: "
                    + ", ".join(
                        f"{n} → {r[f'{regime}/threads_{n}_vs_torch_load_min']:.2f}×"
                        for n in (1, 2, 4)
                    )
                    for regime in ("reuse", "fresh")
                ),
                "(no target)",
            ]
        )
    return table(["target", "figure", "result"], "lll", rows)


@renderer("vault.targets")
def vault_targets(results: Results) -> str:
    return targets_table(results["vault"])


@renderer("vault_1gib.targets")
def vault_1gib_targets(results: Results) -> str:
    return targets_table(results["vault_1gib"])


def load_average(vault: Results) -> str:
    return (
        f"load average {vault['load_average_at_start']:.1f} at the start and"
        f" {vault['load_average_at_end']:.1f} at the end of the run"
    )


@quote
def vault_load_average(results: Results) -> str:
    return load_average(results["vault"])


@quote
def vault_1gib_load_average(results: Results) -> str:
    return load_average(results["vault_1gib"])


@quote
def vault_1gib_contention(results: Results) -> str:
    big, small = results["vault_1gib"], results["vault"]

    def rate(vault: Results, stat: str) -> float:  # GiB per second of the bare AES-GCM loop
        return (
            vault["model_bytes"]
            / MIB
            / 1024
            / vault["loads"]["reuse"]["bare_aesgcm_decrypt_into"][stat]
        )

    bare = big["loads"]["reuse"]["bare_aesgcm_decrypt_into"]
    return (
        f"the bare `decrypt_into` loop ran at {rate(big, 'min_s'):.1f} GiB/s (wall, min) against"
        f" {rate(small, 'min_s'):.1f} GiB/s in the 384 MiB run above, and got"
        f" {bare['cpu_min_s']:.3f} s of CPU in {bare['min_s']:.3f} s of wall time"
    )


@quote
def vault_1gib_model(results: Results) -> str:
    v = results["vault_1gib"]
    return (
        f"{v['params']:,} parameters ({v['model_bytes'] / MIB:.0f} MiB), `--repeats {v['repeats']}`"
    )


@quote
def vault_why(results: Results) -> str:
    v = results["vault"]
    cpu = {k: x["cpu_min_s"] for k, x in v["loads"]["reuse"].items()}
    parts = cpu["bare_blake3_hash"] + cpu["bare_aesgcm_decrypt_into"]
    return (
        f"copy out of the page cache ({cpu['torch_load']:.3f} s CPU for"
        f" {v['model_bytes'] / MIB:.0f} MiB). The sealed loader must also hash every plaintext"
        f" byte (BLAKE3 alone: {cpu['bare_blake3_hash']:.3f} s CPU) and decrypt it (AES-GCM alone:"
        f" {cpu['bare_aesgcm_decrypt_into']:.3f} s CPU): {parts:.3f} s of its"
        f" {cpu['sealed_load_no_touch']:.3f} s of CPU are these two primitives"
    )


# --- key-file passphrases (benchmarks/vault_kdf.py) ---------------------------------------

VAULT_KDF = {
    "pbkdf2_2048": "PBKDF2-HMAC-SHA256, 2,048 iterations (pyca `BestAvailableEncryption`, before)",
    "scrypt": "PBES2 scrypt",
}


@renderer("vault_kdf.guesses")
def vault_kdf_guesses(results: Results) -> str:
    kdf = results["vault_kdf"]
    params = kdf["scrypt"]
    rows = []
    for key, label in VAULT_KDF.items():
        row = kdf["rows"][key]
        if key == "scrypt":
            label = f"{label} N = {params['n']:,}, r = {params['r']}, p = {params['p']} (now)"
        rows.append(
            [
                label,
                f"{row['guesses']:,}",
                f"{row['wall_s']:.2f}",
                f"{row['guesses_per_s']:,.1f}",
            ]
        )
    rows.append(["scrypt's cost per guess vs PBKDF2's", "–", "–", f"**{kdf['slowdown']:,.0f}×**"])
    return table(["key file KDF", "wrong guesses", "wall s", "guesses/s"], "lrrr", rows)
