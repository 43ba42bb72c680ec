"""Locks in the shared DynamoDB table (:mod:`deployctl.state.dynamodb`): one
item per lock, every write conditional, so two machines never both hold it.
A freed lock keeps its item (holder ``""``) so the next holder's epoch grows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deployctl.errors import LockLost
from deployctl.state.api import Fence
from deployctl.state.dynamotable import Table, n, s
from deployctl.state.lease import LeasedLock, LockRow


def fence_check(fence: Fence) -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "Key": {"pk": s("locks"), "sk": s(fence.lock_id)},
            "ConditionExpression": "#t = :t AND epoch = :e",
            "ExpressionAttributeNames": {"#t": "token"},
            "ExpressionAttributeValues": {":t": s(fence.token), ":e": n(fence.epoch)},
        }
    }


class DynamoLock(LeasedLock):
    """One item per lock.  Every write is conditional: taking a lock on exactly
    the item that was read, renewing, re-pointing and freeing on this
    holding's token and epoch, so two machines never both believe they hold it."""

    def __init__(self, table: Table, lock_id: str, holder: str, pid: int, **kw: Any) -> None:
        super().__init__(lock_id, holder, pid, **kw)
        self.table = table

    def _read(self) -> LockRow | None:
        item = self.table.get("locks", self.lock_id)
        return lock_row(item) if item is not None else None

    def _swap(self, current: LockRow | None, new: LockRow) -> bool:
        item = {
            "pk": s("locks"),
            "sk": s(new.lock_id),
            "holder": s(new.holder),
            "pid": n(new.pid),
            "host": s(new.host),
            "boot": s(new.boot),
            "token": s(new.token),
            "epoch": n(new.epoch),
            "run_id": s(new.run_id),
            "created": n(new.created),
            "lease_until": n(new.lease_until),
        }
        if current is None:
            return self.table.put(item, "attribute_not_exists(pk)")
        epoch = "epoch = :e" if current.epoch else "attribute_not_exists(epoch)"
        values: dict[str, Any] = {":old": n(current.lease_until), ":token": s(current.token)}
        if current.epoch:
            values[":e"] = n(current.epoch)
        return self.table.put(
            item,
            f"lease_until = :old AND #t = :token AND {epoch}",
            ExpressionAttributeNames={"#t": "token"},
            ExpressionAttributeValues=values,
        )

    def _held(self, expression: str, values: dict[str, Any]) -> bool:
        assert self.fence is not None, "acquire first"
        return self.table.update(
            "locks",
            self.lock_id,
            expression,
            "#t = :token AND epoch = :epoch",
            ExpressionAttributeNames={"#t": "token"},
            ExpressionAttributeValues={
                ":token": s(self.token),
                ":epoch": n(self.fence.epoch),
                **values,
            },
        )

    def _update(self, changes: Mapping[str, Any]) -> bool:
        names = sorted(changes)
        values = {f":{name}": s(v) if isinstance(v, str) else n(v) for name, v in changes.items()}
        return self._held("SET " + ", ".join(f"{name} = :{name}" for name in names), values)

    def _free(self) -> None:
        if self.fence is not None:
            self._held(
                "SET holder = :none, #t = :none, lease_until = :zero",
                {":none": s(""), ":zero": n(0)},
            )

    def close(self) -> None:
        """Nothing to release: the client needs no closing."""


def lost(table: Table, fence: Fence) -> LockLost:
    item = table.get("locks", fence.lock_id)
    row = lock_row(item) if item is not None else None
    now = "now " + row.info().describe() if row is not None and row.held else "now free"
    return LockLost(fence.lock_id, fence.holder, now)


def lock_row(item: Mapping[str, Any]) -> LockRow:
    holder = item["holder"]["S"]
    return LockRow(
        item["sk"]["S"],
        holder,
        int(item["pid"]["N"]),
        item.get("host", {}).get("S", holder.rpartition("@")[2]),
        item.get("boot", {}).get("S", ""),
        item.get("token", {}).get("S", ""),
        int(item.get("epoch", {}).get("N", "0")),
        item["run_id"]["S"],
        float(item["created"]["N"]),
        float(item["lease_until"]["N"]),
    )
