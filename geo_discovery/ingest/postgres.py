"""PostgreSQL as a source: a table or a query, streamed into the same validation as files.

``geo-discovery load postgresql://USER@HOST/DB?table=merchants`` (or the same URL with
``--sql "SELECT …"``) runs ``COPY (SELECT …) TO STDOUT (FORMAT csv, HEADER)`` and streams
the rows into a CSV file in a temporary folder, which the load then reads like any other
file: the same profiles, the same validation, the same rejects (lines are the dump's).
PostGIS ``geometry``/``geography`` columns arrive as WKT, which the generic profile reads
as points. ``since`` keeps the rows whose ``updated_at`` is later (incremental upserts).

Credentials come from the URL, the ``PG*`` environment variables or ``~/.pgpass``
(libpq reads them); a password never appears in a message, a report or a manifest
(:func:`masked_url`).

Examples
--------
>>> src = parse_pg_url("postgresql://ops:s3cret@db.example/shops?table=public.merchants")
>>> src.label, src.table
('postgresql://ops:***@db.example/shops?table=public.merchants', ('public', 'merchants'))
>>> "s3cret" in repr(src)
False
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import DatabaseError, GeoDiscoveryError

__all__ = [
    "SINCE_COLUMN",
    "PgSource",
    "connect",
    "dump_source",
    "is_postgres_url",
    "masked_text",
    "masked_url",
    "materialise",
    "parse_pg_url",
    "scrub",
    "split_pg_url",
]

SCHEMES = ("postgresql://", "postgres://")
#: The column ``since`` compares with.
SINCE_COLUMN = "updated_at"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_DOLLAR = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")  # a dollar quote's opening tag


def is_postgres_url(text: object) -> bool:
    """True for ``postgresql://…`` and ``postgres://…`` strings."""
    return isinstance(text, str) and text.strip().lower().startswith(SCHEMES)


def masked_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``.

    Examples
    --------
    >>> masked_url("postgresql://u:pw@h:5432/db?sslmode=require")
    'postgresql://u:***@h:5432/db?sslmode=require'
    >>> masked_url("postgresql://u@h/db")
    'postgresql://u@h/db'
    >>> masked_url("postgresql://u:pw@[::1/x?table=t")  # not a URL urlsplit reads
    'postgresql://u:***@[::1/x?table=t'
    """
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return masked_text(url)
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s]*@", re.IGNORECASE)


def masked_text(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` with the password as ``***`` (a
    command line in a crash log, a URL too malformed to parse).

    >>> masked_text("load postgresql://u:s3cr3t@h/db?table=t --data-dir d")
    'load postgresql://u:***@h/db?table=t --data-dir d'
    """
    return _USERINFO.sub(r"\1***@", text)


def scrub(message: object, url: str) -> str:
    """``message`` without the password of ``url`` (libpq messages may echo parts of a
    connection string)."""
    text = masked_text(str(message))
    try:
        password = urlsplit(url).password
    except ValueError:  # no URL urlsplit reads: its userinfo by hand
        found = _USERINFO.search(url)
        password = url[found.end(1) : found.end() - 1] if found else None
    if password:
        text = text.replace(password, "***")
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", text, flags=re.IGNORECASE)


@dataclass(frozen=True)
class PgSource:
    """A PostgreSQL table or query to load (:func:`parse_pg_url`).

    ``conninfo`` is the URL without the ``table`` parameter (it may hold a password and
    is left out of ``repr``); ``label`` is the masked URL used in every message.
    """

    conninfo: str = field(repr=False)
    label: str
    table: tuple[str, ...] | None = None
    sql: str | None = None
    since: datetime | None = None

    @property
    def file_name(self) -> str:
        """Name of the dump (and so the ``source_file`` of its rows)."""
        return f"{self.table[-1]}.csv" if self.table else "query.csv"

    def __str__(self) -> str:
        return self.label


