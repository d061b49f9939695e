"""``manage.py warm_thumbnails [app_label.Model.field ...]``: HEAD every
rendition of every stored original, so no visitor waits for a cold one."""

from __future__ import annotations

import time
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from ...client import WarmReport, warm
from ...conf import get_config
from ...urls import Target, targets_for


class Progress:
    """A one-line bar on a terminal; on anything else, nothing until the end."""

    def __init__(self, out: OutputWrapper, total: int, tty: bool) -> None:
        self.out, self.total, self.tty = out, total, tty
        self.last = 0.0

    def __call__(self, report: WarmReport) -> None:
        now = time.monotonic()
        done = report.total
        if not self.tty or (done < self.total and now - self.last < 0.1):
            return
        self.last = now
        width = 30
        filled = width * done // max(1, self.total)
        self.out.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} renditions"
            + (f", {len(report.failed)} failed" if report.failed else ""),
            ending="\n" if done == self.total else "",
        )
        self.out.flush()


class Command(BaseCommand):
    help = "Makes every rendition of stored images in nginx's cache (HEAD requests)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "fields",
            nargs="*",
            metavar="app_label.Model.field",
            help="fields to warm (default: every field of IMAGE_FILTER_RS['FIELDS'])",
        )
        parser.add_argument("--concurrency", type=int, default=None)
        parser.add_argument(
            "--progress",
            choices=["auto", "always", "never"],
            default="auto",
            help="the progress bar: on a terminal (auto), always or never",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        config = get_config()
        if not config.origin:
            raise CommandError("IMAGE_FILTER_RS['ORIGIN'] is not set")
        labels: list[str] = options["fields"] or list(config.fields)
        if not labels:
            raise CommandError("name fields (app_label.Model.field) or set IMAGE_FILTER_RS['FIELDS']")
        targets: list[Target] = []
        originals = 0
        for label in labels:
            parts = label.split(".")
            if len(parts) != 3:
                raise CommandError(f"{label!r} is not app_label.Model.field")
            try:
                model = apps.get_model(parts[0], parts[1])
                model._meta.get_field(parts[2])
            except (LookupError, FieldDoesNotExist) as e:
                raise CommandError(str(e)) from e
            names = config.names_for_field(label)
            stored = (
                model._default_manager.exclude(**{parts[2]: ""})
                .exclude(**{f"{parts[2]}__isnull": True})
                .values_list(parts[2], flat=True)
                .distinct()
                .order_by(parts[2])
            )
            for name in stored.iterator():
                originals += 1
                targets += targets_for(str(name), names, config)
        mode = options["progress"]
        tty = mode == "always" or (mode == "auto" and self.stderr.isatty())
        progress = Progress(self.stderr, len(targets), tty)
        started = time.monotonic()
        report = warm(targets, config, progress, options["concurrency"])
        for why, url in report.failed:
            self.stderr.write(f"failed: {why} {url}")
        self.stdout.write(
            f"renditions: {report.total} ({originals} originals) in "
            f"{time.monotonic() - started:.1f} s\n"
            f"made: {report.made}\n"
            f"already cached: {report.cached}\n"
            f"ok, cache status unknown: {report.unknown}\n"
            f"failed: {len(report.failed)}"
        )
        if report.failed:
            raise CommandError(f"{len(report.failed)} renditions failed")
