"""Finite-state-machine contract specs: the YAML format, its pydantic models and loading.

Why: the contracts are never hand-written; a declarative spec (states, roles, typed
variables, guarded transitions, timed transitions, plugins) is the single source from which
the Solidity contract, the Python reference model and the typed clients are all derived, as
in Mavridou & Laszka, "Designing Secure Ethereum Smart Contracts: A Finite State Machine Based
Approach", Financial Cryptography 2018 (FSolidM).
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from edgeshield.errors import SpecError

__all__ = [
    "ContractSpec",
    "Locking",
    "PluginSpec",
    "RoleInit",
    "RoleKind",
    "RoleSpec",
    "TimedSpec",
    "TransitionSpec",
    "VariableSpec",
]

SCALAR_TYPES = ("uint256", "bool", "address", "bytes32", "string")
KEY_TYPES = ("address", "bytes32", "uint256")
_MAPPING_RE = re.compile(
    r"^mapping\((address|bytes32|uint256) => (uint256|bool|address|bytes32)\)$"
)
_IDENT_RE = re.compile(r"^[a-z][A-Za-z0-9]{0,39}$")
_TYPE_NAME_RE = re.compile(r"^[A-Z][A-Za-z0-9]{0,39}$")

#: Names the generator itself uses, Solidity keywords and globals: never a spec identifier.
RESERVED = frozenset(
    {
        "state",
        "transitionCounter",
        "paused",
        "pause",
        "unpause",
        "credits",
        "withdraw",
        "tick",
        "expectedCounter",
        "msg",
        "block",
        "tx",
        "this",
        "now",
        "keccak",
        "credit",
        "address",
        "bytes32",
        "uint256",
        "bool",
        "string",
        "true",
        "false",
        "constructor",
        "receive",
        "fallback",
        "error",
        "event",
        "emit",
        "return",
        "returns",
        "function",
        "modifier",
        "mapping",
        "memory",
        "storage",
        "calldata",
        "payable",
        "public",
        "private",
        "internal",
        "external",
        "view",
        "pure",
        "if",
        "else",
        "for",
        "while",
        "do",
        "delete",
        "new",
        "assembly",
        "selfdestruct",
        "super",
        "contract",
        "interface",
        "library",
        "struct",
        "enum",
        "type",
        "abi",
        "revert",
        "require",
        "assert",
        "transient",
        "immutable",
        "constant",
        "override",
        "virtual",
        "indexed",
        "anonymous",
        "unchecked",
        "gasleft",
        "blockhash",
        "ecrecover",
        "sha256",
        "ripemd160",
        "keccak256",
        "selector",
        "min",
        "max",
        # generator internals: modifiers, locals, helper functions and admin functions
        "nonReentrant",
        "whenNotPaused",
        "checkCounter",
        "timedTransitions",
        "previous",
        "lockStatus",
        "withdrawTo",
        "chainid",
    }
)

#: Type-level names the generator declares (errors, events, the state enum): never a spec's
#: contract or event name.
RESERVED_TYPES = frozenset(
    {
        "State",
        "Unauthorized",
        "InvalidState",
        "GuardFailed",
        "ZeroAddress",
        "StaleCounter",
        "ReentrantCall",
        "ContractPaused",
        "NotPaused",
        "NothingToWithdraw",
        "TransferFailed",
        "InvalidArgument",
        "TimedTransition",
        "Paused",
        "Unpaused",
        "Withdrawal",
    }
)

#: Longest YAML spec accepted, and no anchors or aliases at all (an alias bomb stays cheap).
MAX_YAML_CHARS = 256_000
#: deepest nesting of YAML collections a spec may have (a spec needs 4; PyYAML builds nested
#: collections recursively, so 10 kB of ``[[[[...`` took 11-22 s to end in a RecursionError)
MAX_YAML_DEPTH = 32


class Locking(enum.Enum):
    """Reentrancy lock variant applied to every state-changing function."""

    NONE = "none"
    STORAGE = "storage"
    TRANSIENT = "transient"


class RoleKind(enum.Enum):
    """A role held by one address, or by a set of addresses."""

    ADDRESS = "address"
    SET = "set"


class RoleInit(enum.Enum):
    """How an address role gets its first holder."""

    DEPLOYER = "deployer"
    CONSTRUCTOR = "constructor"
    NONE = "none"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_ident(value: str, what: str) -> str:
    if not _IDENT_RE.fullmatch(value):
        raise ValueError(f"{what} {value!r} must match [a-z][A-Za-z0-9]* (at most 40 characters)")
    if value in RESERVED:
        raise ValueError(f"{what} {value!r} is a reserved name")
    return value


def _check_type(value: str, *, scalar_only: bool) -> str:
    if value in SCALAR_TYPES:
        return value
    if not scalar_only and _MAPPING_RE.fullmatch(value):
        return value
    allowed = ", ".join(SCALAR_TYPES) + ("" if scalar_only else ", mapping(K => V)")
    raise ValueError(f"unknown type {value!r}; allowed: {allowed}")


class VariableSpec(_Model):
    """A storage variable: its type, and whether the constructor sets it from an argument."""

    type: str
    constructor: StrictBool = False
    description: str = ""

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        return _check_type(value, scalar_only=False)

    @property
    def is_mapping(self) -> bool:
        """Whether this variable is a ``mapping(K => V)``."""
        return self.type.startswith("mapping(")

    @property
    def key_type(self) -> str:
        """Key type of a mapping variable."""
        match = _MAPPING_RE.fullmatch(self.type)
        if match is None:
            raise SpecError(f"{self.type} is not a mapping")
        return match.group(1)

    @property
    def value_type(self) -> str:
        """Value type of a mapping variable, or the variable's own type."""
        match = _MAPPING_RE.fullmatch(self.type)
        return self.type if match is None else match.group(2)