def split_pg_url(url: str) -> Any:
    """``urlsplit(url)``, or :class:`DatabaseError` (password masked) for a URL it cannot
    read (a bracket left open, a port that is no number)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - reads (and checks) the port
    except ValueError as exc:
        raise DatabaseError(f"{masked_url(url.strip())}: not a valid URL ({exc}); expected "
                            "postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DB") from None
    return parts


def parse_pg_url(url: str, *, sql: str | None = None, since: datetime | None = None) -> PgSource:
    """A :class:`PgSource` from ``postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DB?table=T``
    (``T`` may be ``schema.table``) or from the URL and ``sql``; exactly one of the two."""
    if not is_postgres_url(url):
        raise DatabaseError(f"{url[:40]!r} is not a PostgreSQL URL; expected postgresql://…")
    parts = split_pg_url(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    tables = [v for k, v in params if k == "table"]
    rest = [(k, v) for k, v in params if k != "table"]
    conninfo = urlunsplit(parts._replace(query=urlencode(rest)))
    label = masked_url(url.strip())
    if sql is not None and tables:
        raise DatabaseError(f"{label}: give ?table= or --sql, not both")
    if sql is None and len(tables) != 1:
        raise DatabaseError(
            f"{label}: name the rows to load with ?table=NAME (or schema.name) in the URL, "
            "or with --sql \"SELECT …\""
        )
    table = None
    if tables:
        table = tuple(tables[0].split("."))
        if not 1 <= len(table) <= 2 or not all(_IDENT.match(p) for p in table):
            raise DatabaseError(
                f"{label}: table {tables[0]!r} is not allowed; expected NAME or SCHEMA.NAME "
                "(letters, digits, _ and $)"
            )
    if sql is not None and not statement_body(sql):
        raise DatabaseError(f"{label}: --sql is empty; expected a SELECT statement")
    return PgSource(conninfo, label, table, statement_body(sql) if sql else None, since)


def statement_body(sql: str) -> str:
    """``sql`` without what ends it: trailing ``;``, ``-- comments``, ``/* comments */``
    and spaces, so it can be wrapped as a subquery. Quotes (``'…'``, ``"…"``,
    ``$tag$…$tag$``) and comments are skipped when looking for the last of the statement.

    Examples
    --------
    >>> statement_body("SELECT 1; -- the end")
    'SELECT 1'
    >>> statement_body("SELECT ';' AS x /* a; b */ ;; ")
    "SELECT ';' AS x"
    >>> statement_body("SELECT $q$ -- kept $q$ AS x")
    'SELECT $q$ -- kept $q$ AS x'
    """
    end = i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            i = n if (j := sql.find("\n", i)) < 0 else j
            continue
        if sql.startswith("/*", i):
            i = n if (j := sql.find("*/", i + 2)) < 0 else j + 2
            continue
        if c in "'\"":
            j = i + 1
            while (j := sql.find(c, j)) >= 0 and sql.startswith(c * 2, j):
                j += 2  # a doubled quote is one quote inside the text
            i = end = n if j < 0 else j + 1
            continue
        if c == "$" and not _in_word(sql, i) and (tag := _DOLLAR.match(sql, i)):
            j = sql.find(tag.group(), tag.end())
            i = end = n if j < 0 else j + len(tag.group())
            continue
        if not c.isspace() and c != ";":
            end = i + 1
        i += 1
    return sql[:end]


def _in_word(sql: str, i: int) -> bool:
    """Whether ``sql[i]`` continues an identifier (``a$b``: no dollar quote there)."""
    return i > 0 and (sql[i - 1].isalnum() or sql[i - 1] in "_$")


def connect(conninfo: str, label: str, **kwargs: Any) -> Any:
    """A psycopg connection; :class:`DatabaseError` (password masked) when it fails."""
    try:
        import psycopg
    except ImportError:
        raise DatabaseError(
            "PostgreSQL needs psycopg: pip install 'geo-discovery[postgres]'"
        ) from None
    try:
        return psycopg.connect(conninfo, connect_timeout=10, **kwargs)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to {label}: {scrub(exc, conninfo).strip()}") from None


def _select(conn: Any, src: PgSource) -> Any:
    """``SELECT`` of the source's rows with geometries as WKT and the ``since`` filter."""
    from psycopg import sql

    # the query on lines of its own
    inner = (sql.SQL("SELECT * FROM {}").format(sql.Identifier(*src.table)) if src.table
             else sql.SQL("\n" + statement_body(src.sql or "") + "\n"))
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM ({}) AS q LIMIT 0").format(inner))
        names = [d.name for d in cur.description or []]
        oids = [d.type_code for d in cur.description or []]
        cur.execute("SELECT oid FROM pg_type WHERE typname IN ('geometry', 'geography')")
        spatial = {row[0] for row in cur.fetchall()}
    columns = [
        sql.SQL("ST_AsText({}::geometry) AS {}").format(sql.Identifier(n), sql.Identifier(n))
        if oid in spatial else sql.Identifier(n)
        for n, oid in zip(names, oids, strict=True)
    ]
    query = sql.SQL("SELECT {} FROM ({}) AS q").format(sql.SQL(", ").join(columns), inner)
    if src.since is not None:
        if SINCE_COLUMN not in names:
            raise DatabaseError(
                f"{src.label}: --since needs an {SINCE_COLUMN} column; the rows have "
                f"{', '.join(names[:20])}"
            )
        query = sql.SQL("{} WHERE {} > {}").format(
            query, sql.Identifier(SINCE_COLUMN), sql.Literal(src.since)
        )
    return query


