"""The nginx side of the settings: the preset lines, the sizes allow-list,
the secret, and the locations ``URL`` and ``PURGE_URL`` name, printed by
``manage.py image_filter_rs_nginx`` so the two sides cannot drift."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from .conf import Config, get_config

__all__ = ["NginxConfig", "nginx_config"]


def quote(text: str) -> str:
    """A double-quoted nginx string."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@dataclass(frozen=True)
class NginxConfig:
    http: str
    """Directives for the ``http { }`` block: cache path and presets."""
    server: str
    """Locations for the ``server { }`` block."""

    def text(self) -> str:
        return (
            "# In the http { } block:\n"
            + self.http
            + "\n# In the server { } block:\n"
            + self.server
        )


def nginx_config(
    media_root: str,
    media_url: Optional[str] = None,
    cache_path: Optional[str] = "/var/cache/nginx/image_filter_rs",
    zone: str = "thumbs",
    allow: tuple[str, ...] = ("127.0.0.1",),
    config: Optional[Config] = None,
) -> NginxConfig:
    config = config or get_config()
    root = media_root.rstrip("/") + "/"
    http: list[str] = []
    if cache_path is not None:
        http.append(
            f"image_filter_rs_cache_path {cache_path} keys_zone={zone}:10m levels=1:2\n"
            "                           max_size=1g inactive=30d;"
        )
    for rendition in config.renditions.values():
        http.append(f"image_filter_rs_preset {rendition.name} {rendition.spec.text()};")

    server: list[str] = []
    if media_url and not urlsplit(media_url).netloc and media_url.startswith("/"):
        server.append(f"location {media_url} {{\n    alias {root};\n}}")
    sizes = " ".join(
        f"{'-' if w is None else w}x{'-' if h is None else h}" for w, h in config.allowed_sizes()
    )
    lines = [
        f"location {config.url_path} {{",
        f"    alias {root};",
        "    image_filter_rs query;",
    ]
    if sizes:
        lines.append(f"    image_filter_rs_sizes {sizes};")
    if config.secrets:
        lines.append(
            "    image_filter_rs_secret " + " ".join(quote(s) for s in config.secrets) + ";"
        )
    if cache_path is not None:
        lines.append(f"    image_filter_rs_cache {zone};")
    lines.append("    add_header X-Image-Filter-Cache $image_filter_rs_cache_status always;")
    lines.append("}")
    server.append("\n".join(lines))
    if config.purge_url:
        purge = [
            f"location {config.purge_url} {{",
            f"    alias {root};",
            "    image_filter_rs_purge;",
        ]
        purge += [f"    allow {address};" for address in allow]
        purge += ["    deny all;", "}"]
        server.append("\n".join(purge))
    return NginxConfig("\n".join(http) + "\n", "\n".join(server) + "\n")
