"""Where the Flower apps run: Flower's simulation engine (Ray), or an in-process grid.

The in-process grid delivers the same ServerApp's messages to the same ClientApp (mods,
SecAgg+ stages, NumPyClient) inside this process, one node after another, with a copy of each
message as a network would make. It exists for benchmarks and quick checks on small machines,
where starting Ray costs more than the federated rounds; the simulation engine stays the
default, and the deployment engine (SuperLink + SuperNodes) runs the same apps.

Node IDs follow the partition order (Flower's engines draw them at random), so the server's
client order, and with it the bucket partition of every round, is the same from run to run.
"""

from __future__ import annotations

import copy
import enum
import secrets
from collections.abc import Iterable
from uuid import uuid4

import torch
from flwr.app import Context, Message, RecordDict
from flwr.app.error import Error
from flwr.client import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.proto.node_pb2 import NodeInfo
from flwr.server import Grid, ServerApp
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

__all__ = ["Engine", "run_in_process"]

#: First in-process node ID (above Flower's SuperLink ID 1; the rest follow in partition order).
_FIRST_NODE_ID = 1_000


class Engine(enum.Enum):
    """Which runtime executes the Flower apps."""

    SIMULATION = "simulation"
    IN_PROCESS = "in-process"


class _LocalGrid(Grid):
    """A Grid whose nodes are ClientApp calls in this process (copies in, copies out)."""

    def __init__(self, client_app: ClientApp, num_nodes: int, run_id: int) -> None:
        self._run = Run.create_empty(run_id)
        self._app = client_app
        # Deterministic IDs in partition order: the server sorts plants by node ID, and random
        # IDs made each run's SecAgg+ buckets (and so its model) differ for the same seed.
        self._nodes = {_FIRST_NODE_ID + i: i for i in range(num_nodes)}
        self._contexts = {
            node: Context(
                run_id=run_id,
                node_id=node,
                node_config={"partition-id": part, "num-partitions": num_nodes},
                state=RecordDict(),
                run_config={},
            )
            for node, part in self._nodes.items()
        }
        self._replies: dict[str, Message] = {}

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._nodes)

    def get_nodes(self) -> Iterable[NodeInfo]:
        return [NodeInfo(node_id=n) for n in self._nodes]

    def _deliver(self, message: Message) -> Message:
        node = message.metadata.dst_node_id
        inbound = copy.deepcopy(message)
        try:
            reply = self._app(inbound, self._contexts[node])
        except Exception as exc:  # a crashing plant is a dropout, as in the simulation engine
            reply = Message(
                Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=repr(exc)),
                reply_to=inbound,
            )
        return copy.deepcopy(reply)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = str(uuid4())
            message.metadata.__dict__["_run_id"] = self._run.run_id
            self._replies[message.metadata.message_id] = self._deliver(message)
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return self.pull_messages(list(self.push_messages(messages)))


def run_in_process(server_app: ServerApp, client_app: ClientApp, num_nodes: int) -> None:
    """Run ``server_app`` against ``num_nodes`` in-process nodes of ``client_app``."""
    run_id = secrets.randbelow(2**62) + 1
    # Messages stamp their source from the process's task identity, as run_simulation sets it.
    TaskIdentity.task_id = 1
    TaskIdentity.run_id = run_id
    TaskIdentity.node_id = SUPERLINK_NODE_ID
    grid = _LocalGrid(client_app, num_nodes, run_id)
    context = Context(run_id=run_id, node_id=0, node_config={}, state=RecordDict(), run_config={})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one plant at a time; tiny models lose time to thread hand-offs
    try:
        server_app(grid=grid, context=context)
    finally:
        torch.set_num_threads(threads)
