"""Chain access through web3.py: the embedded eth-tester/py-evm chain or any JSON-RPC node.

Why: tests and the demo need a chain with nothing to start (eth-tester on py-evm, in
process), production needs any Ethereum JSON-RPC endpoint; both are driven through the same
calls here, and a custom-error revert becomes the same :class:`ContractRevertError` with the
same decoded message under either backend.
"""

from __future__ import annotations

import ast
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from edgeshield.errors import ChainError, ConfigError, ContractRevertError
from edgeshield.ledger._compiler import CompiledContract

if TYPE_CHECKING:
    from web3 import Web3


def _import_web3() -> None:
    """Import web3 on first use (py_ecc, below it, raises the process's recursion limit)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "websockets.legacy is deprecated", DeprecationWarning)
        import web3  # noqa: F401


__all__ = [
    "Chain",
    "DeployedContract",
    "EventRecord",
    "TxResult",
    "decode_revert",
]

_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")
_PANIC_REASONS = {
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x32: "array index out of bounds",
}


def _abi_type(item: Mapping[str, Any]) -> str:
    return str(item["type"])


def decode_revert(data: bytes, abi: Sequence[Mapping[str, Any]]) -> tuple[str, tuple[Any, ...]]:
    """Decode revert data into ``(error name, arguments)`` using the contract's ABI.

    Empty data (a plain ``revert()``, or ether sent to a non-payable function) decodes to
    ``("Revert", ())``; ``Error(string)`` and ``Panic(uint256)`` are recognised too.
    """
    if len(data) < 4:
        return "Revert", ()
    selector, payload = data[:4], data[4:]
    try:
        if selector == _ERROR_STRING:
            return "Error", tuple(abi_decode(["string"], payload))
        if selector == _PANIC:
            return "Panic", tuple(abi_decode(["uint256"], payload))
        for item in abi:
            if item.get("type") != "error":
                continue
            types = [_abi_type(arg) for arg in item.get("inputs", [])]
            signature = f"{item['name']}({','.join(types)})"
            if keccak(signature.encode())[:4] == selector:
                return str(item["name"]), tuple(abi_decode(types, payload))
    except Exception:
        return f"0x{selector.hex()}", ()
    return f"0x{selector.hex()}", ()


def _format(name: str, args: tuple[Any, ...]) -> str:
    if name == "Revert":
        return "revert without data (e.g. ether sent to a non-payable function)"
    if name == "Panic" and args:
        return f"Panic(0x{args[0]:02x}: {_PANIC_REASONS.get(args[0], 'panic')})"
    shown = ", ".join(f"0x{a.hex()}" if isinstance(a, bytes) else str(a) for a in args)
    return f"{name}({shown})"


def _revert_data(exc: BaseException) -> bytes | None:
    """Revert data from a web3 (JSON-RPC) or eth-tester exception, None if not a revert."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):  # some nodes (Hardhat) wrap it: {"message": ..., "data": "0x.."}
        data = data.get("data")
    web3_exceptions = sys.modules.get("web3.exceptions")  # no web3 error without web3 loaded
    if web3_exceptions is not None and isinstance(exc, web3_exceptions.ContractLogicError):
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        message = str(exc.message or "")
        if message.startswith("execution reverted: "):
            return _ERROR_STRING + _encode_reason(message.removeprefix("execution reverted: "))
        return b""
    if type(exc).__name__ == "TransactionFailed":
        text = str(exc.args[0]) if exc.args else ""
        text = text.removeprefix("execution reverted: ")
        if text[:2] in ("b'", 'b"'):
            try:
                raw = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                return b""
            return raw if isinstance(raw, bytes) else b""
        return _ERROR_STRING + _encode_reason(text)
    return None


def _encode_reason(reason: str) -> bytes:
    from eth_abi.abi import encode as abi_encode

    return abi_encode(["string"], [reason])


@dataclass(frozen=True, kw_only=True)
class EventRecord:
    """One decoded contract event."""

    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str
    log_index: int


