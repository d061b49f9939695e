"""Thumbnail URLs: ``URL`` + the storage name + the query, signed when a
secret is set.

A rendition's URL names its preset (``?p=thumbnail``), and a srcset width
other than the preset's own adds ``w``/``h``; an ad hoc size is ``w``, ``h``
and ``fit``. The query is spelled one way (sorted, see
:func:`image_filter_rs.signing.canonical_query`), so a page, the warmer and
the purge all name the same cache entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Optional, Union

from django.core.exceptions import ImproperlyConfigured
from django.db.models.fields.files import FieldFile

from .conf import FITS, PRESET_KEYS, Config, Member, Rendition, Spec, get_config
from .signing import canonical_query, encode_path, signed_query

__all__ = [
    "Target",
    "rendition_set",
    "srcset",
    "targets_for",
    "thumbnail_url",
]

FileLike = Union[FieldFile, str, None]


@dataclass(frozen=True)
class Target:
    """One rendition of one original: the path and signed query nginx is
    asked for (``path`` is ``URL``'s path part plus the encoded name)."""

    url: str
    path: str
    query: str

    @property
    def path_and_query(self) -> str:
        return f"{self.path}?{self.query}"


def storage_name(file: FileLike) -> str:
    """The storage name of a FieldFile (or the string itself); ``""`` when
    the field is empty."""
    if file is None:
        return ""
    if isinstance(file, str):
        return file
    return file.name or ""


def _target(config: Config, name: str, params: Iterable[tuple[str, str]]) -> Target:
    encoded = encode_path(name.lstrip("/"))
    path = config.url_path + encoded
    query = signed_query(canonical_query(params), path, config.secrets)
    return Target(url=f"{config.url}{encoded}?{query}", path=path, query=query)


def _option_params(options: Iterable[str]) -> list[tuple[str, str]]:
    """Template options: a fit word (``crop``) or ``key=value`` with a query
    name (``q=80``) or a preset key a query can say (``quality=80``)."""
    params: list[tuple[str, str]] = []
    for option in options:
        if option in FITS:
            params.append(("fit", option))
            continue
        key, eq, value = option.partition("=")
        if not eq or not value:
            raise ValueError(f"thumbnail option {option!r} is not a fit or key=value")
        if key in PRESET_KEYS:
            name = PRESET_KEYS[key]
            if name is None:
                raise ValueError(f"{key!r} needs a named rendition (an nginx preset)")
            key = name
        params.append((key, value))
    return params


def _rendition_params(rendition: Rendition, width: Optional[int] = None) -> list[tuple[str, str]]:
    params = [("p", rendition.name)]
    if width is not None and width != rendition.spec.width:
        w, h = rendition.size_for(width)
        params.append(("w", str(w)))
        if h is not None:
            params.append(("h", str(h)))
    return params


def _member_params(config: Config, member: Member) -> list[tuple[str, str]]:
    if member.rendition is not None:
        return _rendition_params(config.renditions[member.rendition])
    assert member.spec is not None
    return member.spec.query_params()


def _merge(base: list[tuple[str, str]], extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    names = {name for name, _ in extra}
    return [item for item in base if item[0] not in names] + extra


def thumbnail_url(file: FileLike, what: str, *options: str) -> str:
    """The URL of one thumbnail of ``file`` (a FieldFile or a storage name):
    ``what`` is a rendition name (``"thumbnail"``) or a size
    (``"350x350"``), refined by options (``"crop"``, ``"q=80"``). ``""``
    for an empty field, so a template can test it."""
    name = storage_name(file)
    if not name:
        return ""
    config = get_config()
    option_params = _option_params(options)
    rendition = config.renditions.get(what)
    if rendition is not None:
        params = _merge(_rendition_params(rendition), option_params)
    else:
        spec = Spec.parse(what)
        params = _merge(spec.query_params(), option_params)
    return _target(config, name, params).url


def srcset(file: FileLike, rendition_name: str) -> str:
    """Every width of a rendition, as a ``srcset`` value (``URL 100w, …``)."""
    name = storage_name(file)
    if not name:
        return ""
    config = get_config()
    rendition = _get_rendition(config, rendition_name)
    return ", ".join(
        f"{_target(config, name, _rendition_params(rendition, width)).url} {width}w"
        for width, _ in rendition.sizes()
    )


def rendition_set(file: FileLike, set_name: str) -> dict[str, str]:
    """A versatileimagefield-like ``sizes`` dict: ``{"small": url, …}``."""
    name = storage_name(file)
    config = get_config()
    members = config.sets.get(set_name)
    if members is None:
        raise ImproperlyConfigured(f"IMAGE_FILTER_RS: no rendition set {set_name!r}")
    if not name:
        return {key: "" for key in members}
    return {
        key: _target(config, name, _member_params(config, member)).url
        for key, member in members.items()
    }


def _get_rendition(config: Config, rendition_name: str) -> Rendition:
    rendition = config.renditions.get(rendition_name)
    if rendition is None:
        raise ImproperlyConfigured(f"IMAGE_FILTER_RS: no rendition {rendition_name!r}")
    return rendition


def targets_for(name: str, names: Iterable[str], config: Optional[Config] = None) -> list[Target]:
    """Every rendition of the original ``name`` that ``names`` (renditions
    and sets) produce, each once: what warming asks nginx for."""
    config = config or get_config()
    targets: list[Target] = []
    seen: set[str] = set()

    def add(params: list[tuple[str, str]]) -> None:
        target = _target(config, name, params)
        if target.query not in seen:
            seen.add(target.query)
            targets.append(target)

    for what in names:
        if what in config.renditions:
            rendition = config.renditions[what]
            for width, _ in rendition.sizes():
                add(_rendition_params(rendition, width))
        elif what in config.sets:
            for member in config.sets[what].values():
                add(_member_params(config, member))
        else:
            raise ImproperlyConfigured(f"IMAGE_FILTER_RS: no rendition or set {what!r}")
    return targets
