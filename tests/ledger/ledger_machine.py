"""A hypothesis state machine that drives a deployed contract and its reference model together.

Each step picks a function (a transition, ``tick``, ``pause``, ``unpause``, ``withdraw``,
``withdrawTo``), a random sender among five accounts (so roles are mostly wrong), a counter
that is sometimes stale, ether that is sometimes sent to non-payable functions, inputs from
small pools (so guards pass and fail), or a jump of the chain's clock. The contract and the
model must agree on the outcome (success, or the same custom error with the same
arguments), on the emitted events, and after every success on state, counter, pause flag,
every variable and role, the mapping entries and pull-payment credits of every account, and
the contract's ether balance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule
from ledger_kit import constructor_args, ordered

from edgeshield.errors import ContractRevertError
from edgeshield.ledger import (
    Chain,
    CompiledContract,
    ContractSpec,
    DeployedContract,
    ReferenceModel,
)

ZERO = "0x" + "00" * 20
ACTORS = 5
SETTINGS = settings(
    max_examples=20,
    stateful_step_count=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Small pools so that equality guards (commit-reveal, rounds) pass often enough.
KEYS = [b"\x0a" * 32, b"\x0b" * 32]
SALTS = [b"\x5a" * 32]
DIGESTS = [b"\x00" * 32, b"\x11" * 32, b"\x22" * 32]
COMMITMENTS = [
    keccak(abi_encode(["bytes32", "bytes32", "bytes32"], [k, d, s]))
    for k in KEYS
    for d in DIGESTS[1:]
    for s in SALTS
]
UINTS = st.sampled_from([0, 1, 2, 3, 5, 10, 2**255])
POOLS: dict[str, st.SearchStrategy[Any]] = {
    "uint256": UINTS,
    "bool": st.booleans(),
    "bytes32": st.sampled_from(DIGESTS),
    "string": st.sampled_from(["", "ipfs://model", "https://example.org/card.json"]),
}
HINTS: dict[str, st.SearchStrategy[Any]] = {
    "hash": st.sampled_from([*COMMITMENTS, DIGESTS[0]]),
    "keyDigest": st.sampled_from(KEYS),
    "salt": st.sampled_from(SALTS),
    "roundNumber": st.sampled_from([0, 1, 2, 3]),
    "participantCount": st.sampled_from([0, 1, 2, 3]),
}


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return tuple(_norm(v) for v in value)
    return value


def build_machine(
    spec: ContractSpec, compiled: Callable[[], CompiledContract], chain: Callable[[], Chain]
) -> type[RuleBasedStateMachine]:
    """A state machine class for ``spec`` (the compiled contract and chain come lazily)."""
    functions = [t.name for t in spec.transitions]
    if spec.plugins.timed and spec.timed:
        functions.append("tick")
    if spec.plugins.pausable:
        functions += ["pause", "unpause"]
    scalars = [n for n, v in spec.variables.items() if not v.is_mapping]
    mappings = [n for n, v in spec.variables.items() if v.is_mapping]
    mappings += [n for n, r in spec.roles.items() if r.kind.value == "set"]
    roles = [n for n, r in spec.roles.items() if r.kind.value == "address"]
    dead_ends = {
        state for state in spec.states if not any(state in t.from_ for t in spec.transitions)
    }

    class Machine(RuleBasedStateMachine):
        contract: DeployedContract
        model: ReferenceModel

        @initialize()
        def deploy(self) -> None:
            self.chain = chain()
            self.actors = self.chain.accounts[:ACTORS]
            args = constructor_args(spec, self.chain)
            self.contract = self.chain.deploy(
                compiled(), ordered(spec, args), sender=self.actors[0]
            )
            self.model = ReferenceModel(
                spec,
                deployer=self.actors[0],
                constructor_args=args,
                address=self.contract.address,
                chain_id=self.chain.w3.eth.chain_id,
            )
            functions_now = list(functions)
            if self.model.has_ether():
                functions_now += ["withdraw", "withdrawTo"]
            self.functions = functions_now
            self.compare()

        def compare(self) -> None:
            c, m = self.contract, self.model
            assert spec.states[int(c.call("state"))] == m.state
            if spec.plugins.counter:
                assert int(c.call("transitionCounter")) == m.counter
            if spec.plugins.pausable:
                assert bool(c.call("paused")) == m.paused
            for name in scalars + roles:
                assert _norm(c.call(name)) == _norm(m.value(name)), name
            for name in mappings:
                for actor in self.actors:
                    assert _norm(c.call(name, actor)) == _norm(m.value(name, actor)), name
            if m.has_ether():
                for actor in self.actors:
                    assert int(c.call("credits", actor)) == m.credits.get(actor.lower(), 0)
            assert self.chain.balance(c.address) == m.balance

        def _sender(self, data: st.DataObject, function: str) -> str:
            """Mostly the role holder (so transitions get through), sometimes anyone."""
            holders = list(self.actors)
            if function in {t.name for t in spec.transitions}:
                wanted = spec.transition(function).role
            elif function in ("pause", "unpause"):
                wanted = (spec.plugins.pausable or "",)
            else:
                wanted = ()
            allowed = [a for a in self.actors if any(self._holds(r, a) for r in wanted)]
            if allowed and data.draw(st.integers(0, 9), label="use role") < 7:
                holders = allowed
            return data.draw(st.sampled_from(holders), label="sender")

        def _holds(self, role: str, actor: str) -> bool:
            if role not in spec.roles:
                return False
            holder = self.model.value(role)
            if isinstance(holder, str):
                return holder == actor.lower()
            return bool(self.model.value(role, actor))

        @rule(data=st.data(), counter_delta=st.sampled_from([0] * 6 + [-1, 1]))
        def call(self, data: st.DataObject, counter_delta: int) -> None:
            # Guided choice: transitions enabled in the model's state, but not those into a
            # dead end (explored by the unguided 30 %), plus withdraw once something is credited.
            enabled = [
                t.name
                for t in spec.transitions
                if self.model.state in t.from_ and t.target(self.model.state) not in dead_ends
            ]
            if any(self.model.credits.values()) and "withdraw" in self.functions:
                enabled += ["withdraw", "withdrawTo"]
            guided = enabled and data.draw(st.integers(0, 9), label="guided") < 7
            pool = enabled if guided else self.functions
            function = data.draw(st.sampled_from(pool), label="function")
            payable = function in {t.name for t in spec.transitions if t.payable}
            values = [0, 10, 25, 1000] if payable else [0] * 9 + [1]
            value = data.draw(st.sampled_from(values), label="value")
            sender = self.actors.index(self._sender(data, function))
            inputs: dict[str, Any] = {}
            if function in {t.name for t in spec.transitions}:
                for name, type_ in spec.transition(function).inputs.items():
                    if type_ == "address":
                        pool = st.sampled_from([*self.actors, ZERO])
                    else:
                        pool = HINTS.get(name, POOLS[type_])
                    inputs[name] = data.draw(pool, label=name)
            elif function == "withdrawTo":
                inputs["to"] = data.draw(st.sampled_from([*self.actors, ZERO]), label="to")
            expected_counter = max(0, self.model.counter + counter_delta)
            timestamp = self.chain.next_timestamp()
            outcome = self.model.apply(
                function,
                inputs,
                sender=self.actors[sender],
                value=value,
                timestamp=timestamp,
                counter=expected_counter,
            )
            args: list[Any] = list(inputs.values())
            if function in {t.name for t in spec.transitions} and spec.takes_counter(function):
                args.insert(0, expected_counter)
            try:
                result = self.contract.transact(
                    function, *args, sender=self.actors[sender], value=value
                )
            except ContractRevertError as exc:
                chain_error = (exc.error_name, _norm(exc.error_args), str(exc))
            else:
                chain_error = None
            if chain_error is not None:
                model_error = (outcome.error, _norm(outcome.error_args))
                assert chain_error[:2] == model_error, (
                    f"{function}{tuple(inputs.values())}: chain {chain_error[2]}, model {outcome}"
                )
                return
            assert outcome.ok, f"{function}: chain succeeded, model says {outcome.error}"
            assert result.timestamp == timestamp
            got = [(e.name, _norm(e.args)) for e in result.events]
            want = [(name, _norm(args_)) for name, args_ in outcome.events]
            assert got == want
            self.compare()

        @precondition(lambda self: bool(spec.timed))
        @rule(data=st.data())
        def advance(self, data: st.DataObject) -> None:
            # A separate rule would be drawn as often as every call together: draw it rarely.
            if data.draw(st.integers(0, 3), label="advance now") == 0:
                seconds = data.draw(st.sampled_from([60, 3_600, 4 * 86_400]), label="seconds")
                self.chain.increase_time(seconds)

    Machine.__name__ = f"{spec.contract}Machine"
    Machine.TestCase.settings = SETTINGS
    return Machine
