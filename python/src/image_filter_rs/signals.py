"""post_save warming, and purging of replaced and deleted files.

Connected by :class:`image_filter_rs.apps.ImageFilterRsConfig` for every
``app_label.Model.field`` of ``IMAGE_FILTER_RS["FIELDS"]``. Every handler
runs after the transaction commits, in the background, and logs its
failures: a save or a delete never fails because nginx did.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import Model
from django.db.models.signals import post_delete, post_save, pre_save

from .client import purge, submit, warm_names
from .conf import Config, get_config
from .urls import storage_name

__all__ = ["connect"]

logger = logging.getLogger("image_filter_rs")

_OLD = "_image_filter_rs_old_names"


def _later(job: Callable[[], object], what: str, config: Config) -> None:
    transaction.on_commit(lambda: submit(job, what, config))


def _purge_job(name: str, config: Config) -> Callable[[], object]:
    return lambda: purge(name, config)


def _warm_job(name: str, names: tuple[str, ...], config: Config) -> Callable[[], object]:
    return lambda: warm_names(name, names, config)


def _fields_of(sender: type[Model]) -> list[tuple[str, tuple[str, ...]]]:
    config = get_config()
    label = f"{sender._meta.app_label}.{sender.__name__}."
    return [
        (key[len(label) :], names)
        for key, names in config.fields.items()
        if key.lower().startswith(label.lower())
    ]


def _before_save(sender: type[Model], instance: Model, raw: bool = False, **_: Any) -> None:
    if raw or instance.pk is None or instance._state.adding:
        return
    try:
        fields = [name for name, _ in _fields_of(sender)]
        row = sender._default_manager.filter(pk=instance.pk).values(*fields).first()
        if row is not None:
            setattr(instance, _OLD, {f: row[f] or "" for f in fields})
    except Exception:
        logger.exception("image_filter_rs: reading the previous file of %r failed", instance)


def _after_save(sender: type[Model], instance: Model, raw: bool = False, **_: Any) -> None:
    if raw:
        return
    try:
        config = get_config()
        old_names: dict[str, str] = instance.__dict__.pop(_OLD, {})
        for field_name, names in _fields_of(sender):
            new = storage_name(getattr(instance, field_name))
            old = old_names.get(field_name, "")
            if old and old != new:
                _later(_purge_job(old, config), f"purging {old}", config)
            if new and config.warm_on_save and config.origin:
                _later(_warm_job(new, names, config), f"warming {new}", config)
    except Exception:
        logger.exception("image_filter_rs: after saving %r", instance)


def _after_delete(sender: type[Model], instance: Model, **_: Any) -> None:
    try:
        config = get_config()
        for field_name, _names in _fields_of(sender):
            name = storage_name(getattr(instance, field_name))
            if name:
                _later(_purge_job(name, config), f"purging {name}", config)
    except Exception:
        logger.exception("image_filter_rs: after deleting %r", instance)


def connect() -> None:
    """Connects the handlers to every model named in ``FIELDS``."""
    config = get_config()
    for label in config.fields:
        app_label, model_name, field_name = label.split(".")
        model = apps.get_model(app_label, model_name)
        model._meta.get_field(field_name)  # a typo fails at start, not on save
        uid = f"image_filter_rs:{app_label}.{model_name}"
        pre_save.connect(_before_save, sender=model, dispatch_uid=uid, weak=False)
        post_save.connect(_after_save, sender=model, dispatch_uid=uid, weak=False)
        post_delete.connect(_after_delete, sender=model, dispatch_uid=uid, weak=False)
