"""Per-owner storage quotas: uploaded dataset bytes and the runs' estimated history bytes."""

from __future__ import annotations

from sqlalchemy.orm import Session

from descent_server.repository import quotas as repo
from descent_server.services.errors import InvalidInput, TooLarge
from descent_server.settings import get_settings


def check_dataset_room(*, session: Session, owner: str) -> None:
    """Refuse an upload at once when the owner's dataset quota is already used up (413)."""
    limit = get_settings().max_owner_dataset_bytes
    used = repo.dataset_bytes(session, owner=owner)
    if used >= limit:
        raise TooLarge(_dataset_message(used=used, size=None, limit=limit))


def reserve_dataset_bytes(*, session: Session, owner: str, size: int) -> None:
    """Lock the owner and refuse a dataset of `size` stored bytes past the quota (413)."""
    # The lock lasts until the caller commits the new dataset, so two concurrent uploads
    # cannot both fit into the same remaining room.
    repo.lock_owner(session, owner=owner)
    limit = get_settings().max_owner_dataset_bytes
    used = repo.dataset_bytes(session, owner=owner)
    if used + size > limit:
        raise TooLarge(_dataset_message(used=used, size=size, limit=limit))


def check_stored_bytes(*, session: Session, owner: str, size: int) -> None:
    """Refuse new runs whose estimated `size` would pass the stored-bytes quota (422).

    Call it with the owner locked (repo.lock_owner), as runs.check_capacity does.
    """
    limit = get_settings().max_owner_stored_bytes
    used = repo.run_stored_bytes(session, owner=owner)
    if used + size > limit:
        raise InvalidInput.at(
            ["body", "hyperparameters"],
            f"stored-bytes quota max_owner_stored_bytes exceeded: your runs use {used} "
            f"of {limit} bytes and this needs an estimated {size} more; delete runs to free room",
        )


def _dataset_message(*, used: int, size: int | None, limit: int) -> str:
    needs = "" if size is None else f" and this dataset needs {size} more"
    return (
        f"dataset quota max_owner_dataset_bytes exceeded: your datasets use {used} of "
        f"{limit} bytes{needs}; delete datasets to free room"
    )
