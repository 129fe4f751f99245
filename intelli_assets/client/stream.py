"""Following one run's events live: the webserver's GraphQL subscription `pipelineRunLogs` over
its websocket (`graphql-ws` protocol, as the Dagster UI uses it), or polling `logsForRun`
where a proxy refuses websockets. Both stop after the run's last event."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from intelli_assets.client import documents as doc
from intelli_assets.client.facts import event_of, event_type_value
from intelli_assets.jobs import ENDED, RUN_END_EVENTS, JobEvent

if TYPE_CHECKING:
    from intelli_assets.client.client import IntelliClient

PROTOCOL = "graphql-ws"
POLL_SECONDS = 0.5


class StreamRefused(Exception):
    """The websocket could not be opened (refused, no upgrade through a proxy)."""


def follow_run(client: IntelliClient, run_id: str, on_transport: Callable[[str], None] | None = None
               ) -> Iterator[JobEvent]:
    """Every event of the run from its start until its end, over the websocket if it opens,
    else by polling."""
    seen = [0]  # raw events delivered so far: polling after a lost socket skips them
    stream = subscribe(client, run_id, seen)
    try:
        first = next(stream, None)  # opens the socket: a refusal is known before anything is yielded
    except StreamRefused as exc:
        if on_transport:
            on_transport(f"polling (websocket refused: {exc})")
        yield from poll(client, run_id)
        return
    if on_transport:
        on_transport("websocket")
    if first is None:
        return
    yield first
    try:
        yield from stream
    except StreamRefused as exc:  # the socket dropped mid-run (webserver restart, proxy idle timeout)
        if on_transport:
            on_transport(f"polling (websocket lost: {exc})")
        yield from poll(client, run_id, skip=seen[0])


def subscribe(client: IntelliClient, run_id: str, seen: list[int]) -> Iterator[JobEvent]:
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
    from websockets.sync.client import connect

    url = client.url.replace("http", "ws", 1) + "/graphql"
    try:
        socket = connect(url, subprotocols=[PROTOCOL], additional_headers=client.headers, open_timeout=10,
                         max_size=None)
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
        raise StreamRefused(f"{exc.__class__.__name__}: {exc}") from None
    with socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        socket.send(json.dumps({"type": "start", "id": "1", "payload": {
            "query": doc.RUN_LOGS_SUBSCRIPTION, "variables": {"runId": run_id, "cursor": None}}}))
        while True:
            try:
                message = json.loads(socket.recv(timeout=None))
            except ConnectionClosed as exc:
                raise StreamRefused(f"{exc.__class__.__name__}: {exc}") from None
            if message.get("type") in ("connection_ack", "ka"):
                continue
            if message.get("type") in ("error", "connection_error"):
                raise StreamRefused(f"the subscription was refused: {message.get('payload')}")
            if message.get("type") == "complete":
                return
            payload = (message.get("payload") or {}).get("data", {}).get("pipelineRunLogs", {})
            if payload.get("__typename") == "PipelineRunLogsSubscriptionFailure":
                raise StreamRefused(payload.get("message") or "no such run")
            ended = False
            for raw in payload.get("messages", []):
                seen[0] += 1
                event = event_of(raw)
                if event is not None:
                    yield event
                ended = ended or event_type_value(raw.get("eventType")) in RUN_END_EVENTS
            if ended:
                socket.send(json.dumps({"type": "stop", "id": "1"}))
                return


def poll(client: IntelliClient, run_id: str, skip: int = 0) -> Iterator[JobEvent]:
    """The run's events by polling `logsForRun`, after the first `skip` (already delivered)."""
    cursor, index = None, 0
    while True:
        (run,) = client._runs({"runIds": [run_id]})  # noqa: SLF001 - the status before the read: no event is missed
        data = client.query(doc.RUN_LOGS, {"runId": run_id, "afterCursor": cursor, "limit": 1000})["logsForRun"]
        for raw in data.get("events", []):
            index += 1
            event = event_of(raw) if index > skip else None
            if event is not None:
                yield event
        cursor = data.get("cursor") or cursor
        if data.get("hasMore"):
            continue
        if run["status"] in ENDED:
            return
        time.sleep(POLL_SECONDS)