@dataclass(frozen=True, kw_only=True)
class TxResult:
    """A mined, successful transaction."""

    tx_hash: str
    gas_used: int
    block_number: int
    timestamp: int
    events: tuple[EventRecord, ...] = field(default=())


class Chain:
    """A web3 connection with funded accounts, time control and contract deployment.

    Use :meth:`embedded` (eth-tester on py-evm, in process) or :meth:`connect` (any
    JSON-RPC URL; node-managed accounts, or local keys that sign transactions here).
    """

    def __init__(
        self, w3: Web3, *, accounts: Sequence[str], tester: Any | None = None, label: str
    ) -> None:
        self.w3 = w3
        self.accounts = [to_checksum_address(a) for a in accounts]
        self._tester = tester
        self.label = label

    @classmethod
    def embedded(cls, *, accounts: int = 10) -> Chain:
        """A fresh in-process chain (eth-tester, py-evm, Prague) with funded accounts.

        The accounts are eth-tester's: private keys 1, 2, ... ``accounts`` (so a plant or
        device can be given a fixed, reproducible key), each holding 1,000,000 ether.
        """
        from eth_tester import EthereumTester, PyEVMBackend
        from eth_tester.backends.pyevm.main import (
            generate_genesis_state_for_keys,
            get_default_account_keys,
        )

        _import_web3()
        from web3 import EthereumTesterProvider, Web3

        if not 1 <= accounts <= 1000:
            raise ConfigError("accounts must be between 1 and 1000")
        keys = get_default_account_keys(quantity=accounts)
        tester = EthereumTester(PyEVMBackend(genesis_state=generate_genesis_state_for_keys(keys)))
        w3 = Web3(EthereumTesterProvider(tester))
        return cls(w3, accounts=w3.eth.accounts, tester=tester, label="embedded py-evm")

    @classmethod
    def connect(
        cls, url: str, *, private_keys: Sequence[str] = (), timeout_s: float = 30.0
    ) -> Chain:
        """Connect to a JSON-RPC node at ``url``.

        With ``private_keys``, transactions are signed locally by those accounts; otherwise
        the node's own (unlocked) accounts are used, as on a local dev node.
        """
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"--rpc-url must be an http(s) URL, got {url!r}")
        _import_web3()
        from web3 import HTTPProvider, Web3

        w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout_s}))
        try:
            w3.eth.chain_id  # noqa: B018 (probe the connection)
        except Exception as exc:
            raise ChainError(f"cannot reach JSON-RPC node at {url}: {exc}") from exc
        if private_keys:
            from eth_account import Account
            from web3.middleware import SignAndSendRawMiddlewareBuilder

            try:
                signers = [Account.from_key(key) for key in private_keys]
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"invalid private key: {exc}") from exc
            w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(signers), layer=0)
            accounts = [s.address for s in signers]
        else:
            accounts = list(w3.eth.accounts)
        if not accounts:
            raise ChainError(f"{url} offers no accounts; pass private keys to sign with")
        return cls(w3, accounts=accounts, label=url)

    @property
    def is_embedded(self) -> bool:
        """Whether this is the in-process eth-tester chain."""
        return self._tester is not None

    def _rpc(self, method: str, params: list[Any]) -> Any:
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise ChainError(f"{self.label}: {method} failed: {response['error']}")
        return response.get("result")

    def _follow_wall_clock(self) -> None:
        """Stamp the embedded chain's pending block no earlier than now.

        py-evm dates the pending block when the previous one is mined but estimates gas in a
        block dated now, so after a pause a deadline planned from the stale date had already
        passed for the estimate. Planning reads the clock here, so it is moved up first.
        """
        if self._tester is None:
            return
        chain = self._tester.backend.chain
        now = max(int(time.time()), chain.get_canonical_head().timestamp + 1)
        if chain.header.timestamp < now:
            chain.header = chain.header.copy(timestamp=now)

    def next_timestamp(self) -> int:
        """Timestamp of the block the next transaction lands in (exact on the embedded chain)."""
        self._follow_wall_clock()
        return int(self.w3.eth.get_block("pending")["timestamp"])

    def increase_time(self, seconds: int) -> None:
        """Move the chain's clock forward by ``seconds`` (dev chains only)."""
        if seconds < 0:
            raise ConfigError("time only moves forward")
        if self._tester is not None:
            self._tester.time_travel(self.next_timestamp() + seconds)
            return
        self._rpc("evm_increaseTime", [seconds])
        self._rpc("evm_mine", [])

    def snapshot(self) -> Any:
        """Take a state snapshot (dev chains only); pass the result to :meth:`revert`."""
        if self._tester is not None:
            return self._tester.take_snapshot()
        return self._rpc("evm_snapshot", [])

    def revert(self, snapshot: Any) -> None:
        """Return to ``snapshot`` (dev chains only)."""
        if self._tester is not None:
            self._tester.revert_to_snapshot(snapshot)
            return
        self._rpc("evm_revert", [snapshot])

    def balance(self, address: str) -> int:
        """Ether balance of ``address`` in wei."""
        return int(self.w3.eth.get_balance(to_checksum_address(address)))

    def _embedded_gas(self, tx: dict[str, Any]) -> dict[str, Any]:
        """On the embedded chain: one dry run, then the block's gas limit as the tx's limit.

        Why: web3 estimates gas by py-evm's binary search, a dozen executions per
        transaction; on a chain whose gas costs nothing, one ``eth_call`` gives the same revert
        (and the same error) first. ``gasUsed`` does not depend on the limit. A node keeps
        web3's estimate.
        """
        if self._tester is None or "gas" in tx:
            return tx
        self.w3.eth.call(tx, "pending")  # type: ignore[arg-type]  # the block it will be in
        limit = int(self.w3.eth.get_block("pending")["gasLimit"])
        return {**tx, "gas": limit}

    def _send(self, tx: dict[str, Any], abi: Sequence[Mapping[str, Any]], what: str) -> Any:
        try:
            tx = self._embedded_gas(tx)
            tx_hash = self.w3.eth.send_transaction(tx)  # type: ignore[arg-type]
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        except Exception as exc:  # web3's errors and the backends' own
            data = _revert_data(exc)
            if data is None:
                raise ChainError(f"{self.label}: {what} failed: {exc}") from exc
            name, args = decode_revert(data, abi)
            raise ContractRevertError(
                f"{what} reverted: {_format(name, args)}", error_name=name, error_args=args
            ) from exc
        if receipt["status"] != 1:
            raise ContractRevertError(f"{what} reverted (status 0)", error_name="Revert")
        return receipt

    def deploy(
        self,
        compiled: CompiledContract,
        args: Sequence[Any] = (),
        *,
        sender: str | None = None,
        value: int = 0,
    ) -> DeployedContract:
        """Deploy ``compiled`` with constructor ``args``; returns the live contract."""
        factory = self.w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
        try:
            data = factory.constructor(*args).data_in_transaction
        except Exception as exc:
            raise ConfigError(f"bad constructor arguments for {compiled.name}: {exc}") from exc
        tx = {"from": sender or self.accounts[0], "data": data, "value": value}
        receipt = self._send(tx, compiled.abi, f"deploy {compiled.name}")
        return DeployedContract(
            self, compiled, receipt["contractAddress"], deploy_gas=int(receipt["gasUsed"])
        )

    def at(self, compiled: CompiledContract, address: str) -> DeployedContract:
        """The already deployed ``compiled`` contract at ``address``."""
        try:
            checksum = to_checksum_address(address)
        except ValueError as exc:
            raise ConfigError(f"not an address: {address!r}") from exc
        if self.w3.eth.get_code(checksum) in (b"", None):
            raise ChainError(f"{self.label}: no contract at {checksum}")
        return DeployedContract(self, compiled, checksum, deploy_gas=None)


