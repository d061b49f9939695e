"""``{% load image_filter_rs %}``:

- ``{% thumbnail_url photo.image "350x350" crop %}``, ``{% thumbnail_url
  photo.image "thumbnail" %}`` (a rendition), options such as ``q=80``, and
  ``... as url`` to store it;
- ``{% srcset photo.image "thumbnail" %}``: every width of the rendition;
- ``{{ photo.image|renditions:"image" }}``: ``{"small": url, ...}``;
- ``{{ photo.image|easy_thumbnail_url:"avatar" }}``: easy-thumbnails' URL of
  an alias, nothing generated (needs easy-thumbnails installed).

Bare words among the options (``crop``, ``fill``…) are literals; anything
else is a template variable or a quoted string, as usual.
"""

from __future__ import annotations

from typing import Any, Optional

from django import template
from django.template.base import FilterExpression, Parser, Token
from django.template.context import Context

from ..conf import FITS
from ..urls import rendition_set, srcset as srcset_value, thumbnail_url as build_url

register = template.Library()


class _Literal:
    def __init__(self, value: str) -> None:
        self.value = value

    def resolve(self, context: Context) -> str:
        return self.value


Arg = Any  # FilterExpression or _Literal; both have resolve(context)


def _option(parser: Parser, bit: str) -> list[Arg]:
    """One option: a fit word, ``key=value`` (value a variable or a string),
    or an expression."""
    if bit in FITS:
        return [_Literal(bit)]
    key, eq, value = bit.partition("=")
    if eq and key.isidentifier():
        return [_Literal(f"{key}="), parser.compile_filter(value)]
    return [parser.compile_filter(bit)]


class ThumbnailUrlNode(template.Node):
    def __init__(
        self, file: FilterExpression, what: FilterExpression, options: list[list[Arg]], var: Optional[str]
    ) -> None:
        self.file = file
        self.what = what
        self.options = options
        self.var = var

    def render(self, context: Context) -> str:
        options = ["".join(str(part.resolve(context)) for part in option) for option in self.options]
        url = build_url(self.file.resolve(context), str(self.what.resolve(context)), *options)
        if self.var is not None:
            context[self.var] = url
            return ""
        return url


@register.tag
def thumbnail_url(parser: Parser, token: Token) -> ThumbnailUrlNode:
    """``{% thumbnail_url FILE SIZE_OR_RENDITION [OPTION ...] [as VAR] %}``"""
    bits = token.split_contents()
    var: Optional[str] = None
    if len(bits) >= 3 and bits[-2] == "as":
        var = bits[-1]
        bits = bits[:-2]
    if len(bits) < 3:
        raise template.TemplateSyntaxError(
            f"{bits[0]} takes a file, a size or rendition name, then options"
        )
    return ThumbnailUrlNode(
        parser.compile_filter(bits[1]),
        parser.compile_filter(bits[2]),
        [_option(parser, bit) for bit in bits[3:]],
        var,
    )


@register.simple_tag
def srcset(file: Any, rendition: str) -> str:
    """``{% srcset photo.image "thumbnail" %}`` → ``URL 100w, URL 200w``."""
    return srcset_value(file, rendition)


@register.filter
def renditions(file: Any, set_name: str) -> dict[str, str]:
    """``{{ photo.image|renditions:"image" }}`` → ``{"small": url, ...}``."""
    return rendition_set(file, set_name)


@register.filter
def easy_thumbnail_url(file: Any, alias: str) -> str:
    """``{{ photo.image|easy_thumbnail_url:"avatar" }}``: the URL
    easy-thumbnails gives that alias's thumbnail, without generating it
    (nginx makes it: ``image_filter_rs easy_thumbnails;``)."""
    if not file:
        return ""
    from ..easy_thumbnails import thumbnail_url as easy_url

    return easy_url(file, alias)
