"""Talking to nginx: HEAD to make renditions ahead of visitors, PURGE to
drop them. Failures are returned and logged, never raised into a request."""

from __future__ import annotations

import http.client
import json
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import urlsplit

from .conf import Config, get_config
from .signing import encode_path
from .urls import Target, targets_for

__all__ = ["WarmReport", "purge", "request", "submit", "wait_idle", "warm", "warm_names"]

logger = logging.getLogger("image_filter_rs")

CACHE_HEADER = "X-Image-Filter-Cache"


@dataclass
class Response:
    status: int
    cache: str = ""
    body: bytes = b""
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def request(method: str, url: str, timeout: float) -> Response:
    """One request on its own connection; status 0 and ``error`` when no
    answer came."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return Response(0, error=f"not an http URL: {url}")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.netloc, timeout=timeout)
    else:
        conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(method, target, headers={"User-Agent": "django-image-filter-rs"})
        response = conn.getresponse()
        body = response.read()
        return Response(response.status, response.getheader(CACHE_HEADER) or "", body)
    except (OSError, http.client.HTTPException) as e:
        return Response(0, error=str(e) or type(e).__name__)
    finally:
        conn.close()


@dataclass
class WarmReport:
    made: int = 0
    cached: int = 0
    unknown: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.made + self.cached + self.unknown + len(self.failed)


def _origin(config: Config) -> str:
    if not config.origin:
        raise ValueError("IMAGE_FILTER_RS['ORIGIN'] is not set")
    return config.origin


def warm(
    targets: Iterable[Target],
    config: Optional[Config] = None,
    progress: Optional[Callable[[WarmReport], None]] = None,
    concurrency: Optional[int] = None,
) -> WarmReport:
    """HEAD every target at ``ORIGIN``: nginx makes and stores each cold
    rendition without sending it. Counts what was made, what was cached
    already (from ``X-Image-Filter-Cache``) and what failed."""
    config = config or get_config()
    origin = _origin(config)
    report = WarmReport()
    lock = threading.Lock()

    def one(target: Target) -> None:
        url = origin + target.path_and_query
        response = request("HEAD", url, config.timeout)
        with lock:
            if not response.ok:
                why = str(response.status) if response.status else response.error
                report.failed.append((why, url))
                logger.warning("image_filter_rs: warming %s failed: %s", url, why)
            elif response.cache in ("MISS", "EXPIRED"):
                report.made += 1
            elif response.cache in ("HIT", "UPDATING"):
                report.cached += 1
            else:
                report.unknown += 1
            if progress is not None:
                progress(report)

    workers = max(1, concurrency or config.concurrency)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(one, t) for t in targets]:
            future.result()
    return report


def warm_names(name: str, names: Iterable[str], config: Optional[Config] = None) -> WarmReport:
    """Warms the renditions and sets ``names`` of the original ``name``."""
    config = config or get_config()
    return warm(targets_for(name, names, config), config)


def purge(name: str, config: Optional[Config] = None) -> Optional[int]:
    """PURGE every rendition of the original ``name``: the number nginx
    removed, or ``None`` (logged) when the purge failed."""
    try:
        config = config or get_config()
        if not config.purge_url:
            logger.warning("image_filter_rs: PURGE_URL is not set; %s not purged", name)
            return None
        url = _origin(config) + config.purge_url + encode_path(name.lstrip("/"))
        response = request("PURGE", url, config.timeout)
        if not response.ok:
            why = str(response.status) if response.status else response.error
            logger.error("image_filter_rs: purging %s failed: %s", url, why)
            return None
        purged = json.loads(response.body.decode() or "{}").get("purged")
        return int(purged) if isinstance(purged, int) else 0
    except Exception:  # never into the caller: a purge is best effort
        logger.exception("image_filter_rs: purging %s failed", name)
        return None


_executor: Optional[ThreadPoolExecutor] = None
_pending: set[Future[None]] = set()
_pending_lock = threading.Lock()
_idle = threading.Condition(_pending_lock)


def _guarded(job: Callable[[], object], what: str) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception:
            logger.exception("image_filter_rs: %s failed", what)

    return run


def submit(job: Callable[[], object], what: str, config: Optional[Config] = None) -> None:
    """Runs ``job`` in the background (``BACKGROUND``, the default) or now;
    an exception is logged, never raised."""
    global _executor
    run = _guarded(job, what)
    config = config or get_config()
    if not config.background:
        run()
        return
    with _pending_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="image_filter_rs")
        future = _executor.submit(run)
        _pending.add(future)

    def done(f: Future[None]) -> None:
        with _pending_lock:
            _pending.discard(f)
            _idle.notify_all()

    future.add_done_callback(done)


def wait_idle(timeout: float) -> bool:
    """Waits until no background job is left; False if ``timeout`` passed."""
    with _pending_lock:
        return _idle.wait_for(lambda: not _pending, timeout)
