"""The ``IMAGE_FILTER_RS`` settings dict, read and checked once.

::

    IMAGE_FILTER_RS = {
        "URL": "/t/",                       # a `image_filter_rs query;` location
        "SECRETS": ["new key 16+ chars", "old key"],   # or "SECRET": "..."
        "ORIGIN": "http://127.0.0.1:8080",  # where this process reaches nginx
        "PURGE_URL": "/purge/",             # an `image_filter_rs_purge;` location
        "RENDITIONS": {                     # = image_filter_rs_preset lines
            "thumbnail": {"spec": "100x75 crop contrast=1.2 sharpness=1.1",
                          "widths": [100, 200]},
            "display": "200x400 crop saturation=0",
        },
        "RENDITION_SETS": {                 # versatileimagefield-like key sets
            "image": {"small": "crop__180x180", "medium": "220x220 crop",
                      "large": "thumbnail"},
        },
        "FIELDS": {"gallery.Photo.image": ["thumbnail", "display", "image"]},
        "WARM_ON_SAVE": True,
    }
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

__all__ = ["Config", "Rendition", "Spec", "get_config", "reset_config"]

Size = tuple[Optional[int], Optional[int]]

FITS = ("fit", "crop", "fill", "pad", "force")
GRAVITIES = ("center", "n", "ne", "e", "se", "s", "sw", "w", "nw", "smart")
FORMATS = ("jpeg", "png", "webp", "gif", "avif", "original", "auto")
MAX_SIDE = 65535

# Keys of `image_filter_rs_preset` and, for those a query can also say, the
# query parameter that says it.
PRESET_KEYS: dict[str, Optional[str]] = {
    "quality": "q",
    "format": "fm",
    "gravity": "g",
    "rotate": "r",
    "flip": "flip",
    "sharpen": "sharpen",
    "blur": "blur",
    "contrast": None,
    "brightness": None,
    "saturation": None,
    "sharpness": None,
    "grayscale": None,
}

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_DECIMAL = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]+)?$")
_VERSATILE = re.compile(r"^(crop|thumbnail)__([0-9]+)x([0-9]+)$")


def _side(text: str, spec: str) -> Optional[int]:
    if text == "-":
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_SIDE:
        raise ImproperlyConfigured(f"IMAGE_FILTER_RS: bad size in {spec!r}")
    return int(text)


def _check_value(key: str, value: str, spec: str) -> None:
    ok: bool
    if key == "grayscale":
        ok = value == ""
    elif key == "quality":
        ok = value.isdigit() and not value.startswith("0") and 1 <= int(value) <= 100
    elif key == "format":
        ok = value in FORMATS
    elif key == "gravity":
        ok = value in GRAVITIES
    elif key == "rotate":
        ok = value in ("90", "180", "270")
    elif key == "flip":
        ok = value in ("h", "v")
    elif key == "sharpen":
        ok = value.isdigit() and int(value) <= 1000 and (value == "0" or value[0] != "0")
    elif key == "blur":
        ok = bool(_DECIMAL.match(value)) and len(value.partition(".")[2]) <= 1
        ok = ok and 0.3 <= float(value) <= 100
    else:  # contrast, brightness, saturation, sharpness: factors
        ok = bool(_DECIMAL.match(value)) and len(value.partition(".")[2]) <= 3
    if not ok:
        raise ImproperlyConfigured(f"IMAGE_FILTER_RS: bad value for {key!r} in {spec!r}")


@dataclass(frozen=True)
class Spec:
    """A size, a fit and options, in `image_filter_rs_preset`'s grammar:
    ``"100x75 crop contrast=1.2 sharpness=1.1"``. django-versatileimagefield's
    ``"crop__180x180"`` and ``"thumbnail__180x180"`` are read too."""

    width: Optional[int]
    height: Optional[int]
    fit: str = "fit"
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Spec:
        versatile = _VERSATILE.match(text.strip())
        if versatile:
            fit = "crop" if versatile.group(1) == "crop" else "fit"
            text = f"{versatile.group(2)}x{versatile.group(3)} {fit}"
        words = text.split()
        if not words or "x" not in words[0]:
            raise ImproperlyConfigured(f"IMAGE_FILTER_RS: {text!r} does not start with WxH")
        w_text, _, h_text = words[0].partition("x")
        width, height = _side(w_text, text), _side(h_text, text)
        if width is None and height is None:
            raise ImproperlyConfigured(f"IMAGE_FILTER_RS: {text!r} has no size")
        rest = words[1:]
        fit = "fit"
        if rest and rest[0] in FITS:
            fit, rest = rest[0], rest[1:]
        options: list[tuple[str, str]] = []
        for word in rest:
            key, _, value = word.partition("=")
            if key not in PRESET_KEYS or any(k == key for k, _ in options):
                raise ImproperlyConfigured(f"IMAGE_FILTER_RS: bad option {word!r} in {text!r}")
            _check_value(key, value, text)
            options.append((key, value))
        return cls(width, height, fit, tuple(options))

    @property
    def size(self) -> Size:
        return (self.width, self.height)

    def size_text(self, size: Optional[Size] = None) -> str:
        w, h = size or self.size
        return f"{'-' if w is None else w}x{'-' if h is None else h}"

    def text(self) -> str:
        """The spec as an `image_filter_rs_preset` line's arguments."""
        words = [self.size_text(), self.fit]
        words += [key if key == "grayscale" else f"{key}={value}" for key, value in self.options]
        return " ".join(words)

    def query_params(self) -> list[tuple[str, str]]:
        """The spec as query parameters, for a spec without a preset. Options
        that only presets know (contrast…) are a configuration error."""
        params: list[tuple[str, str]] = []
        if self.width is not None:
            params.append(("w", str(self.width)))
        if self.height is not None:
            params.append(("h", str(self.height)))
        if self.fit != "fit":
            params.append(("fit", self.fit))
        for key, value in self.options:
            name = PRESET_KEYS[key]
            if name is None or (key == "format" and value == "original"):
                raise ImproperlyConfigured(
                    f"IMAGE_FILTER_RS: {key!r} needs a named rendition (an nginx preset): "
                    f"{self.text()!r}"
                )
            params.append((name, value))
        return params


