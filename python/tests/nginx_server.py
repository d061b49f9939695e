"""The real nginx with the real module, for the Django tests: a prefix in a
temporary directory, a generated nginx.conf, a free port on 127.0.0.1,
readiness by condition, a graceful stop by PID, and a verdict on the error
log (as the Rust harness in t/src/nginx.rs does).

The binaries are the staged build (``build/sbin/nginx``,
``build/modules/ngx_http_image_filter_rs_module.so``, made by
``tools/stage-build.sh``) unless ``IFRS_NGINX`` / ``IFRS_MODULE`` name others;
relative values are taken from the repository root.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional, TypeVar

REPO = Path(__file__).resolve().parents[2]
START_DEADLINE = 30.0
STOP_DEADLINE = 30.0
PORT_ATTEMPTS = 8
FATAL_LOG_MARKERS = ("[alert]", "[crit]", "exited on signal")

T = TypeVar("T")


def wait_until(what: str, condition: Callable[[], Optional[T]], deadline: float = 20.0) -> T:
    """Polls ``condition`` until it returns something other than None or
    False; fails the test with ``what`` after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    delay = 0.005
    while True:
        value = condition()
        if value is not None and value is not False:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline} s: {what}")
        time.sleep(delay)  # the poll interval of a condition with a deadline
        delay = min(delay * 2, 0.1)


def artefact(var: str, default: str) -> Path:
    value = os.environ.get(var)
    path = Path(value) if value else REPO / default
    if not path.is_absolute():
        path = REPO / path
    if not path.is_file():
        raise RuntimeError(
            f"{path} not found ({'$' + var if value else 'the default'}): run "
            f"tools/stage-build.sh (make build) first, or set ${var}"
        )
    return path.resolve()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, so no
    nginx outlives an aborted run (Linux's PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Nginx:
    """One nginx; ``config(port)`` gives the whole nginx.conf text."""

    def __init__(self, prefix: Path, workers: int = 2) -> None:
        self.prefix = prefix
        self.workers = workers
        self.binary = artefact("IFRS_NGINX", "build/sbin/nginx")
        self.module = artefact("IFRS_MODULE", "build/modules/ngx_http_image_filter_rs_module.so")
        self.port = 0
        self.process: Optional[subprocess.Popen[bytes]] = None
        for sub in ("conf", "logs", "tmp", "cache"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)

    @property
    def error_log(self) -> Path:
        return self.prefix / "logs" / "error.log"

    @property
    def cache_dir(self) -> Path:
        return self.prefix / "cache"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wrap(self, http: str, server: str) -> str:
        """The boilerplate around the generated http and server parts."""
        user = "user root;\n" if os.geteuid() == 0 else ""
        p = self.prefix
        indent = lambda text, n: "".join(" " * n + line + "\n" for line in text.splitlines())  # noqa: E731
        return (
            f"# Written by python/tests/nginx_server.py.\n"
            f"load_module {self.module};\n{user}"
            f"worker_processes {self.workers};\n"
            f"daemon off;\nmaster_process on;\n"
            f"error_log {p}/logs/error.log info;\npid {p}/logs/nginx.pid;\n"
            "events {\n    worker_connections 256;\n}\n"
            "http {\n"
            f"    access_log {p}/logs/access.log;\n"
            f"    client_body_temp_path {p}/tmp/client_body;\n"
            f"    proxy_temp_path {p}/tmp/proxy;\n"
            f"    fastcgi_temp_path {p}/tmp/fastcgi;\n"
            f"    uwsgi_temp_path {p}/tmp/uwsgi;\n"
            f"    scgi_temp_path {p}/tmp/scgi;\n"
            "    default_type application/octet-stream;\n"
            "    types {\n        image/jpeg jpg jpeg;\n        image/png png;\n"
            "        image/webp webp;\n        image/gif gif;\n    }\n"
            + indent(http, 4)
            + "    server {\n"
            f"        listen 127.0.0.1:{self.port};\n"
            "        server_name localhost;\n"
            "        location = /thumbnail-status {\n"
            "            image_filter_rs_status;\n"
            "        }\n"
            + indent(server, 8)
            + "    }\n}\n"
        )

    def start(self, config: Callable[[int], str]) -> None:
        """Starts nginx on a free port, trying another one when a stranger
        took it between the probe and nginx's bind."""
        last = ""
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            conf = self.prefix / "conf" / "nginx.conf"
            conf.write_text(config(self.port))
            for stale in (self.error_log, self.prefix / "logs" / "nginx.pid"):
                stale.unlink(missing_ok=True)
            out = open(self.prefix / "logs" / "stderr.log", "wb")
            self.process = subprocess.Popen(
                [str(self.binary), "-p", str(self.prefix), "-e", str(self.error_log), "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,  # its own group: one signal reaches every worker
                preexec_fn=_die_with_parent,
            )
            out.close()
            verdict = self._wait_ready()
            if verdict == "ready":
                return
            self._stop()
            if verdict != "port taken":
                raise RuntimeError(f"nginx did not start: {verdict}\n{self.log_text()}")
            last = f"port {self.port} was taken"
        raise RuntimeError(f"nginx did not start after {PORT_ATTEMPTS} ports ({last})")

    def _wait_ready(self) -> str:
        assert self.process is not None
        pid_file = self.prefix / "logs" / "nginx.pid"
        bind_failed = f"bind() to 127.0.0.1:{self.port} failed"

        def ready() -> Optional[str]:
            assert self.process is not None
            log = self.log_text()
            if bind_failed in log and "Address already in use" in log:
                return "port taken"
            if self.process.poll() is not None:
                return f"the master exited ({self.process.returncode})"
            try:
                if int(pid_file.read_text().strip()) != self.process.pid:
                    return None
            except (OSError, ValueError):
                return None
            if log.count("start worker process") < self.workers:
                return None
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            except OSError:
                return None
            return "ready"

        try:
            return wait_until("nginx ready", ready, START_DEADLINE)
        except AssertionError as e:
            return str(e)

    def log_text(self) -> str:
        try:
            return self.error_log.read_text(errors="replace")
        except OSError:
            return ""

    def _stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGQUIT)
        try:
            process.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RuntimeError("nginx did not exit within 30 s of SIGQUIT")

    def stop(self) -> None:
        """Stops nginx; fails if its error log shows a crash or an alert."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError("nginx exited on its own before the tests stopped it")
        self._stop()
        bad = [
            line
            for line in self.log_text().splitlines()
            if any(marker in line for marker in FATAL_LOG_MARKERS)
        ]
        if bad:
            raise RuntimeError("nginx's error log has fatal lines:\n" + "\n".join(bad))
