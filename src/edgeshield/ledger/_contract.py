"""A deployed FSM contract driven by its spec: transitions by name, counters handled, clear errors.

Why: callers (the typed clients, the CLI, the tests) think in spec terms (states, transitions,
guards); this wrapper reads the transition counter before each call, names states instead of
enum indexes, and turns ``GuardFailed(1)`` into the guard's own text.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from edgeshield.errors import ConfigError, ContractRevertError, SpecError
from edgeshield.ledger._chain import Chain, DeployedContract, EventRecord, TxResult
from edgeshield.ledger._check import constructor_checks
from edgeshield.ledger._compiler import CompiledContract, CompilerConfig, compile_spec
from edgeshield.ledger._parse import load_spec
from edgeshield.ledger._spec import ContractSpec

__all__ = ["SpecContract", "compiled_for", "shipped_spec", "specs_dir"]

SHIPPED = {
    "ModelRegistry": "model_registry.yaml",
    "ModelLicence": "model_licence.yaml",
    "FederatedRoundAudit": "federated_round_audit.yaml",
}


def specs_dir() -> Path:
    """The ``contracts/specs`` directory shipped with the project (searched upwards)."""
    for root in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (root.resolve(), *root.resolve().parents):
            candidate = folder / "contracts" / "specs"
            if (candidate / SHIPPED["ModelLicence"]).is_file():
                return candidate
    raise SpecError("contracts/specs not found (run from the EdgeShield checkout)")


@functools.cache
def shipped_spec(contract: str) -> ContractSpec:
    """Load one of the shipped specs by contract name, e.g. ``"ModelLicence"``."""
    if contract not in SHIPPED:
        raise SpecError(f"no shipped spec {contract!r}; choose from {sorted(SHIPPED)}")
    return load_spec(specs_dir() / SHIPPED[contract])


_COMPILED: dict[tuple[str, CompilerConfig], CompiledContract] = {}


def compiled_for(spec: ContractSpec, config: CompilerConfig | None = None) -> CompiledContract:
    """Compile ``spec`` once per process and configuration (memoised by spec digest)."""
    config = config or CompilerConfig()
    key = (spec.digest(), config)
    if key not in _COMPILED:
        _COMPILED[key] = compile_spec(spec, config)
    return _COMPILED[key]


def _to_arg(value: Any, type_: str) -> Any:
    if type_ == "bytes32" and isinstance(value, str):
        raw = bytes.fromhex(value.removeprefix("0x"))
        if len(raw) != 32:
            raise ConfigError(f"a bytes32 needs 32 bytes, got {len(raw)}")
        return raw
    return value


_WHY = {"zero": "must not be zero", "deadline": "must lie after the deployment block's time"}


def _named_refusal(spec: ContractSpec, exc: ContractRevertError) -> ContractRevertError:
    """The constructor's ``InvalidArgument(position)`` with the argument's name and the rule."""
    if exc.error_name != "InvalidArgument" or len(exc.error_args) != 1:
        return exc
    names = list(spec.constructor_inputs)
    position = int(str(exc.error_args[0]))
    if not 0 <= position < len(names):
        return exc
    name = names[position]
    why = _WHY.get(constructor_checks(spec).get(name, ""), "is invalid")
    return ContractRevertError(
        f"{spec.contract} constructor refused {name}: it {why} (InvalidArgument({position}))",
        error_name=exc.error_name,
        error_args=exc.error_args,
    )


class SpecContract:
    """A deployed contract together with the spec it was generated from."""

    def __init__(self, spec: ContractSpec, deployed: DeployedContract) -> None:
        self.spec = spec
        self.deployed = deployed

    @classmethod
    def deploy(
        cls,
        chain: Chain,
        spec: ContractSpec,
        constructor_args: Mapping[str, Any] | None = None,
        *,
        sender: str | None = None,
        compiler: CompilerConfig | None = None,
    ) -> Self:
        """Compile (memoised) and deploy ``spec`` with named constructor arguments."""
        args = dict(constructor_args or {})
        expected = spec.constructor_inputs
        if set(args) != set(expected):
            raise ConfigError(
                f"{spec.contract} constructor takes {list(expected)}, got {sorted(args)}"
            )
        ordered = [_to_arg(args[name], type_) for name, type_ in expected.items()]
        try:
            deployed = chain.deploy(compiled_for(spec, compiler), ordered, sender=sender)
        except ContractRevertError as exc:
            raise _named_refusal(spec, exc) from exc
        return cls(spec, deployed)

    @classmethod
    def at(
        cls,
        chain: Chain,
        spec: ContractSpec,
        address: str,
        *,
        compiler: CompilerConfig | None = None,
    ) -> Self:
        """Attach to an already deployed contract generated from ``spec``."""
        return cls(spec, chain.at(compiled_for(spec, compiler), address))

    @property
    def address(self) -> str:
        """The contract's checksum address."""
        return self.deployed.address

    @property
    def chain(self) -> Chain:
        """The chain the contract lives on."""
        return self.deployed.chain

    def state(self) -> str:
        """The current state's name (timed transitions apply on the next call or ``tick``)."""
        return self.spec.states[int(self.deployed.call("state"))]

    def counter(self) -> int:
        """The transition counter (0 when the counter plugin is off)."""
        return int(self.deployed.call("transitionCounter")) if self.spec.plugins.counter else 0

    def get(self, name: str, key: Any = None) -> Any:
        """A public variable or role (``key`` for mappings and set roles)."""
        return self.deployed.call(name) if key is None else self.deployed.call(name, key)

    def credits(self, address: str) -> int:
        """Wei credited to ``address`` and not yet withdrawn."""
        return int(self.deployed.call("credits", address))

    def _explain(self, exc: ContractRevertError, name: str) -> ContractRevertError:
        detail = ""
        if (
            exc.error_name == "GuardFailed"
            and exc.error_args
            and name in {t.name for t in self.spec.transitions}
        ):
            guards = self.spec.transition(name).guards
            index = int(exc.error_args[0])  # type: ignore[call-overload]
            if index < len(guards):
                detail = f": guard `{guards[index]}` does not hold"
        elif exc.error_name == "InvalidState" and exc.error_args:
            index = int(exc.error_args[0])  # type: ignore[call-overload]
            if index < len(self.spec.states):
                detail = f": not allowed in state {self.spec.states[index]}"
        elif exc.error_name == "Unauthorized" and name in {t.name for t in self.spec.transitions}:
            detail = f": needs role {' or '.join(self.spec.transition(name).role)}"
        return ContractRevertError(
            f"{exc}{detail}", error_name=exc.error_name, error_args=exc.error_args
        )

    def transition(
        self,
        name: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        sender: str | None = None,
        value: int = 0,
        counter: int | None = None,
    ) -> TxResult:
        """Take transition ``name``; the expected counter is read first unless given.

        A ``counter_exempt`` transition takes no counter: ``counter`` is then not sent.
        """
        item = self.spec.transition(name)
        given = dict(inputs or {})
        if set(given) != set(item.inputs):
            raise ConfigError(
                f"{self.spec.contract}.{name} takes {list(item.inputs)}, got {sorted(given)}"
            )
        args: list[Any] = [_to_arg(given[k], t) for k, t in item.inputs.items()]
        if self.spec.takes_counter(name):
            args.insert(0, self.counter() if counter is None else counter)
        return self.call_function(name, args, sender=sender, value=value)

    def call_function(
        self, name: str, args: Sequence[Any] = (), *, sender: str | None = None, value: int = 0
    ) -> TxResult:
        """Send any function of the contract (``tick``, ``pause``, ``withdraw``...)."""
        try:
            return self.deployed.transact(name, *args, sender=sender, value=value)
        except ContractRevertError as exc:
            raise self._explain(exc, name) from exc

    def events(self, from_block: int = 0) -> list[EventRecord]:
        """All events the contract emitted since ``from_block``."""
        return self.deployed.events(from_block)
