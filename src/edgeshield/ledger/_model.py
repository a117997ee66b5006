"""The Python reference model of a spec: what the generated contract must do, call by call.

Why: the stateful tests drive a deployed contract and this model with the same random calls
and demand identical outcomes (success or the same custom error), states, counters, balances
and events. The model interprets the spec directly (sharing only the parsed expression trees
with the generator), in the documented order of checks, so a generator or plugin bug shows up
as a disagreement.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgeshield.errors import ConfigError
from edgeshield.ledger._check import ANYONE, Analysed, analyse, constructor_checks
from edgeshield.ledger._expr import (
    ZERO_ADDRESS,
    ZERO_BYTES32,
    Credit,
    Panic,
    Statement,
    evaluate,
    execute,
)
from edgeshield.ledger._spec import ContractSpec, RoleInit, RoleKind

__all__ = ["MODEL_ADDRESS", "MODEL_CHAIN_ID", "Outcome", "ReferenceModel"]

#: ``address(this)`` and ``block.chainid`` of a model not tied to a deployment (the
#: explorer's); a model that mirrors a deployed contract is given the real ones.
MODEL_ADDRESS = "0x" + "5e" * 20
MODEL_CHAIN_ID = 131277322940537


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """Result of one call: ``error`` is None on success, else the custom error's name."""

    error: str | None
    error_args: tuple[Any, ...] = ()
    events: tuple[tuple[str, dict[str, Any]], ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.error is None


class _Revert(Exception):  # noqa: N818 (control flow, never escapes the model)
    def __init__(self, name: str, *args: Any) -> None:
        super().__init__(name)
        self.name = name
        self.args_ = args


def _zero(type_: str) -> Any:
    if type_.startswith("mapping("):
        return {}
    return {
        "uint256": 0,
        "bool": False,
        "address": ZERO_ADDRESS,
        "bytes32": ZERO_BYTES32,
        "string": "",
    }[type_]


def _norm(value: Any, type_: str) -> Any:
    if type_ == "address":
        return str(value).lower()
    if type_ == "bytes32":
        return bytes(value)
    return value


class ReferenceModel:
    """An executable model of ``spec`` deployed by ``deployer`` with ``constructor_args``.

    ``timestamp`` is the deployment block's time: a deadline argument must lie after it.
    """

    def __init__(
        self,
        spec: ContractSpec,
        *,
        deployer: str,
        constructor_args: Mapping[str, Any],
        address: str = MODEL_ADDRESS,
        chain_id: int = MODEL_CHAIN_ID,
        timestamp: int = 0,
    ) -> None:
        self.spec = spec
        self.address = address.lower()
        self.chain_id = chain_id
        self.analysed: Analysed = analyse(spec)
        self.state = spec.initial
        self.counter = 0
        self.paused = False
        self.credits: dict[str, int] = {}
        self.balance = 0
        self.scope: dict[str, Any] = {}
        missing = set(spec.constructor_inputs) - set(constructor_args)
        if missing:
            raise ConfigError(f"missing constructor arguments: {sorted(missing)}")
        for name, role in spec.roles.items():
            if role.kind is RoleKind.SET:
                self.scope[name] = {}
            elif role.init is RoleInit.DEPLOYER:
                self.scope[name] = deployer.lower()
            else:
                self.scope[name] = ZERO_ADDRESS
        for name, var in spec.variables.items():
            self.scope[name] = _zero(var.type)
        for name, type_ in spec.constructor_inputs.items():
            self.scope[name] = _norm(constructor_args[name], type_)
        self._check_constructor(timestamp)

    def _check_constructor(self, timestamp: int) -> None:
        """Refuse what the generated constructor refuses (see ``constructor_checks``)."""
        positions = {name: index for index, name in enumerate(self.spec.constructor_inputs)}
        for name, check in constructor_checks(self.spec).items():
            value = self.scope[name]
            if check == "address" and value == ZERO_ADDRESS:
                raise ConfigError(f"{name!r} cannot be the zero address (ZeroAddress)")
            if (check == "zero" and value in (0, ZERO_BYTES32)) or (
                check == "deadline" and value <= timestamp
            ):
                raise ConfigError(f"{name!r} is invalid (InvalidArgument({positions[name]}))")

    # -- the generated functions, in the generated order of checks -----------------------------

    def _glob(self, sender: str, value: int, timestamp: int, block: int) -> dict[str, Any]:
        return {
            "msg.sender": sender.lower(),
            "msg.value": value,
            "block.timestamp": timestamp,
            "block.number": block,
            "block.chainid": self.chain_id,
            "address.this": self.address,
        }

    def _run(self, statements: tuple[Statement, ...], glob: Mapping[str, Any]) -> None:
        for statement in statements:
            execute(statement, self.scope, glob, self.credits)

    def _timed(self, glob: Mapping[str, Any], events: list[tuple[str, dict[str, Any]]]) -> None:
        if not (self.spec.plugins.timed and self.spec.timed):
            return
        for entry, parsed in zip(self.spec.timed, self.analysed.timed, strict=True):
            if self.state in entry.from_ and glob["block.timestamp"] >= self.scope[entry.after]:
                previous = self.state
                self._run(parsed.statements, glob)
                self.state = entry.to
                events.append(
                    (
                        "TimedTransition",
                        {"from": self._index(previous), "to": self._index(entry.to)},
                    )
                )

    def _index(self, state: str) -> int:
        return self.spec.states.index(state)

    def _has_role(self, roles: tuple[str, ...], sender: str) -> bool:
        for role in roles:
            holder = self.scope[role]
            if isinstance(holder, dict):
                if holder.get(sender.lower(), False):
                    return True
            elif holder == sender.lower():
                return True
        return False

    def _transition(
        self,
        name: str,
        inputs: Mapping[str, Any],
        glob: dict[str, Any],
        counter: int | None,
        events: list[tuple[str, dict[str, Any]]],
    ) -> None:
        spec, plugins = self.spec, self.spec.plugins
        item = spec.transition(name)
        if glob["msg.value"] and not item.payable:
            raise _Revert("Revert")
        if plugins.pausable and self.paused and not item.pause_exempt:
            raise _Revert("ContractPaused")
        if spec.takes_counter(name) and counter != self.counter:
            raise _Revert("StaleCounter", counter, self.counter)
        self._timed(glob, events)
        sender = glob["msg.sender"]
        restricted = plugins.access_control and ANYONE not in item.role
        if restricted and not self._has_role(item.role, sender):
            raise _Revert("Unauthorized", sender)
        if self.state not in item.from_:
            raise _Revert("InvalidState", self._index(self.state))
        scope = self.scope
        for key, type_ in item.inputs.items():
            scope[key] = _norm(inputs[key], type_)
        try:
            parsed = self.analysed.transitions[name]
            for index, guard in enumerate(parsed.guards):
                if not evaluate(guard, scope, glob):
                    raise _Revert("GuardFailed", index)
            previous = self.state
            self._run(parsed.statements, glob)
            self.state = item.target(previous)
            if plugins.counter and self.state != previous:  # changes of state only
                self.counter += 1
            args = {"sender": sender, "from": self._index(previous), "to": self._index(self.state)}
            args.update({key: scope[key] for key in item.inputs})
            events.append((item.event_name, args))
        finally:
            for key in item.inputs:
                scope.pop(key, None)

    def apply(
        self,
        function: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        sender: str,
        value: int = 0,
        timestamp: int,
        block: int = 0,
        counter: int | None = None,
    ) -> Outcome:
        """Run one call; on failure nothing changes, as with an EVM revert.

        ``function`` is a transition name, ``tick``, ``pause``, ``unpause``, ``withdraw`` or
        ``withdrawTo`` (``inputs`` ``{"to": address}``; the model does not track the payee);
        ``counter`` is the ``expectedCounter`` argument (counter plugin only; ignored by a
        ``counter_exempt`` transition, which takes none).
        """
        saved = (
            self.state,
            self.counter,
            self.paused,
            self.balance,
            copy.deepcopy(self.credits),
            copy.deepcopy(self.scope),
        )
        glob = self._glob(sender, value, timestamp, block)
        events: list[tuple[str, dict[str, Any]]] = []
        try:
            if function == "tick":
                if value:
                    raise _Revert("Revert")
                self._timed(glob, events)
            elif function in ("pause", "unpause"):
                self._pause(function, glob, events)
            elif function == "withdraw":
                self._withdraw(glob, events)
            elif function == "withdrawTo":
                to = str((inputs or {}).get("to", ZERO_ADDRESS)).lower()
                if glob["msg.value"]:
                    raise _Revert("Revert")
                if to == ZERO_ADDRESS:
                    raise _Revert("ZeroAddress")
                self._withdraw(glob, events)
            else:
                self._transition(function, inputs or {}, glob, counter, events)
            self.balance += value
        except (_Revert, Panic) as exc:
            (self.state, self.counter, self.paused, self.balance, self.credits, self.scope) = saved
            if isinstance(exc, Panic):
                return Outcome(error="Panic", error_args=(exc.code,))
            return Outcome(error=exc.name, error_args=exc.args_)
        if not self.spec.plugins.events:
            events = []
        return Outcome(error=None, events=tuple(events))

    def _pause(
        self, function: str, glob: Mapping[str, Any], events: list[tuple[str, dict[str, Any]]]
    ) -> None:
        pauser = self.spec.plugins.pausable
        if pauser is None:
            raise ConfigError(f"{self.spec.contract} is not pausable")
        if glob["msg.value"]:
            raise _Revert("Revert")
        if self.spec.plugins.access_control and not self._has_role((pauser,), glob["msg.sender"]):
            raise _Revert("Unauthorized", glob["msg.sender"])
        if function == "pause":
            if self.paused:
                raise _Revert("ContractPaused")
            self.paused = True
            events.append(("Paused", {"by": glob["msg.sender"]}))
        else:
            if not self.paused:
                raise _Revert("NotPaused")
            self.paused = False
            events.append(("Unpaused", {"by": glob["msg.sender"]}))

    def _withdraw(self, glob: Mapping[str, Any], events: list[tuple[str, dict[str, Any]]]) -> None:
        if glob["msg.value"]:
            raise _Revert("Revert")
        sender = glob["msg.sender"]
        amount = self.credits.get(sender, 0)
        if amount == 0:
            raise _Revert("NothingToWithdraw")
        self.credits[sender] = 0
        self.balance -= amount
        events.append(("Withdrawal", {"payee": sender, "amount": amount}))

    # -- observation ---------------------------------------------------------------------------

    def has_ether(self) -> bool:
        """Whether the generated contract has a pull-payment ledger (``withdraw``)."""
        statements = [s for t in self.analysed.transitions.values() for s in t.statements]
        statements += [s for t in self.analysed.timed for s in t.statements]
        return any(t.payable for t in self.spec.transitions) or any(
            isinstance(s, Credit) for s in statements
        )

    def value(self, name: str, key: Any = None) -> Any:
        """A variable or role value as the contract getter would return it (normalised)."""
        holder = self.scope[name]
        if isinstance(holder, dict):
            return holder.get(
                key.lower() if isinstance(key, str) else key, _zero(self._value_type(name))
            )
        return holder

    def _value_type(self, name: str) -> str:
        if name in self.spec.roles:
            return "bool"
        return self.spec.variables[name].value_type
