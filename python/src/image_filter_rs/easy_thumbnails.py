"""easy-thumbnails, URL only: the name easy-thumbnails' default namer gives
a thumbnail, and its URL, without generating or storing anything. nginx
makes the thumbnail under that very name (a location with
``image_filter_rs easy_thumbnails;``), so a site keeps its URLs and Django
stops writing thumbnails.

Needs ``easy-thumbnails`` installed (it is not a dependency of this package).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

__all__ = ["thumbnail_name", "thumbnail_url"]

Options = Union[str, Mapping[str, Any]]


def _thumbnailer(file: Any) -> Any:
    from easy_thumbnails.files import get_thumbnailer  # type: ignore[import-untyped]

    return get_thumbnailer(file)


def _options(thumbnailer: Any, options: Options) -> dict[str, Any]:
    if isinstance(options, str):
        from easy_thumbnails.alias import aliases  # type: ignore[import-untyped]

        found = aliases.get(options, target=thumbnailer.alias_target)
        if found is None:
            raise KeyError(f"no easy-thumbnails alias {options!r}")
        return dict(found)
    return dict(options)


def thumbnail_name(file: Any, options: Options, transparent: bool = False) -> str:
    """The storage name easy-thumbnails would give this thumbnail of
    ``file`` (a FieldFile or a storage name): ``options`` is an options dict
    (``{"size": (350, 350), "crop": True}``) or an alias name.
    ``transparent=True`` for a source whose thumbnail keeps transparency
    (easy-thumbnails then writes PNG; it decides that from the pixels, which
    a URL-only helper does not read)."""
    thumbnailer = _thumbnailer(file)
    return str(thumbnailer.get_thumbnail_name(_options(thumbnailer, options), transparent=transparent))


def thumbnail_url(file: Any, options: Options, transparent: bool = False) -> str:
    """The URL of :func:`thumbnail_name` in the thumbnail storage; nothing
    is generated, read or written."""
    thumbnailer = _thumbnailer(file)
    name = thumbnailer.get_thumbnail_name(_options(thumbnailer, options), transparent=transparent)
    return str(thumbnailer.thumbnail_storage.url(name))
