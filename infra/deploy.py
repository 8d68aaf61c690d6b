"""Register nianbao's deployments on a Prefect server, for the workers of the ``nianbao`` pool.

    export PREFECT_API_URL=http://prefect-host:4200/api
    uv run python -m infra.deploy

Creates the process work pool ``nianbao`` when the server has none (``prefect deploy`` refuses
a pool that does not exist), then runs ``prefect deploy --all --prefect-file infra/prefect.yaml``
from the repository root, where the deployments' entrypoints are. Running it again updates the
deployments and leaves the pool as it is. Exit code 2 without a server, else Prefect's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def prefect(*arguments: str) -> subprocess.CompletedProcess:
    """The Prefect CLI of this environment, run from the repository root."""
    return subprocess.run([sys.executable, "-m", "prefect", *arguments], cwd=ROOT, check=False)


def main() -> int:
    from prefect.settings import PREFECT_API_URL

    from flows.deployments import PREFECT_YAML, WORK_POOL

    if not PREFECT_API_URL.value():
        print(
            "error: PREFECT_API_URL is not set: deployments need a long-lived Prefect server "
            "(infra/prefect-server.sh starts one)",
            file=sys.stderr,
        )
        return 2
    pool = subprocess.run(
        [sys.executable, "-m", "prefect", "work-pool", "inspect", WORK_POOL],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if pool.returncode != 0:
        created = prefect("work-pool", "create", WORK_POOL, "--type", "process")
        if created.returncode != 0:
            return created.returncode
    return prefect("deploy", "--all", "--prefect-file", str(PREFECT_YAML)).returncode


if __name__ == "__main__":
    sys.exit(main())