def dump_source(src: PgSource, folder: Path) -> Path:
    """Stream the source's rows into ``folder/<table>.csv`` (CSV with a header) and
    return the file; :class:`DatabaseError` naming the problem when PostgreSQL refuses."""
    import psycopg
    from psycopg import sql

    target = Path(folder) / src.file_name
    with connect(src.conninfo, src.label) as conn:
        try:
            query = _select(conn, src)
            copy = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(query)
            with conn.cursor() as cur, target.open("wb") as out, cur.copy(copy) as stream:
                for chunk in _chunks(stream):
                    out.write(chunk)
        except psycopg.Error as exc:
            raise DatabaseError(
                f"{src.label}: {scrub(exc, src.conninfo).strip()}"
            ) from None
    return target


#: The dumps' temporary folders are named so (``/tmp/geo-discovery-pg-…``).
_TMP_PREFIX = "geo-discovery-pg-"


def _chunks(stream: Any) -> Iterator[bytes]:
    for data in stream:
        yield bytes(data)


@contextlib.contextmanager
def materialise(
    sources: Sequence[str | Path | PgSource],
) -> Iterator[tuple[list[Path], dict[str, str]]]:
    """Files to read for ``sources``: paths as they are, PostgreSQL sources (a
    :class:`PgSource` or a ``postgresql://…?table=`` string) dumped into a temporary
    folder that lives as long as the context (made only when there is one: a load of
    files only, even one killed midway, leaves no folder behind). Also returns
    ``{dump path: label}``."""
    with contextlib.ExitStack() as stack:
        tmp: str | None = None
        files: list[Path] = []
        labels: dict[str, str] = {}
        for i, item in enumerate(sources):
            src = parse_pg_url(str(item)) if is_postgres_url(item) else item
            if isinstance(src, PgSource):
                if tmp is None:
                    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=_TMP_PREFIX))
                folder = Path(tmp) / str(i)
                folder.mkdir()
                dump = dump_source(src, folder)
                labels[str(dump)] = src.label
                files.append(dump)
            else:
                files.append(Path(src))
        try:
            yield files, labels
        except GeoDiscoveryError as exc:  # name the source, not its temporary dump
            if exc.args and isinstance(exc.args[0], str) and labels:
                text = exc.args[0]
                for written, label in labels.items():
                    text = text.replace(written, label)
                exc.args = (text, *exc.args[1:])
            raise
