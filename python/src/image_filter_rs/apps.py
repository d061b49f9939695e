"""The Django app: add ``"image_filter_rs"`` to ``INSTALLED_APPS``."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class ImageFilterRsConfig(AppConfig):
    name = "image_filter_rs"
    verbose_name = "image_filter_rs thumbnails"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        if getattr(settings, "IMAGE_FILTER_RS", None) is None:
            return
        from .signals import connect

        connect()