class DeployedContract:
    """A contract on a :class:`Chain`: send transitions, read state, decode events."""

    def __init__(
        self, chain: Chain, compiled: CompiledContract, address: str, *, deploy_gas: int | None
    ) -> None:
        self.chain = chain
        self.compiled = compiled
        self.address = to_checksum_address(address)
        self.deploy_gas = deploy_gas
        self._contract = chain.w3.eth.contract(address=self.address, abi=compiled.abi)

    def transact(
        self, function: str, *args: Any, sender: str | None = None, value: int = 0
    ) -> TxResult:
        """Send ``function(*args)`` from ``sender`` with ``value`` wei; wait until mined.

        Raises
        ------
        ContractRevertError
            If it reverts; ``error_name``/``error_args`` carry the decoded custom error.
        """
        try:
            data = self._contract.encode_abi(function, args=list(args))
        except Exception as exc:
            raise ConfigError(f"bad call {self.compiled.name}.{function}{args!r}: {exc}") from exc
        tx = {
            "from": sender or self.chain.accounts[0],
            "to": self.address,
            "data": data,
            "value": value,
        }
        receipt = self.chain._send(tx, self.compiled.abi, f"{self.compiled.name}.{function}")
        block = self.chain.w3.eth.get_block(receipt["blockNumber"])
        return TxResult(
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            gas_used=int(receipt["gasUsed"]),
            block_number=int(receipt["blockNumber"]),
            timestamp=int(block["timestamp"]),
            events=tuple(self._decode_logs(receipt["logs"])),
        )

    def call(self, function: str, *args: Any) -> Any:
        """Call a view function (or public getter) and return its result."""
        # The embedded chain's web3 middleware would guess the same sender, accounts[0], with
        # two eth_accounts requests per call (each checksums every account): said up front,
        # a call costs a third of the time. A node gets the call without a sender, as before.
        options = {"from": self.chain.accounts[0]} if self.chain.is_embedded else {}
        return self._eth_call(function, args, options)

    def simulate(self, function: str, *args: Any, sender: str | None = None, value: int = 0) -> Any:
        """Run ``function(*args)`` as ``sender`` would send it, without mining it.

        Why: whether a transition would pass right now (the differential tests ask this of
        every call the checker claims) without spending gas or changing any state.

        Raises
        ------
        ContractRevertError
            If the transaction would revert, with the decoded custom error, as ``transact``.
        """
        options = {"from": sender or self.chain.accounts[0], "value": value}
        return self._eth_call(function, args, options)

    def _eth_call(self, function: str, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        try:
            return getattr(self._contract.functions, function)(*args).call(options)
        except Exception as exc:
            data = _revert_data(exc)
            if data is None:
                raise ChainError(f"{self.chain.label}: call {function} failed: {exc}") from exc
            name, err_args = decode_revert(data, self.compiled.abi)
            raise ContractRevertError(
                f"{self.compiled.name}.{function} reverted: {_format(name, err_args)}",
                error_name=name,
                error_args=err_args,
            ) from exc

    def _decode_logs(self, logs: Sequence[Any]) -> list[EventRecord]:
        by_topic: dict[bytes, str] = {}
        for item in self.compiled.abi:
            if item.get("type") == "event":
                types = ",".join(_abi_type(arg) for arg in item.get("inputs", []))
                by_topic[keccak(f"{item['name']}({types})".encode())] = str(item["name"])
        records = []
        for log in logs:
            topics = log["topics"]
            if not topics or to_checksum_address(log["address"]) != self.address:
                continue
            name = by_topic.get(bytes(topics[0]))
            if name is None:
                continue
            decoded = getattr(self._contract.events, name)().process_log(log)
            records.append(
                EventRecord(
                    name=name,
                    args=dict(decoded["args"]),
                    block_number=int(log["blockNumber"]),
                    tx_hash="0x" + bytes(log["transactionHash"]).hex(),
                    log_index=int(log["logIndex"]),
                )
            )
        return records

    def events(self, from_block: int = 0) -> list[EventRecord]:
        """All events this contract emitted since ``from_block``, in chain order."""
        try:
            logs = self.chain.w3.eth.get_logs(
                {"address": self.address, "fromBlock": from_block, "toBlock": "latest"}
            )
        except Exception as exc:
            raise ChainError(f"{self.chain.label}: cannot read logs: {exc}") from exc
        return self._decode_logs(logs)