@dataclass(frozen=True)
class Rendition:
    """A named rendition: an nginx preset of the same name, and the widths a
    ``srcset`` offers (heights keep the preset's aspect ratio)."""

    name: str
    spec: Spec
    widths: tuple[int, ...]

    def sizes(self) -> list[tuple[int, Size]]:
        """(width, size) for every srcset width, the preset's own first."""
        out: list[tuple[int, Size]] = []
        for width in self.widths:
            out.append((width, self.size_for(width)))
        return out

    def size_for(self, width: int) -> Size:
        w, h = self.spec.size
        if w is None:
            raise ImproperlyConfigured(
                f"IMAGE_FILTER_RS: rendition {self.name!r} has a free width, so no srcset widths"
            )
        if width == w:
            return (w, h)
        return (width, None if h is None else max(1, round(h * width / w)))


@dataclass(frozen=True)
class Member:
    """One key of a rendition set: a named rendition, or an inline spec."""

    rendition: Optional[str] = None
    spec: Optional[Spec] = None


@dataclass(frozen=True)
class Config:
    url: str
    secrets: tuple[str, ...]
    origin: Optional[str]
    purge_url: Optional[str]
    renditions: Mapping[str, Rendition]
    sets: Mapping[str, Mapping[str, Member]]
    fields: Mapping[str, tuple[str, ...]]
    sizes: tuple[Size, ...] = ()
    warm_on_save: bool = True
    background: bool = True
    timeout: float = 60.0
    concurrency: int = 4
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def url_path(self) -> str:
        """The path part of ``URL`` (what nginx's location matches)."""
        return urlsplit(self.url).path

    def names_for_field(self, label: str) -> tuple[str, ...]:
        """Renditions and sets of ``app_label.Model.field``: those ``FIELDS``
        lists, else every rendition and set."""
        if label in self.fields:
            return self.fields[label]
        return tuple(self.renditions) + tuple(self.sets)

    def allowed_sizes(self) -> list[Size]:
        """Every size a URL of these settings asks for, in order, once each:
        the `image_filter_rs_sizes` line."""
        sizes: list[Size] = []

        def add(size: Size) -> None:
            if size not in sizes:
                sizes.append(size)

        for rendition in self.renditions.values():
            for _, size in rendition.sizes():
                add(size)
        for members in self.sets.values():
            for member in members.values():
                if member.spec is not None:
                    add(member.spec.size)
        for size in self.sizes:
            add(size)
        return sizes


def _str(raw: Mapping[str, Any], key: str, default: Optional[str] = None) -> Optional[str]:
    value = raw.get(key, default)
    if value is not None and not isinstance(value, str):
        raise ImproperlyConfigured(f"IMAGE_FILTER_RS[{key!r}] must be a string")
    return value


def _prefix(value: str, key: str) -> str:
    if not value.endswith("/"):
        raise ImproperlyConfigured(f"IMAGE_FILTER_RS[{key!r}] must end with '/': {value!r}")
    return value


