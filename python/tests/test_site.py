"""End to end: photos uploaded through the ORM, warmed by the post_save hook,
a template rendered, and every URL in it fetched from the real nginx and
decoded with Pillow; replaced and deleted originals; signed URLs; the
management commands."""

from __future__ import annotations

import io
import logging
import os
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import NEW_KEY, OLD_KEY
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.template.loader import render_to_string
from django.test import override_settings
from gallery.models import Photo
from nginx_server import Nginx, free_port, wait_until
from PIL import Image, ImageEnhance, ImageOps

from image_filter_rs import client
from image_filter_rs.signing import sign
from image_filter_rs.urls import thumbnail_url

ORIGINAL_SIZE = (1200, 900)
# Quadrants: top-left, top-right, bottom-left, bottom-right.
WARM = [(230, 40, 40), (40, 200, 60), (30, 50, 220), (240, 230, 60)]
COOL = [(20, 160, 200), (200, 60, 200), (250, 140, 20), (60, 60, 60)]
# Every photo has these renditions: thumbnail (100 and 200 wide), display,
# small, medium, large.
RENDITIONS_PER_PHOTO = 6
# The renditions of the test settings, written out independently of the package.
PRESETS = {
    "thumbnail": {"size": (100, 75), "fit": "crop", "contrast": 1.2, "sharpness": 1.1},
    "display": {"size": (200, 400), "fit": "crop", "saturation": 0.0},
}
TOLERANCE = 12


