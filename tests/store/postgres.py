"""A throwaway PostgreSQL cluster for the store tests (Debian's ``postgresql``: initdb + pg_ctl).

The cluster lives in a temporary folder, listens on 127.0.0.1 only (a free port) and on a
unix socket in that folder, trusts local connections, and is stopped and removed at the end.
PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user
(created by the Debian package) or ``nobody``.
"""
from __future__ import annotations

import glob
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

INSTALL_HINT = ("PostgreSQL's initdb/pg_ctl were not found under /usr/lib/postgresql/*/bin: "
                "`make test` installs them (or `apt-get install -y postgresql`)")


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl, or None."""
    dirs = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")
            if os.access(Path(p).parent / "pg_ctl", os.X_OK)]

    def version(d: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", d.parent.name)) or (0,)

    return max(dirs, key=version) if dirs else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    USER = "lakeloom"

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="lakeloom-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self._prefix: list[str] = []
        self._dbs = itertools.count(1)
        self.started = False
        if os.geteuid() == 0:
            owner = _unprivileged_user()
            self._prefix = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--clear-groups", "--"]
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        os.chmod(self.root, 0o700)

    def _run(self, *args: str) -> None:
        proc = subprocess.run([*self._prefix, *args], cwd=self.root, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{log}")

    def start(self) -> "PostgresCluster":
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.USER, "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        self._run("mkdir", str(self.sockets))
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", opts, "start")
        self.started = True
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"lakeloom_test_{next(self._dbs)}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.USER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            if self.started:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            self.started = False
            shutil.rmtree(self.root, ignore_errors=True)


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")
