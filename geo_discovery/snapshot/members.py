"""Member histories in a snapshot: who came back where, stored under hashed member ids.

A visit log (``load --profile checkins``) says which member visited which merchant how
often. The snapshot keeps, per member, the merchants they visited with a count and the
last time — under ``HMAC-SHA256(key, member id)``, never the id itself, with a random key
kept beside the table (``members.key``, readable by the owner only). A query's
:class:`~geo_discovery.query.Member` names a member id; the engine hashes it and reads that
member's rows here. No endpoint returns them. An id is hashed in Unicode NFC, so "josé"
typed with a combining accent (NFD) is the same member as with a precomposed one.

A lift resolved from an id also carries :meth:`MemberHistories.token`, a second keyed hash
of the id (under a key derived from ``members.key``): the fingerprint of the lift, and so
the member's page cursors, depend on it, and nobody without the id and the key can make or
check one (:mod:`geo_discovery.search.cursor`).

Examples
--------
>>> import tempfile, pandas as pd
>>> folder = Path(tempfile.mkdtemp())
>>> visits = pd.DataFrame({"member": ["ann", "ann", "bob"], "merchant_id": ["a", "b", "a"],
...                        "visits": [3, 1, 1],
...                        "last_visit": pd.to_datetime(["2024-01-02"] * 3, utc=True)})
>>> write_members(visits, folder)
3
>>> MemberHistories(folder).visits("ann")
{'a': 3, 'b': 1}
>>> MemberHistories(folder).visits("carol")
{}
>>> "ann" in (folder / MEMBERS_FILE).read_bytes().decode("latin-1")
False
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

__all__ = ["MEMBERS_FILE", "MEMBERS_KEY", "MemberHistories", "carry_members", "write_members"]

MEMBERS_FILE = "members.parquet"
MEMBERS_KEY = "members.key"


def _hash(key: bytes, member_id: str) -> str:
    """``HMAC-SHA256(key, id)`` of the id in Unicode NFC (the one place ids are hashed:
    when a visit log is stored and when a query looks an id up)."""
    text = unicodedata.normalize("NFC", member_id)
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _token_key(key: bytes) -> bytes:
    """The key of :meth:`MemberHistories.token`: derived from the store's, and never equal
    to it (a token is not the id's stored hash)."""
    return hmac.digest(key, b"geo-discovery member lift token", "sha256")


def write_members(visits: pd.DataFrame, folder: Path) -> int:
    """Write ``member, merchant_id, visits, last_visit`` rows under hashed member ids.

    Returns the number of (member, merchant) rows written.
    """
    key = secrets.token_bytes(32)
    key_path = folder / MEMBERS_KEY
    key_path.write_bytes(key)
    os.chmod(key_path, 0o600)
    hashed = [_hash(key, str(m)) for m in visits["member"].tolist()]
    table = pa.table(
        {
            "member": pa.array(hashed, pa.string()),
            "merchant_id": pa.array(visits["merchant_id"].astype(str).tolist(), pa.string()),
            "visits": pa.array(visits["visits"].to_numpy(), pa.int32()),
            "last_visit": pa.array(
                pd.to_datetime(visits["last_visit"], utc=True), pa.timestamp("us", tz="UTC")
            ),
        }
    ).sort_by("member")
    pq.write_table(table, folder / MEMBERS_FILE)
    return table.num_rows


def carry_members(previous: Path | None, folder: Path) -> bool:
    """Copy a previous snapshot's member histories into ``folder`` (an upsert keeps them);
    ``True`` when there were some."""
    if previous is None or not (previous / MEMBERS_FILE).exists():
        return False
    for name in (MEMBERS_FILE, MEMBERS_KEY):
        shutil.copy2(previous / name, folder / name)
    return True


class MemberHistories:
    """The member histories of one snapshot folder (empty when it has none)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    @functools.cached_property
    def _data(self) -> tuple[bytes, pa.Table] | None:
        if self.folder is None or not (self.folder / MEMBERS_FILE).exists():
            return None
        key = (self.folder / MEMBERS_KEY).read_bytes()
        return key, pq.read_table(self.folder / MEMBERS_FILE)

    def __bool__(self) -> bool:
        return self._data is not None

    @functools.cached_property
    def _index(self) -> tuple[NDArray[np.bytes_], NDArray[np.int64]]:
        """The members' keys (sorted, one each, fixed-width bytes) and where each one's rows
        start in the table (and the end): one binary search finds a member."""
        assert self._data is not None
        runs = pc.run_end_encode(self._data[1].column("member").combine_chunks())
        keys = np.array(runs.values.to_pylist(), dtype=np.bytes_)  # hex digests: ASCII
        ends = np.asarray(runs.run_ends.to_numpy(), dtype=np.int64)
        return keys, np.concatenate([[0], ends])

    @functools.cached_property
    def _columns(self) -> tuple[pa.Array, NDArray[np.int64]]:
        assert self._data is not None
        table = self._data[1]
        visits = pc.cast(table.column("visits"), pa.int64()).to_numpy()
        return table.column("merchant_id").combine_chunks(), np.asarray(visits, dtype=np.int64)

    def span(self, member_id: str) -> tuple[int, int]:
        """The rows ``[lo, hi)`` of one member in :attr:`merchant_ids` and :attr:`counts`
        (empty: not known)."""
        if self._data is None:
            return 0, 0
        wanted = _hash(self._data[0], member_id).encode("ascii")
        keys, starts = self._index
        i = int(np.searchsorted(keys, wanted))
        if i == len(keys) or keys[i] != wanted:
            return 0, 0
        return int(starts[i]), int(starts[i + 1])

    @property
    def merchant_ids(self) -> pa.Array:
        """Each row's merchant id (the table sorted by member; :meth:`span`)."""
        return self._columns[0] if self._data is not None else pa.array([], pa.string())

    @property
    def counts(self) -> NDArray[np.int64]:
        """Each row's visits (:meth:`span`)."""
        return self._columns[1] if self._data is not None else np.zeros(0, dtype=np.int64)

    def token(self, member_id: str) -> str | None:
        """A secret-keyed hash of ``member_id`` (``None``: this snapshot holds no histories)
        that a lift resolved from the id carries into its fingerprint: a page cursor of the
        member then cannot be made or checked by a query without the id (e.g. one giving the
        same visits), nor its sealed values read."""
        if self._data is None:
            return None
        return _hash(self._token_key, member_id)

    @functools.cached_property
    def _token_key(self) -> bytes:
        assert self._data is not None
        return _token_key(self._data[0])

    def visits(self, member_id: str) -> dict[str, int]:
        """``{merchant_id: visits}`` of one member (``{}``: not known)."""
        lo, hi = self.span(member_id)
        ids = self.merchant_ids.slice(lo, hi - lo).to_pylist()
        return dict(zip(ids, self.counts[lo:hi].tolist(), strict=True))
