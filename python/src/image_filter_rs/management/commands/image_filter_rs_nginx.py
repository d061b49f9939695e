"""``manage.py image_filter_rs_nginx``: the nginx configuration matching
``IMAGE_FILTER_RS`` (presets, sizes, secret, locations)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ...nginx import nginx_config


class Command(BaseCommand):
    help = "Prints the nginx directives and locations that match IMAGE_FILTER_RS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--cache-path",
            default="/var/cache/nginx/image_filter_rs",
            help="image_filter_rs_cache_path's directory (default: %(default)s)",
        )
        parser.add_argument("--zone", default="thumbs", help="the cache's keys_zone name")
        parser.add_argument(
            "--media-root", default=None, help="the media directory (default: MEDIA_ROOT)"
        )
        parser.add_argument(
            "--allow",
            action="append",
            default=None,
            help="address allowed to purge (repeatable; default 127.0.0.1)",
        )
        parser.add_argument(
            "--part", choices=["all", "http", "server"], default="all", help="what to print"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        media_root = options["media_root"] or str(settings.MEDIA_ROOT)
        conf = nginx_config(
            media_root=media_root,
            media_url=settings.MEDIA_URL,
            cache_path=options["cache_path"],
            zone=options["zone"],
            allow=tuple(options["allow"] or ("127.0.0.1",)),
        )
        part = options["part"]
        if part == "http":
            self.stdout.write(conf.http, ending="")
        elif part == "server":
            self.stdout.write(conf.server, ending="")
        else:
            self.stdout.write(conf.text(), ending="")
