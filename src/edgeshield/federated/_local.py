"""What one plant does locally: train on its own rows (optionally with DP-SGD) and evaluate.

Record-level DP uses Opacus (Yousefpour et al., "Opacus: User-Friendly Differential Privacy
Library in PyTorch", 2021) with ghost clipping (Li, Tramer, Liang, Hashimoto, "Large Language
Models Can Be Strong Differentially Private Learners", ICLR 2022), which clips per-sample
gradient norms without materializing per-sample gradients. The noise and the Poisson batches
come from torch generators seeded with fresh OS entropy for every plant and round, so nobody
can recompute them from the run's (public) seed; this is not Opacus's ``secure_mode`` (a CSPRNG
through torchcsprng, which has no build for this torch), so it does not defend against
floating-point attacks on the Gaussian sampler (Mironov, CCS 2012).
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt
import torch
from safetensors.torch import save as save_safetensors
from torch import nn
from torch.utils.data import TensorDataset

from edgeshield.errors import ConfigError
from edgeshield.federated._accounting import rdp_epsilon
from edgeshield.federated._config import DPTrainable, RecordDP
from edgeshield.usecase import FailureMLP, fit_mlp

__all__ = [
    "THRESHOLD_GRID",
    "dp_epsilon",
    "dp_steps",
    "flatten",
    "get_arrays",
    "set_arrays",
    "threshold_counts",
    "train_local",
    "trainable_parameters",
    "unflatten",
    "weights_digest",
]

Arrays = list[npt.NDArray[np.float32]]

#: Decision thresholds at which plants report TP/FP/FN counts, so the server can choose the
#: global threshold that maximizes pooled F1 without seeing any plant's scores.
THRESHOLD_GRID: npt.NDArray[np.float64] = np.linspace(0.005, 0.995, 199)


def get_arrays(model: nn.Module) -> Arrays:
    """The model's parameters as numpy arrays in ``state_dict`` order."""
    return [v.detach().cpu().numpy().astype(np.float32).copy() for v in model.state_dict().values()]


def set_arrays(model: nn.Module, arrays: Sequence[npt.NDArray[np.float32]]) -> None:
    """Load numpy arrays (``state_dict`` order) into ``model``."""
    keys = list(model.state_dict().keys())
    state = {
        k: torch.as_tensor(np.asarray(a, dtype=np.float32))
        for k, a in zip(keys, arrays, strict=True)
    }
    model.load_state_dict(state)


def flatten(arrays: Sequence[npt.NDArray[np.floating]]) -> npt.NDArray[np.float64]:
    """Concatenate arrays into one float64 vector."""
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


def unflatten(vector: npt.NDArray[np.float64], like: Sequence[npt.NDArray[np.floating]]) -> Arrays:
    """Split a flat vector back into arrays shaped like ``like``."""
    out: Arrays = []
    start = 0
    for a in like:
        out.append(vector[start : start + a.size].reshape(a.shape).astype(np.float32))
        start += a.size
    return out


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the safetensors bytes of a state dict: names one global model exactly."""
    data = save_safetensors({k: v.detach().contiguous() for k, v in state.items()})
    return "sha256:" + hashlib.sha256(data).hexdigest()


def dp_steps(dp: RecordDP, *, epochs: int) -> int:
    """DP-SGD steps one plant takes in one round: ``epochs * int(1 / sample_rate)`` (public)."""
    return epochs * int(1 / dp.sample_rate)


def dp_epsilon(dp: RecordDP, *, steps: int, sample_rate: float | None = None) -> float:
    """Epsilon (RDP accountant) after ``steps`` Poisson-sampled DP-SGD steps at the public rate."""
    return rdp_epsilon(
        noise_multiplier=dp.noise_multiplier,
        sample_rate=dp.sample_rate if sample_rate is None else sample_rate,
        steps=steps,
        delta=dp.delta,
    )


def trainable_parameters(model: FailureMLP, trainable: DPTrainable) -> list[nn.Parameter]:
    """The parameters DP-SGD trains: all, or the output layer's weight and bias only."""
    if trainable is DPTrainable.ALL:
        return list(model.parameters())
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    return list(head.parameters())


