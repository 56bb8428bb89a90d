"""PostgreSQL as a source: a table or a query, streamed into the same validation as files.

``geo-discovery load postgresql://USER@HOST/DB?table=merchants`` (or the same URL with
``--sql "SELECT …"``) runs ``COPY (SELECT …) TO STDOUT (FORMAT csv, HEADER)`` and streams
the rows into a CSV file in a temporary folder, which the load then reads like any other
file: the same profiles, the same validation, the same rejects (lines are the dump's).
PostGIS ``geometry``/``geography`` columns arrive as WKT in WGS84 (transformed from the
row's SRID; SRID 0 is unknown and left as it is), ``point`` columns (x, y: lng, lat) as WKT
too, which the generic profile reads as points; arrays arrive as list cells (``[a, b]``).
The session dumps dates and times with ``DateStyle ISO, YMD`` and ``TimeZone UTC``,
whatever the database's defaults. ``since`` keeps the rows whose ``updated_at`` is later
than that instant (UTC when naive; incremental upserts). A dump's temporary folder is
``geo-discovery-pg-<pid>-…``; the next dump removes those of processes that are gone.

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
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit, urlunsplit

from ..errors import DatabaseError, GeoDiscoveryError

__all__ = [
    "SESSION_SETTINGS",
    "SINCE_COLUMN",
    "PgSource",
    "connect",
    "dump_source",
    "is_postgres_url",
    "masked_text",
    "masked_url",
    "materialise",
    "parse_pg_url",
    "remove_orphan_dumps",
    "scrub",
    "since_instant",
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
    """``url`` with its password (if any) replaced by ``***``: the one of the user info
    and the value of any ``password`` query parameter (``sslpassword`` too).

    Examples
    --------
    >>> masked_url("postgresql://u:pw@h:5432/db?sslmode=require")
    'postgresql://u:***@h:5432/db?sslmode=require'
    >>> masked_url("postgresql://u@h/db")
    'postgresql://u@h/db'
    >>> masked_url("postgresql://u:pw@[::1/x?table=t")  # not a URL urlsplit reads
    'postgresql://u:***@[::1/x?table=t'
    >>> masked_url("postgresql:///db?table=t&password=pw")
    'postgresql:///db?table=t&password=***'
    """
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            host = parts.netloc.rsplit("@", 1)[1]
            user = parts.username or ""
            url = urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return masked_text(url)
    head, mark, query = url.partition("?")
    return head + mark + _masked_query(query) if mark else url


def _is_password_key(key: str) -> bool:
    return unquote_plus(key).strip().lower().endswith("password")


def _masked_query(query: str) -> str:
    """A URL's query with the value of each ``password`` parameter as ``***``."""
    fragment = ""
    if "#" in query:
        query, fragment = query.split("#", 1)
        fragment = "#" + fragment
    out = []
    for part in query.split("&"):
        key, eq, _value = part.partition("=")
        out.append(f"{key}=***" if eq and _is_password_key(key) else part)
    return "&".join(out) + fragment


def _query_passwords(url: str) -> list[str]:
    """The values of the ``password`` query parameters of ``url`` (as given and decoded)."""
    query = url.partition("?")[2].split("#", 1)[0]
    found = []
    for part in query.split("&"):
        key, eq, value = part.partition("=")
        if eq and value and _is_password_key(key):
            found += [value, unquote_plus(value)]
    return found