def jpeg(colours: list[tuple[int, int, int]], size: tuple[int, int] = ORIGINAL_SIZE) -> bytes:
    w, h = size
    image = Image.new("RGB", size)
    for i, colour in enumerate(colours):
        x, y = (i % 2) * w // 2, (i // 2) * h // 2
        image.paste(colour, (x, y, x + w // 2, y + h // 2))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def upload(name: str, colours: list[tuple[int, int, int]], title: str = "") -> Photo:
    photo = Photo(title=title or name)
    photo.image.save(name, ContentFile(jpeg(colours)))  # saves the row too
    return photo


def original_path(media_root: Path, photo_or_name: Any) -> str:
    name = photo_or_name if isinstance(photo_or_name, str) else photo_or_name.image.name
    return str(media_root / name)


def cache_files_of(nginx: Nginx, path: str) -> list[Path]:
    """Cache files whose header names the original ``path`` (each cache file
    keeps its original's path, for the cache manager)."""
    needle = path.encode()
    found = []
    for file in nginx.cache_dir.rglob("*"):
        if file.is_file() and ".tmp" not in file.parts:
            with open(file, "rb") as f:
                header = f.read(8192)
            if needle in header:
                found.append(file)
    return found


def wait_for_files(nginx: Nginx, path: str, count: int, deadline: float = 30.0) -> list[Path]:
    return wait_until(
        f"{count} cache files of {path} (now {len(cache_files_of(nginx, path))})",
        lambda: (files if len(files := cache_files_of(nginx, path)) == count else None),
        deadline,
    )


class Fetched:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def cache(self) -> str:
        return str(self.headers.get("X-Image-Filter-Cache") or "")

    def image(self) -> Image.Image:
        image = Image.open(io.BytesIO(self.body))
        image.load()
        return image


def fetch(nginx: Nginx, url: str, method: str = "GET") -> Fetched:
    parts = urlsplit(url)
    assert not parts.netloc, f"page URLs are paths on the site: {url}"
    request = urllib.request.Request(nginx.origin + url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Fetched(response.status, response.headers, response.read())
    except urllib.error.HTTPError as e:
        return Fetched(e.code, e.headers, e.read())


class ImgParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[tuple[str, str, Optional[int]]] = []  # class, url, srcset width

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        if tag != "img":
            return
        a = dict(attrs)
        cls = a.get("class") or ""
        self.images.append((cls, a["src"] or "", None))
        for item in (a.get("srcset") or "").split(","):
            if item.strip():
                url, descriptor = item.split()
                assert descriptor.endswith("w"), item
                self.images.append((cls, url, int(descriptor[:-1])))


def page_images(html: str) -> list[tuple[str, str, Optional[int]]]:
    parser = ImgParser()
    parser.feed(html)
    return parser.images


def expectation(url: str) -> dict[str, Any]:
    """What nginx should answer for a URL of the test settings, from its query."""
    query = dict(parse_qsl(urlsplit(url).query))
    want: dict[str, Any] = {"fit": "fit"}
    if "p" in query:
        want.update(PRESETS[query["p"]])
    if "w" in query:
        w = int(query["w"])
        want["size"] = (w, int(query["h"]) if "h" in query else None)
    if "fit" in query:
        want["fit"] = query["fit"]
    return want


def render(original: Image.Image, want: dict[str, Any], adjust: bool = True) -> Image.Image:
    """Pillow's idea of the rendition (imagekit's processors, in effect)."""
    w, h = want["size"]
    if want["fit"] == "crop":
        image = ImageOps.fit(original, (w, h), Image.Resampling.LANCZOS)
    else:
        image = original.copy()
        image.thumbnail((w, h), Image.Resampling.LANCZOS)
    if adjust:
        if "contrast" in want:
            image = ImageEnhance.Contrast(image).enhance(want["contrast"])
        if "sharpness" in want:
            image = ImageEnhance.Sharpness(image).enhance(want["sharpness"])
        if "saturation" in want:
            image = ImageEnhance.Color(image).enhance(want["saturation"])
    return image


def patches(image: Image.Image) -> list[tuple[float, float, float]]:
    """Mean colour of a 9x9 patch at the centre of each quadrant."""
    rgb = image.convert("RGB")
    w, h = rgb.size
    out = []
    for fx, fy in ((0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)):
        x, y = int(w * fx), int(h * fy)
        box = rgb.crop((x - 4, y - 4, x + 5, y + 5))
        pixels = list(box.getdata())
        out.append(tuple(sum(p[c] for p in pixels) / len(pixels) for c in range(3)))  # type: ignore[misc]
    return out


def distance(a: list[tuple[float, float, float]], b: list[tuple[float, float, float]]) -> float:
    return max(abs(x - y) for pa, pb in zip(a, b) for x, y in zip(pa, pb))


def check_rendition(nginx: Nginx, url: str, colours: list[tuple[int, int, int]], srcset_width: Optional[int] = None) -> Fetched:
    got = fetch(nginx, url)
    assert got.status == 200, f"{url}: {got.status} {got.body[:200]!r}"
    assert got.headers.get("Content-Type") == "image/jpeg", url
    served = got.image()
    want = expectation(url)
    w, h = want["size"]
    if srcset_width is not None:
        assert w == srcset_width, f"{url} is offered as {srcset_width}w"
    if want["fit"] == "crop":
        assert served.size == (w, h), f"{url}: {served.size}, want {(w, h)}"
    else:
        ratio = ORIGINAL_SIZE[0] / ORIGINAL_SIZE[1]
        assert served.size[0] == w and abs(served.size[1] - w / ratio) <= 1, f"{url}: {served.size}"
    original = Image.open(io.BytesIO(jpeg(colours)))
    expected = patches(render(original, want))
    actual = patches(served)
    assert distance(actual, expected) <= TOLERANCE, f"{url}: colours {actual}, want {expected}"
    if "contrast" in want:
        plain = patches(render(original, want, adjust=False))
        assert distance(actual, expected) < distance(actual, plain), (
            f"{url}: the contrast of the preset is not seen: {actual}, "
            f"with contrast {expected}, without {plain}"
        )
    if want.get("saturation") == 0.0:
        for r, g, b in actual:
            assert max(r, g, b) - min(r, g, b) <= 8, f"{url}: not black and white: {actual}"
    return got


def page(photo: Photo, template: str = "gallery/photo.html") -> str:
    return render_to_string(template, {"photo": photo})


def settle() -> None:
    assert client.wait_idle(60), "background jobs did not finish"


# --- the seed cases ---------------------------------------------------------


def test_warmed_on_save_then_every_url_of_the_page_is_a_hit(nginx: Nginx, media_root: Path) -> None:
    photos = {"sunset.jpg": WARM, "sea.jpg": COOL}
    saved = [(upload(name, colours), colours) for name, colours in photos.items()]
    # Cache files exist before any page is viewed: the post_save hook made them.
    for photo, _ in saved:
        wait_for_files(nginx, original_path(media_root, photo), RENDITIONS_PER_PHOTO)
    for photo, colours in saved:
        html = page(photo)
        images = page_images(html)
        classes = sorted({cls for cls, _, _ in images})
        assert classes == ["display", "large", "medium", "small", "thumbnail"], html
        assert len(images) == 7, html  # src and two srcset widths of the thumbnail
        assert sorted(w for _, _, w in images if w) == [100, 200], html
        for cls, url, width in images:
            assert url.startswith(f"/t/{photo.image.name}?"), url
            got = check_rendition(nginx, url, colours, width)
            assert got.cache == "HIT", f"{cls} {url} was not warmed: {got.cache}"
        sizes = {cls: fetch(nginx, url).image().size for cls, url, w in images if w is None}
        assert sizes == {
            "thumbnail": (100, 75),
            "display": (200, 400),
            "small": (180, 180),
            "medium": (220, 220),
            "large": (320, 320),
        }
        # Viewing the page made nothing new.
        assert len(cache_files_of(nginx, original_path(media_root, photo))) == RENDITIONS_PER_PHOTO


def test_sizes_and_options_given_in_the_template(nginx: Nginx, media_root: Path) -> None:
    photo = upload("harbour.jpg", COOL)
    html = page(photo, "gallery/adhoc.html")
    images = dict((cls, url) for cls, url, _ in page_images(html))
    assert set(images) == {"adhoc", "fitted"}, html
    check_rendition(nginx, images["adhoc"], COOL)
    assert "fit=crop" in images["adhoc"] and "q=60" in images["fitted"], images
    fitted = check_rendition(nginx, images["fitted"], COOL)
    assert fitted.image().size == (350, 263)
    settle()


def test_replaced_original_is_purged_and_new_pixels_are_served(nginx: Nginx, media_root: Path) -> None:
    photo = upload("river.jpg", WARM)
    old = original_path(media_root, photo)
    wait_for_files(nginx, old, RENDITIONS_PER_PHOTO)
    old_urls = [url for _, url, _ in page_images(page(photo))]
    for url in old_urls:
        check_rendition(nginx, url, WARM)

    photo.image.save("river-2.jpg", ContentFile(jpeg(COOL)))  # a new upload to the field
    new = original_path(media_root, photo)
    assert new != old and os.path.exists(old), "Django keeps the old file under its name"
    wait_for_files(nginx, old, 0)  # purged, though the old original is still there
    wait_for_files(nginx, new, RENDITIONS_PER_PHOTO)  # and the new one warmed
    new_urls = [url for _, url, _ in page_images(page(Photo.objects.get(pk=photo.pk)))]
    assert set(new_urls).isdisjoint(old_urls)
    for url in new_urls:
        assert check_rendition(nginx, url, COOL).cache == "HIT", url


def test_original_overwritten_in_place_serves_new_pixels(nginx: Nginx, media_root: Path) -> None:
    photo = upload("lake.jpg", WARM)
    path = original_path(media_root, photo)
    wait_for_files(nginx, path, RENDITIONS_PER_PHOTO)
    urls = [url for _, url, _ in page_images(page(photo))]
    for url in urls:
        check_rendition(nginx, url, WARM)
    Path(path).write_bytes(jpeg(COOL))  # same name, new bytes (a storage overwrite)
    os.utime(path, (1, 1))  # an mtime no second of this test can share
    for url in urls:
        check_rendition(nginx, url, COOL)


def test_deleted_photo_has_its_renditions_purged(nginx: Nginx, media_root: Path) -> None:
    gone, kept = upload("forest.jpg", WARM), upload("meadow.jpg", COOL)
    gone_path, kept_path = original_path(media_root, gone), original_path(media_root, kept)
    wait_for_files(nginx, gone_path, RENDITIONS_PER_PHOTO)
    wait_for_files(nginx, kept_path, RENDITIONS_PER_PHOTO)
    gone.delete()
    assert os.path.exists(gone_path), "Django leaves the file; the purge must do the work"
    wait_for_files(nginx, gone_path, 0)
    settle()
    assert len(cache_files_of(nginx, kept_path)) == RENDITIONS_PER_PHOTO


# --- signed URLs --------------------------------------------------------------


def test_signed_urls_are_accepted_and_tampered_ones_refused(nginx: Nginx) -> None:
    photo = upload("dunes.jpg", WARM)
    url = thumbnail_url(photo.image, "thumbnail", "q=70")
    path, _, query = url.partition("?")
    assert query.endswith("&s=" + sign(NEW_KEY, path, query.rpartition("&s=")[0]))
    assert fetch(nginx, url).status == 200
    unsigned = query.rpartition("&s=")[0]
    signature = query.rpartition("&s=")[2]
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    refused = {
        "no signature": f"{path}?{unsigned}",
        "another quality": f"{path}?{unsigned.replace('q=70', 'q=71')}&s={signature}",
        "a character changed": f"{path}?{unsigned}&s={flipped}",
        "another original": url.replace("dunes", "dunes-2", 1),
        "an unknown key": f"{path}?{unsigned}&s={sign('never listed anywhere, 123', path, unsigned)}",
        "an empty signature": f"{path}?{unsigned}&s=",
    }
    for why, bad in refused.items():
        assert fetch(nginx, bad).status == 403, f"{why}: {bad}"
    # Key rotation: URLs signed with the previous key still work.
    old = f"{path}?{unsigned}&s={sign(OLD_KEY, path, unsigned)}"
    assert fetch(nginx, old).status == 200
    # Parameter order does not matter to the module's check.
    reordered = f"{path}?s={signature}&" + "&".join(reversed(unsigned.split("&")))
    assert fetch(nginx, reordered).status == 200
    settle()


def test_names_that_need_percent_encoding_are_signed_as_requested(nginx: Nginx, media_root: Path) -> None:
    photo = upload("café au lait.jpg", COOL)
    url = thumbnail_url(photo.image, "display")
    assert "/t/photos/caf%C3%A9_au_lait.jpg?" in url, url  # Django turns spaces into _
    check_rendition(nginx, url, COOL)
    wait_for_files(nginx, original_path(media_root, photo), RENDITIONS_PER_PHOTO)
    settle()


# --- commands and failures ----------------------------------------------------


def test_warm_thumbnails_command(nginx: Nginx, media_root: Path) -> None:
    for photo in Photo.objects.all():
        photo.delete()
    settle()
    raw = dict(nginx_settings())
    raw["WARM_ON_SAVE"] = False
    with override_settings(IMAGE_FILTER_RS=raw):
        photos = [upload("cliff.jpg", WARM), upload("bay.jpg", COOL)]
        settle()
        paths = [original_path(media_root, p) for p in photos]
        assert [len(cache_files_of(nginx, p)) for p in paths] == [0, 0], "warmed though off"

        out, err = io.StringIO(), io.StringIO()
        call_command("warm_thumbnails", "gallery.Photo.image", progress="always", stdout=out, stderr=err)
        total = RENDITIONS_PER_PHOTO * len(photos)
        assert f"made: {total}\n" in out.getvalue(), out.getvalue()
        assert f"{total}/{total} renditions" in err.getvalue(), err.getvalue()
        for path in paths:
            assert len(cache_files_of(nginx, path)) == RENDITIONS_PER_PHOTO

        out, err = io.StringIO(), io.StringIO()
        call_command("warm_thumbnails", progress="never", stdout=out, stderr=err)
        assert f"already cached: {total}\n" in out.getvalue(), out.getvalue()
        assert err.getvalue() == "", "no bar, no failure: " + err.getvalue()

        os.unlink(paths[0])
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(CommandError):
            call_command("warm_thumbnails", progress="never", stdout=out, stderr=err)
        assert f"failed: {RENDITIONS_PER_PHOTO}" in out.getvalue(), out.getvalue()
        assert err.getvalue().count("failed: 404 ") == RENDITIONS_PER_PHOTO, err.getvalue()

        with pytest.raises(CommandError):
            call_command("warm_thumbnails", "gallery.Photo.nosuch", stdout=out, stderr=err)


def nginx_settings() -> dict[str, Any]:
    from django.conf import settings

    return dict(settings.IMAGE_FILTER_RS)


def test_nginx_down_never_fails_a_save_or_a_delete(nginx: Nginx, caplog: pytest.LogCaptureFixture) -> None:
    raw = nginx_settings()
    raw["ORIGIN"] = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    raw["TIMEOUT"] = 5
    caplog.set_level(logging.WARNING, logger="image_filter_rs")
    with override_settings(IMAGE_FILTER_RS=raw):
        photo = upload("storm.jpg", WARM)
        photo.image.save("storm-2.jpg", ContentFile(jpeg(COOL)))
        photo.delete()
        settle()
    messages = [r.getMessage() for r in caplog.records]
    assert any("warming" in m and "failed" in m for m in messages), messages
    assert sum("purging" in m and "failed" in m for m in messages) == 2, messages

    # Inline (BACKGROUND False): the failure is logged before save() returns.
    raw["BACKGROUND"] = False
    caplog.clear()
    with override_settings(IMAGE_FILTER_RS=raw):
        photo = upload("squall.jpg", WARM)
        assert any("squall.jpg" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records)
        photo.delete()
        assert any("purging" in r.getMessage() and "squall.jpg" in r.getMessage() for r in caplog.records)


def test_purge_denied_is_logged_not_raised(nginx: Nginx, caplog: pytest.LogCaptureFixture) -> None:
    raw = nginx_settings()
    raw["PURGE_URL"] = "/t/"  # not a purge location: nginx answers 405
    caplog.set_level(logging.WARNING, logger="image_filter_rs")
    with override_settings(IMAGE_FILTER_RS=raw):
        assert client.purge("photos/nothing.jpg") is None
    assert any("405" in r.getMessage() for r in caplog.records), caplog.records
    assert client.purge("photos/nothing.jpg") == 0