@contextlib.contextmanager
def _frozen_except(model: FailureMLP, train: list[nn.Parameter]) -> Iterator[None]:
    """Turn off gradients of every parameter not in ``train`` for one block, then restore."""
    keep = {id(p) for p in train}
    frozen = [p for p in model.parameters() if id(p) not in keep and p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)


def _train_dp(
    model: FailureMLP,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    *,
    dp: RecordDP,
    epochs: int,
    learning_rate: float,
    seed: int,
) -> int:
    """DP-SGD (Adam) with Opacus ghost clipping; returns the number of optimizer steps.

    Batches are Poisson samples at the public ``dp.sample_rate`` (Opacus's ``DPDataLoader``),
    ``int(1 / sample_rate)`` steps per epoch whatever the plant's row count, so the returned
    step count is public too. The noise and the Poisson batches come from fresh OS entropy
    unless ``dp.reproducible`` (then from ``seed``, which is public: demos only). Only the
    parameters ``dp.trainable`` names get gradients, noise and updates; the others keep the
    values received.
    """
    from opacus import PrivacyEngine
    from opacus.data_loader import DPDataLoader

    if dp.reproducible:
        sampling_seed, noise_seed = seed, seed + 1
    else:
        sampling_seed, noise_seed = secrets.randbits(62), secrets.randbits(62)
    generator = torch.Generator().manual_seed(sampling_seed)
    dataset = TensorDataset(torch.as_tensor(x), torch.as_tensor(y))
    loader = DPDataLoader(dataset, sample_rate=dp.sample_rate, generator=generator)
    train = trainable_parameters(model, dp.trainable)
    optimizer = torch.optim.Adam(train, lr=learning_rate)
    with warnings.catch_warnings(), _frozen_except(model, train):
        warnings.simplefilter("ignore")
        engine = PrivacyEngine(accountant="rdp")
        private_model, private_opt, criterion, private_loader = engine.make_private(
            module=model,
            optimizer=optimizer,
            data_loader=loader,
            criterion=nn.BCEWithLogitsLoss(),
            noise_multiplier=dp.noise_multiplier,
            max_grad_norm=dp.max_grad_norm,
            grad_sample_mode="ghost",
            poisson_sampling=False,
            noise_generator=torch.Generator().manual_seed(noise_seed),
        )
        steps = 0
        private_model.train()
        for _ in range(epochs):
            for xb, yb in private_loader:
                steps += 1
                if xb.shape[0] == 0:
                    continue
                private_opt.zero_grad()
                loss = criterion(private_model(xb), yb)
                loss.backward()
                private_opt.step()
        remove = getattr(private_model, "remove_hooks", None)
        if remove is not None:
            remove()
    model.eval()
    return steps


def train_local(
    model: FailureMLP,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float,
    dp: RecordDP | None,
    seed: int,
    proximal_mu: float = 0.0,
) -> int:
    """Train ``model`` in place on one plant's rows; returns the number of optimizer steps.

    ``proximal_mu`` is FedProx's term towards the received model (non-DP training only).
    """
    if dp is None:
        fit_mlp(
            model,
            x,
            y,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            seed=seed,
            proximal_mu=proximal_mu,
        )
        return epochs * -(-int(x.shape[0]) // batch_size)
    if proximal_mu > 0:
        raise ConfigError("FedProx's proximal term (proximal_mu) is not added under DP-SGD")
    steps: int = _train_dp(
        model,
        x,
        y,
        dp=dp,
        epochs=epochs,
        learning_rate=learning_rate,
        seed=seed,
    )
    return steps


def threshold_counts(
    y: npt.NDArray[np.float32], scores: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """TP, FP and FN at every threshold of :data:`THRESHOLD_GRID`, shape ``(3, grid)``."""
    truth = np.asarray(y).astype(bool)[:, None]
    pred = np.asarray(scores)[:, None] >= THRESHOLD_GRID[None, :]
    return np.stack(
        [
            np.sum(pred & truth, axis=0),
            np.sum(pred & ~truth, axis=0),
            np.sum(~pred & truth, axis=0),
        ]
    ).astype(np.int64)