def _rendition(name: str, raw: Union[str, Mapping[str, Any]]) -> Rendition:
    if not _NAME.match(name) or name in ("off", "query", "size", "test"):
        raise ImproperlyConfigured(f"IMAGE_FILTER_RS: {name!r} cannot name an nginx preset")
    if isinstance(raw, str):
        spec, widths_raw = Spec.parse(raw), None
    else:
        spec = Spec.parse(str(raw["spec"]))
        widths_raw = raw.get("widths")
    widths: list[int] = []
    if spec.width is not None:
        widths.append(spec.width)
    for width in widths_raw or ():
        if not isinstance(width, int) or not 1 <= width <= MAX_SIDE:
            raise ImproperlyConfigured(f"IMAGE_FILTER_RS: bad width {width!r} of {name!r}")
        if width not in widths:
            widths.append(width)
    if widths_raw and spec.width is None:
        raise ImproperlyConfigured(f"IMAGE_FILTER_RS: {name!r} has a free width, so no widths")
    return Rendition(name, spec, tuple(sorted(widths)))


def _load(raw: Mapping[str, Any]) -> Config:
    url = _prefix(_str(raw, "URL") or "", "URL")
    secrets: list[str] = []
    if raw.get("SECRET"):
        secrets.append(str(raw["SECRET"]))
    for secret in raw.get("SECRETS") or ():
        if secret not in secrets:
            secrets.append(str(secret))
    for secret in secrets:
        if len(secret) < 16:
            raise ImproperlyConfigured("IMAGE_FILTER_RS: keys must be at least 16 characters")
        if "\n" in secret or "\r" in secret:
            raise ImproperlyConfigured("IMAGE_FILTER_RS: keys cannot hold line breaks")
    origin = _str(raw, "ORIGIN")
    purge_url = _str(raw, "PURGE_URL")
    if purge_url is not None:
        _prefix(purge_url, "PURGE_URL")
    renditions = {
        name: _rendition(name, spec) for name, spec in (raw.get("RENDITIONS") or {}).items()
    }
    sets: dict[str, dict[str, Member]] = {}
    for set_name, members in (raw.get("RENDITION_SETS") or {}).items():
        if set_name in renditions:
            raise ImproperlyConfigured(f"IMAGE_FILTER_RS: {set_name!r} is a rendition and a set")
        sets[set_name] = {
            key: Member(rendition=value) if value in renditions else Member(spec=Spec.parse(value))
            for key, value in members.items()
        }
        for member in sets[set_name].values():
            if member.spec is not None:
                member.spec.query_params()  # refuses preset-only options now
    fields: dict[str, tuple[str, ...]] = {}
    for label, names in (raw.get("FIELDS") or {}).items():
        if len(label.split(".")) != 3:
            raise ImproperlyConfigured(
                f"IMAGE_FILTER_RS['FIELDS']: {label!r} is not app_label.Model.field"
            )
        for name in names:
            if name not in renditions and name not in sets:
                raise ImproperlyConfigured(
                    f"IMAGE_FILTER_RS['FIELDS'][{label!r}]: no rendition or set {name!r}"
                )
        fields[label] = tuple(names)
    sizes = tuple(Spec.parse(text).size for text in raw.get("SIZES") or ())
    return Config(
        url=url,
        secrets=tuple(secrets),
        origin=origin.rstrip("/") if origin else None,
        purge_url=purge_url,
        renditions=renditions,
        sets=sets,
        fields=fields,
        sizes=sizes,
        warm_on_save=bool(raw.get("WARM_ON_SAVE", True)),
        background=bool(raw.get("BACKGROUND", True)),
        timeout=float(raw.get("TIMEOUT", 60.0)),
        concurrency=int(raw.get("CONCURRENCY", 4)),
        raw=raw,
    )


_lock = threading.Lock()
_cached: Optional[Config] = None


def get_config() -> Config:
    """The checked settings (cached; `override_settings` and `reset_config`
    clear the cache)."""
    global _cached
    with _lock:
        if _cached is None:
            raw = getattr(settings, "IMAGE_FILTER_RS", None)
            if not isinstance(raw, Mapping):
                raise ImproperlyConfigured("settings.IMAGE_FILTER_RS must be a dict")
            _cached = _load(raw)
        return _cached


def reset_config(**_: Any) -> None:
    """Forgets the cached settings (after changing ``IMAGE_FILTER_RS`` in place)."""
    global _cached
    with _lock:
        _cached = None


def _on_setting_changed(setting: str, **kwargs: Any) -> None:
    if setting == "IMAGE_FILTER_RS":
        reset_config()


setting_changed.connect(_on_setting_changed)
