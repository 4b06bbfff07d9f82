"""An in-memory :class:`pulse.services.outbox.Delivery`: what a run posts, in lists."""

from __future__ import annotations

from pulse.services.outbox import Delivery, Message, Posted


class ListDelivery:
    """Posts into ``posted`` (a DM lands in channel ``D-<user>``); uploads are refused."""

    def __init__(self) -> None:
        self.posted: list[Message] = []
        self.updated: list[tuple[Message, str]] = []

    def batch(self) -> Delivery:
        return self

    def post(self, message: Message) -> Posted | None:
        self.posted.append(message)
        return Posted(f"D-{message.destination}", f"{len(self.posted)}.0001")

    def update(self, message: Message, ts: str) -> Posted | None:
        self.updated.append((message, ts))
        return Posted(message.destination, ts)

    def upload(self, destination: str, content: bytes, *, filename: str, title: str) -> str:
        raise AssertionError("no uploads here")

    def to(self, user: str) -> list[str]:
        """The top-level text of each message posted to ``user``."""
        return [str(m.payload.get("text")) for m in self.posted if m.destination == user]
