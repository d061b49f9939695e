"""Issue 17: the module's placeholders decode with independent public
implementations: ``thumbhash-python`` for ``fm=thumbhash`` and ``blurhash``
for ``fm=blurhash`` (both from PyPI, pinned in requirements.txt), to images
whose mean colour is close to the thumbnail's; ``fm=lqip`` is a tiny image
of the same colours. The Rust tests (t/tests/placeholders.rs) check content
types, caching and refusals."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import blurhash
import pytest
import thumbhash
from nginx_server import Nginx
from PIL import Image, ImageStat
from test_site import fetch

# Two tones, so the hashes carry structure, not just a colour.
LEFT, RIGHT = (220, 40, 30), (30, 60, 200)
# Mean colour distance per channel (0-255) a placeholder may be off by.
MEAN_TOLERANCE = 14


def two_tone(path: Path, size: tuple[int, int] = (640, 480)) -> None:
    image = Image.new("RGB", size, LEFT)
    image.paste(RIGHT, (size[0] // 2, 0, size[0], size[1]))
    image.save(path, "PNG")


@pytest.fixture(scope="module")
def placeholder_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    media = tmp_path_factory.mktemp("placeholder-media")
    two_tone(media / "two-tone.png")
    server = Nginx(tmp_path_factory.mktemp("placeholder-nginx"))
    http = f"image_filter_rs_cache_path {server.cache_dir} keys_zone=ph:1m;\n"
    locations = f"""
location /t/ {{
    alias {media}/;
    image_filter_rs query;
    image_filter_rs_sizes 320x240 200x-;
    image_filter_rs_cache ph;
}}
"""
    server.start(lambda port: server.wrap(http, locations))
    try:
        yield server
    finally:
        server.stop()


def mean(image: Image.Image) -> tuple[float, float, float]:
    r, g, b = ImageStat.Stat(image.convert("RGB")).mean[:3]
    return (r, g, b)


def thumbnail(nginx: Nginx) -> Image.Image:
    got = fetch(nginx, "/t/two-tone.png?w=320&h=240&fm=png")
    assert got.status == 200
    return Image.open(io.BytesIO(got.body)).convert("RGB")


def thumbnail_mean(nginx: Nginx) -> tuple[float, float, float]:
    return mean(thumbnail(nginx))


def linear_light_mean(image: Image.Image) -> tuple[float, float, float]:
    """The mean taken in linear light, back in sRGB: what one BlurHash
    component (its DC term) holds."""
    pixels = list(image.getdata())
    channels = []
    for c in range(3):
        total = sum(blurhash.srgb_to_linear(px[c]) for px in pixels) / len(pixels)
        channels.append(float(blurhash.linear_to_srgb(total)))
    return (channels[0], channels[1], channels[2])


def close(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    return max(abs(x - y) for x, y in zip(a, b)) <= MEAN_TOLERANCE


def text(nginx: Nginx, query: str) -> str:
    got = fetch(nginx, f"/t/two-tone.png?w=320&h=240&{query}")
    assert got.status == 200, got.body[:200]
    assert got.headers.get("Content-Type") == "text/plain; charset=utf-8"
    return got.body.decode("ascii")


def test_thumbhash_decodes_to_the_thumbnail_colours(placeholder_nginx: Nginx) -> None:
    want = thumbnail_mean(placeholder_nginx)
    hash_text = text(placeholder_nginx, "fm=thumbhash")
    # No saturation boost: the reference decoder's colours as encoded.
    image = thumbhash.thumbhash_to_image(hash_text, base_size=32, saturation_boost=1.0)
    w, h = image.size
    assert abs(w / h - 320 / 240) < 0.2, image.size
    got = mean(image)
    assert close(got, want), (got, want)
    # Left and right halves keep their colours: the hash has structure.
    left = mean(image.crop((0, 0, w // 4, h)))
    right = mean(image.crop((w - w // 4, 0, w, h)))
    assert left[0] > right[0] + 60 and right[2] > left[2] + 60, (left, right)


@pytest.mark.parametrize("components", [(4, 3), (5, 4), (1, 1)])
def test_blurhash_decodes_to_the_thumbnail_colours(placeholder_nginx: Nginx, components: tuple[int, int]) -> None:
    x, y = components
    served = thumbnail(placeholder_nginx)
    want = mean(served) if x > 1 else linear_light_mean(served)
    hash_text = text(placeholder_nginx, f"fm=blurhash&x={x}&y={y}")
    assert blurhash.components(hash_text) == (x, y)
    pixels = blurhash.decode(hash_text, 32, 24)
    image = Image.new("RGB", (32, 24))
    image.putdata([tuple(int(c) for c in px) for row in pixels for px in row])
    got = mean(image)
    assert close(got, want), (got, want)
    if x > 1:
        left, right = mean(image.crop((0, 0, 6, 24))), mean(image.crop((26, 0, 32, 24)))
        assert left[0] > right[0] + 40, (left, right)


def test_lqip_is_a_small_image_of_the_same_colours(placeholder_nginx: Nginx) -> None:
    want = thumbnail_mean(placeholder_nginx)
    got = fetch(placeholder_nginx, "/t/two-tone.png?w=320&h=240&fm=lqip")
    assert got.status == 200
    assert got.headers.get("Content-Type") == "image/webp"
    image = Image.open(io.BytesIO(got.body))
    assert image.size == (32, 24)
    assert close(mean(image), want), (mean(image), want)


def test_color_is_the_dominant_tone(placeholder_nginx: Nginx) -> None:
    colour = text(placeholder_nginx, "fm=color")
    rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    # Half red, half blue: the dominant colour is one of the two tones.
    assert rgb in (LEFT, RIGHT), colour
