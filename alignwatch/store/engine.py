"""Engines and migrations for the store."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from alignwatch.errors import StoreError

__all__ = ["MIGRATIONS", "connect", "connect_existing", "current_revision", "head_revision", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")


def connect(url: str, *, create_dirs: bool = True, create: bool = True, **engine_options: object) -> Engine:
    """An engine for ``url``; ``postgresql://`` URLs use psycopg 3.

    SQLite gets WAL journaling, a busy timeout and enforced foreign keys; the directory of
    a SQLite file is created when missing. With ``create=False`` a missing SQLite file is
    never created: every connection opens the file read-write only if it exists (SQLite's
    ``mode=rw``), so a service that waits for its store (the exporter) fails its reads until
    the store is created, and leaves nothing behind.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"store URL {url!r} is not a valid SQLAlchemy URL") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        on_disk = bool(parsed.database) and parsed.database != ":memory:"
        if not create and on_disk and not str(parsed.database).startswith("file:"):
            path = Path(str(parsed.database)).absolute()
            parsed = parsed.set(database=f"file:{path}", query={**parsed.query, "mode": "rw", "uri": "true"})
        elif create_dirs and on_disk:
            Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30}, **engine_options)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    engine_options.setdefault("pool_pre_ping", True)
    try:
        return create_engine(parsed, **engine_options)
    except NoSuchModuleError as exc:
        raise StoreError(f"store URL {url!r}: unsupported database {parsed.drivername!r} (use sqlite or postgresql)") from exc


def connect_existing(url: str, **engine_options: object) -> Engine:
    """An engine for a store that must already exist; a missing SQLite file is a StoreError.

    Commands that read or add to a store use it: opening a SQLite file that does not exist
    would create an empty one (and its directory), which then only fails later as an
    unmigrated store, leaving files behind. Only ``alignwatch db upgrade`` and ``alignwatch
    run`` create a store.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"store URL {url!r} is not a valid SQLAlchemy URL") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_file():
            raise StoreError(
                f"store {url} does not exist (no file {path}): create it with "
                f"`alignwatch db upgrade --store {url}`, or run the demo with `make run`"
            )
    return connect(url, create_dirs=False, create=True, **engine_options)


def _alembic_config(engine: Engine):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest migration shipped with this version."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    """The store's migration revision, or None when it was never migrated."""
    from alembic.migration import MigrationContext

    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise StoreError(f"cannot reach the store {engine.url.render_as_string()}: {exc.orig}") from exc


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations up to ``revision``; idempotent. Returns (before, after) revisions."""
    from alembic import command

    before = current_revision(engine)
    command.upgrade(_alembic_config(engine), revision)
    return before, current_revision(engine) or ""


def require_current(engine: Engine) -> None:
    """Raise a clear StoreError when the store is not migrated to this version's head."""
    revision = current_revision(engine)
    if revision != head_revision():
        tables = inspect(engine).get_table_names()
        hint = "run `alignwatch db upgrade --store URL`"
        state = "empty" if not tables else f"at revision {revision}"
        raise StoreError(f"store {engine.url.render_as_string()} is {state}, not {head_revision()}: {hint}")