class RoleSpec(_Model):
    """A role: one address (owner, licensee, device) or a set of addresses (plants)."""

    kind: RoleKind = RoleKind.ADDRESS
    init: RoleInit = RoleInit.NONE
    description: str = ""


class TransitionSpec(_Model):
    """One named transition: a public function of the generated contract."""

    name: str
    from_: tuple[str, ...] = Field(alias="from")
    to: str | None = None
    role: tuple[str, ...]
    inputs: dict[str, str] = Field(default_factory=dict)
    guards: tuple[str, ...] = ()
    statements: tuple[str, ...] = ()
    payable: StrictBool = False
    #: callable while the contract is paused (the ``pausable`` plugin's gate does not apply):
    #: for a way out that the pauser must not be able to block, such as a refund
    pause_exempt: StrictBool = False
    #: takes no ``expectedCounter`` (the ``counter`` plugin's ordering check does not apply):
    #: only for a transition with a fixed target, whose effect is the same from every source
    #: state, so that no change of state ordered ahead of it can make it revert (a refund)
    counter_exempt: StrictBool = False
    event: str | None = None
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_ident(value, "transition name")

    @field_validator("from_", "role", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, value: dict[str, str]) -> dict[str, str]:
        for name, type_ in value.items():
            _check_ident(name, "input name")
            _check_type(type_, scalar_only=True)
        return value

    @field_validator("event")
    @classmethod
    def _event(cls, value: str | None) -> str | None:
        if value is not None and not _TYPE_NAME_RE.fullmatch(value):
            raise ValueError(f"event name {value!r} must match [A-Z][A-Za-z0-9]*")
        if value in RESERVED_TYPES:
            raise ValueError(f"event name {value!r} is a reserved name")
        return value

    @property
    def event_name(self) -> str:
        """The event emitted by this transition (default: the capitalised transition name)."""
        return self.event or self.name[0].upper() + self.name[1:]

    def target(self, current: str) -> str:
        """State after the transition from ``current`` (a self-loop when ``to`` is omitted)."""
        return current if self.to is None else self.to


class TimedSpec(_Model):
    """A timed transition, taken automatically once ``block.timestamp >= deadline``."""

    from_: tuple[str, ...] = Field(alias="from")
    to: str
    after: str
    statements: tuple[str, ...] = ()

    @field_validator("from_", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value


class PluginSpec(_Model):
    """Security plugins (FSolidM): each one is a switch the generator and the model obey.

    Why: a flag is exactly ``true`` or ``false`` (no ``"True"``, ``1`` or ``"yes"``), and access
    control has no default: a spec that does not state it is refused, never silently open.
    """

    locking: Locking = Locking.TRANSIENT
    counter: StrictBool = True
    events: StrictBool = True
    access_control: StrictBool
    pausable: str | None = None
    timed: StrictBool = True


class ContractSpec(_Model):
    """A whole contract: the validated form of one ``contracts/specs/*.yaml`` file."""

    contract: str
    description: str = ""
    states: tuple[str, ...]
    initial: str
    roles: dict[str, RoleSpec] = Field(default_factory=dict)
    variables: dict[str, VariableSpec] = Field(default_factory=dict)
    transitions: tuple[TransitionSpec, ...]
    timed: tuple[TimedSpec, ...] = ()
    plugins: PluginSpec
    source: str = Field(default="<string>", exclude=True)

    @field_validator("contract")
    @classmethod
    def _contract(cls, value: str) -> str:
        if not _TYPE_NAME_RE.fullmatch(value):
            raise ValueError(f"contract name {value!r} must match [A-Z][A-Za-z0-9]*")
        if value in RESERVED_TYPES:
            raise ValueError(f"contract name {value!r} is a reserved name")
        return value

    @field_validator("states")
    @classmethod
    def _states(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one state is required")
        if len(value) > 255:
            raise ValueError("at most 255 states")
        for name in value:
            if not _TYPE_NAME_RE.fullmatch(name):
                raise ValueError(f"state name {name!r} must match [A-Z][A-Za-z0-9]*")
        if len(set(value)) != len(value):
            raise ValueError("state names must be unique")
        return value

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: dict[str, RoleSpec]) -> dict[str, RoleSpec]:
        for name in value:
            _check_ident(name, "role name")
        return value

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, VariableSpec]) -> dict[str, VariableSpec]:
        for name in value:
            _check_ident(name, "variable name")
        return value

    def digest(self) -> str:
        """SHA-256 of the spec's canonical JSON form (formatting and comments do not count)."""
        canonical = json.dumps(self.model_dump(mode="json", by_alias=True), separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def transition(self, name: str) -> TransitionSpec:
        """The transition called ``name``."""
        for item in self.transitions:
            if item.name == name:
                return item
        raise SpecError(f"{self.contract} has no transition {name!r}")

    def takes_counter(self, name: str) -> bool:
        """Whether transition ``name`` takes ``expectedCounter`` as its first argument."""
        return self.plugins.counter and not self.transition(name).counter_exempt

    @property
    def constructor_inputs(self) -> dict[str, str]:
        """Constructor arguments in order: address roles set at construction, then variables."""
        inputs = {
            name: "address"
            for name, role in self.roles.items()
            if role.kind is RoleKind.ADDRESS and role.init is RoleInit.CONSTRUCTOR
        }
        inputs.update({n: v.type for n, v in self.variables.items() if v.constructor})
        return inputs

    def with_plugins(self, plugins: PluginSpec) -> ContractSpec:
        """A copy of this spec with other plugin switches (used by benchmarks and tests)."""
        return self.model_copy(update={"plugins": plugins})