_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s]*@", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"([?&](?:[a-z_]*)password=)[^&#\s]*", re.IGNORECASE)


def masked_text(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` with the password as ``***`` (a
    command line in a crash log, a URL too malformed to parse).

    >>> masked_text("load postgresql://u:s3cr3t@h/db?table=t --data-dir d")
    'load postgresql://u:***@h/db?table=t --data-dir d'
    >>> masked_text("load postgresql://h/db?password=s3cr3t&table=t")
    'load postgresql://h/db?password=***&table=t'
    """
    return _QUERY_PASSWORD.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


def scrub(message: object, url: str) -> str:
    """``message`` without the password of ``url`` (libpq messages may echo parts of a
    connection string)."""
    text = masked_text(str(message))
    try:
        password = urlsplit(url).password
    except ValueError:  # no URL urlsplit reads: its userinfo by hand
        found = _USERINFO.search(url)
        password = url[found.end(1) : found.end() - 1] if found else None
    for secret in sorted({password or "", *_query_passwords(url)}, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return re.sub(r"(password\s*=\s*)[^\s&]+", r"\1***", text, flags=re.IGNORECASE)


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


def parse_pg_url(
    url: str, *, sql: str | None = None, since: datetime | str | None = None
) -> PgSource:
    """A :class:`PgSource` from ``postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DB?table=T``
    (``T`` may be ``schema.table``) or from the URL and ``sql``; exactly one of the two.
    ``postgresql:///DB`` takes the host from ``PGHOST`` (or the Unix socket), as libpq does.
    ``since`` (a datetime or ISO 8601 text) is an instant: UTC when it has no offset.

    >>> parse_pg_url("postgresql:///shops?table=t&sslmode=disable").conninfo
    'postgresql:///shops?sslmode=disable'
    >>> parse_pg_url("postgresql://h/db?table=t", since="2026-01-01T05:00:00+05:00").since
    datetime.datetime(2026, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if not is_postgres_url(url):
        raise DatabaseError(f"{url[:40]!r} is not a PostgreSQL URL; expected postgresql://…")
    parts = split_pg_url(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    tables = [v for k, v in params if k == "table"]
    # the URL as given, less its table parameters (urlunsplit would turn an empty host,
    # postgresql:///db, into postgresql:/db, and re-encoding would change the values)
    head = url.strip().split("#", 1)[0].partition("?")[0]
    rest = [p for p in parts.query.split("&")
            if p and unquote_plus(p.partition("=")[0]) != "table"]
    conninfo = head + ("?" + "&".join(rest) if rest else "")
    label = masked_url(url.strip())
    cut = since_instant(since, label) if since is not None else None
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
    return PgSource(conninfo, label, table, statement_body(sql) if sql else None, cut)


def since_instant(value: datetime | str, label: str = "--since") -> datetime:
    """``value`` (a datetime or ISO 8601 text, with or without an offset) as an aware
    datetime in UTC: naive means UTC, as ``--until`` reads it; :class:`DatabaseError`
    naming the value otherwise.

    >>> since_instant("2026-01-01T02:00:00").isoformat()
    '2026-01-01T02:00:00+00:00'
    >>> since_instant("2026-01-01T00:00:00-05:00").isoformat()
    '2026-01-01T05:00:00+00:00'
    """
    from ..timeofweek import instant

    parsed = instant(value, "--since")
    if isinstance(parsed, str):
        raise DatabaseError(f"{label}: {parsed}")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


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


#: The dump session's settings: dates and times read the same whatever the database's
#: DateStyle and TimeZone (``timestamptz`` in UTC, naive ``--since`` and timestamps too).
SESSION_SETTINGS = (("DateStyle", "ISO, YMD"), ("TimeZone", "UTC"))
#: PostgreSQL's ``point`` type (``(x,y)``: lng, lat).
_POINT_OID = 600


def _column_sql(name: str, kind: str) -> Any:
    """The dump's expression of one column: spatial columns as WKT ``POINT(lng lat)`` in
    WGS84 (PostGIS transforms from the row's SRID; SRID 0 is unknown and stays as it is),
    ``point`` as WKT too, arrays in the list form of a CSV cell (``[a, b]``)."""
    from psycopg import sql

    col = sql.Identifier(name)
    if kind == "spatial":
        geom = sql.SQL("{}::geometry").format(col)
        # a point outside its CRS's domain (POINT(1e12 1e12) in feet) transforms to the
        # pole: one that does not come back (to 0.01 of its unit) stays as it is, and is
        # rejected as out of range, as before
        wgs84 = sql.SQL("CASE WHEN ST_SRID({g}) IN (0, 4326) THEN {g} WHEN ST_DWithin("
                        "ST_Transform(ST_Transform({g}, 4326), ST_SRID({g})), {g}, 0.01) "
                        "THEN ST_Transform({g}, 4326) ELSE {g} END").format(g=geom)
        # a MULTIPOINT of one point is that point (as a GeoJSON file's is)
        expr = sql.SQL("ST_AsText(CASE WHEN GeometryType({g}) = 'MULTIPOINT' AND "
                       "ST_NumGeometries({g}) = 1 THEN ST_GeometryN({w}, 1) ELSE {w} END)"
                       ).format(g=geom, w=wgs84)
    elif kind == "point":
        expr = sql.SQL("'POINT(' || ({c})[0] || ' ' || ({c})[1] || ')'").format(c=col)
    elif kind == "array":
        expr = sql.SQL("NULLIF('[' || array_to_string({c}, ', ') || ']', '[]')").format(
            c=col)  # (NULL elements are no items: array_to_string leaves them out)
    else:
        return col
    return sql.SQL("{} AS {}").format(expr, col)


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
        cur.execute("SELECT oid, CASE WHEN typname IN ('geometry', 'geography') THEN 'spatial'"
                    " WHEN oid = %s THEN 'point' WHEN typcategory = 'A' THEN 'array' END "
                    "FROM pg_type WHERE oid = ANY(%s)", (_POINT_OID, oids))
        kinds = {oid: kind for oid, kind in cur.fetchall() if kind}
    columns = [_column_sql(n, kinds.get(oid, "")) for n, oid in zip(names, oids, strict=True)]
    query = sql.SQL("SELECT {} FROM ({}) AS q").format(sql.SQL(", ").join(columns), inner)
    if src.since is not None:
        if SINCE_COLUMN not in names:
            raise DatabaseError(
                f"{src.label}: --since needs an {SINCE_COLUMN} column; the rows have "
                f"{', '.join(names[:20])}"
            )
        # an instant: a timestamp column is read in the session's time zone, UTC
        query = sql.SQL("{} WHERE {} > {}::timestamptz").format(
            query, sql.Identifier(SINCE_COLUMN), sql.Literal(since_instant(src.since))
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
            with conn.cursor() as cur:
                for name, value in SESSION_SETTINGS:
                    cur.execute(sql.SQL("SET {} TO {}").format(sql.Identifier(name),
                                                               sql.Literal(value)))
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


#: The dumps' temporary folders are named so (``/tmp/geo-discovery-pg-<pid>-…``).
_TMP_PREFIX = "geo-discovery-pg-"
_TMP_NAME = re.compile(rf"^{_TMP_PREFIX}([0-9]+)-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):  # another user's, or not ours to ask
        return True
    return True


def remove_orphan_dumps(root: str | Path | None = None) -> list[Path]:
    """Remove the dump folders (``geo-discovery-pg-<pid>-…`` in ``root``, the temporary
    directory by default) of this user whose process is gone (a load killed with
    ``kill -9`` cannot remove its own); return them. Another process's live dump stays."""
    base = Path(root if root is not None else tempfile.gettempdir())
    removed: list[Path] = []
    uid = os.getuid() if hasattr(os, "getuid") else None
    try:
        entries = list(base.iterdir())
    except OSError:
        return removed
    for entry in entries:
        found = _TMP_NAME.match(entry.name)
        if not found:
            continue
        try:
            info = entry.lstat()
        except OSError:
            continue
        pid = int(found.group(1))
        if (not entry.is_dir() or entry.is_symlink() or (uid is not None and info.st_uid != uid)
                or pid == os.getpid() or _alive(pid)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


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
                    remove_orphan_dumps()
                    tmp = stack.enter_context(tempfile.TemporaryDirectory(
                        prefix=f"{_TMP_PREFIX}{os.getpid()}-"))
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
