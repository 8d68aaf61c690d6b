"""A throwaway PostgreSQL cluster on loopback, for a Prefect server's database.

    python -m infra.postgres start --dir DIR --port PORT   # prints the connection URL to export
    python -m infra.postgres stop --dir DIR

Uses Debian's PostgreSQL binaries (``initdb``, ``pg_ctl``). PostgreSQL refuses to run as root, so
as root the cluster belongs to the ``postgres`` system user.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
from pathlib import Path

DATABASE = "prefect"


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None
    )
    if not found:
        raise FileNotFoundError(
            f"{name} not found: install PostgreSQL (apt-get install postgresql)"
        )
    return found


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def start(folder: Path, port: int) -> str:
    """Create (once) and start the cluster; return the SQLAlchemy URL of its ``prefect`` database."""
    folder = folder.resolve()
    data = folder / "data"
    if os.geteuid() == 0:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, "postgres", "postgres")
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            _as_owner(
                [_binary("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )
    subprocess.run(
        _as_owner(
            [
                _binary("pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "postgres.log"),
                "-w",
                "-o",
                f"-c listen_addresses=127.0.0.1 -p {port} -k {folder}",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    exists = _psql(port, "-tAc", f"select 1 from pg_database where datname = '{DATABASE}'")
    if not exists:
        _psql(port, "-c", f"create database {DATABASE}")
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{DATABASE}"


def _psql(port: int, *args: str) -> str:
    """One psql command as the postgres superuser on the loopback cluster; its output."""
    command = ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def stop(folder: Path) -> None:
    subprocess.run(
        _as_owner([_binary("pg_ctl"), "-D", str(folder.resolve() / "data"), "-m", "fast", "stop"]),
        check=False,
        capture_output=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=55432)
    args = parser.parse_args()
    if args.action == "start":
        print(f"PREFECT_SERVER_DATABASE_CONNECTION_URL={start(args.dir, args.port)}")
    else:
        stop(args.dir)


if __name__ == "__main__":
    main()
