"""A real Django project (the ``gallery`` app, sqlite in a temporary
directory) and the real nginx with the module, whose configuration is what
``manage.py image_filter_rs_nginx`` prints for the project's settings."""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest
from django.conf import settings

from nginx_server import Nginx, free_port

HERE = Path(__file__).resolve().parent

NEW_KEY = "new signing key, 0123456789"
OLD_KEY = "old signing key, 9876543210"

# The seed cases of issue 13: django-imagekit's Thumbnail and Display specs,
# django-versatileimagefield's small/medium/large key set.
RENDITIONS: dict[str, Any] = {
    "thumbnail": {"spec": "100x75 crop contrast=1.2 sharpness=1.1", "widths": [200]},
    "display": "200x400 crop saturation=0",
}
RENDITION_SETS = {
    "image": {"small": "crop__180x180", "medium": "crop__220x220", "large": "crop__320x320"},
}

_tmp = Path(tempfile.mkdtemp(prefix="ifrs-django-"))


def pytest_configure(config: pytest.Config) -> None:
    # Workers of a root master run as root (`user root;`), so they can read
    # the media written by the tests, whatever the temporary directory's mode.
    media = _tmp / "media"
    media.mkdir()
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests only",
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=["image_filter_rs", "easy_thumbnails", "versatileimagefield", "gallery"],
        # The libraries only name their renditions; nginx makes them.
        VERSATILEIMAGEFIELD_SETTINGS={"create_images_on_demand": False},
        THUMBNAIL_ALIASES={"": {"avatar": {"size": (100, 100), "crop": True}}},
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(_tmp / "db.sqlite3")}},
        MEDIA_ROOT=str(media),
        MEDIA_URL="/media/",
        USE_TZ=True,
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [str(HERE / "templates")],
                "APP_DIRS": True,
            }
        ],
        LOGGING_CONFIG=None,
        IMAGE_FILTER_RS={
            "URL": "/t/",
            "SECRETS": [NEW_KEY, OLD_KEY],
            # The port is chosen now and corrected if nginx has to take another.
            "ORIGIN": f"http://127.0.0.1:{free_port()}",
            "PURGE_URL": "/purge/",
            "RENDITIONS": RENDITIONS,
            "RENDITION_SETS": RENDITION_SETS,
            "SIZES": ["350x350"],
            "FIELDS": {"gallery.Photo.image": ["thumbnail", "display", "image"]},
            "WARM_ON_SAVE": True,
            "TIMEOUT": 30,
        },
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


@pytest.fixture(scope="session")
def nginx(media_root: Path) -> Iterator[Nginx]:
    """nginx serving the project's settings, as image_filter_rs_nginx prints them."""
    from django.core.management import call_command

    from image_filter_rs.conf import reset_config

    server = Nginx(_tmp / "nginx")

    def part(name: str) -> str:
        out = io.StringIO()
        call_command(
            "image_filter_rs_nginx",
            part=name,
            cache_path=str(server.cache_dir),
            zone="thumbs",
            stdout=out,
        )
        return out.getvalue()

    http, locations = part("http"), part("server")

    def config(port: int) -> str:
        settings.IMAGE_FILTER_RS["ORIGIN"] = f"http://127.0.0.1:{port}"
        reset_config()
        return server.wrap(http, locations)

    server.start(config)
    try:
        yield server
    finally:
        from image_filter_rs.client import wait_idle

        wait_idle(30)
        server.stop()
