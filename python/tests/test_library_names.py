"""Issue 13, section 2: nginx serves the names that easy-thumbnails 2.10.1
and django-versatileimagefield 3.1 (from PyPI) give their thumbnails, with
the libraries' own generation off: each library prints its names, nginx
makes the renditions under them (`image_filter_rs easy_thumbnails;`,
`image_filter_rs versatileimagefield;`), and nothing is written into
MEDIA_ROOT. Sizes and pixels are compared with what the library itself
makes of the same original."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.template import Context, Template
from gallery.models import Photo, Picture
from nginx_server import Nginx
from PIL import Image
from test_site import COOL, TOLERANCE, WARM, distance, fetch, jpeg, patches

from image_filter_rs.easy_thumbnails import thumbnail_name, thumbnail_url

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# (options, compare pixels): crop-smart picks its window its own way, so
# only its size is compared.
HALF = (
    "easy-thumbnails rounds with Python's round(), half to even: 1200x900 in a "
    "350x0 box is 350x262 (262.5), the module rounds half up to 263"
)
EASY_CASES = [
    pytest.param({"size": (350, 350), "crop": True}, True, id="350x350-crop"),
    pytest.param({"size": (0, 200), "quality": 70}, True, id="0x200-q70"),
    pytest.param({"size": (200, 400), "crop": True}, True, id="200x400-crop"),
    pytest.param({"size": (300, 300), "crop": True, "target": (10, 80)}, True, id="target"),
    pytest.param({"size": (200, 200), "crop": "smart"}, False, id="crop-smart"),
    pytest.param({"size": (2000, 2000), "upscale": True}, True, id="upscale"),
    pytest.param({"size": (100, 100), "bw": True}, True, id="bw"),
    pytest.param({"size": (350, 0)}, True, id="350x0", marks=pytest.mark.xfail(strict=True, reason=HALF)),
]
VERSATILE_KEYS = [("thumbnail", "350x350"), ("crop", "350x350"), ("crop", "200x400"), ("crop", "180x180")]
SIZES = "350x350 350x- -x200 200x400 300x300 200x200 2000x2000 100x100 180x180"


@pytest.fixture(scope="module")
def library_nginx(media_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    server = Nginx(tmp_path_factory.mktemp("library-nginx"))
    root = str(media_root)
    http = (
        f"image_filter_rs_cache_path {server.cache_dir} keys_zone=names:10m levels=1:2;\n"
    )
    locations = f"""
location /media/ {{
    alias {root}/;
    location ~ "\\.[0-9]+x[0-9]+_q[0-9]+[^/.]*\\.(jpg|png)$" {{
        image_filter_rs easy_thumbnails;
        image_filter_rs_sizes {SIZES};
        image_filter_rs_cache names;
    }}
}}
location /media/__sized__/ {{
    alias {root}/;
    image_filter_rs versatileimagefield;
    image_filter_rs_sizes {SIZES};
    image_filter_rs_cache names;
}}
"""
    server.start(lambda port: server.wrap(http, locations))
    try:
        yield server
    finally:
        server.stop()


def media_files(media_root: Path) -> set[str]:
    return {str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def gradient(nginx: Nginx) -> Photo:
    """An original uploaded through the ORM (warmed for the /t/ renditions by
    the session's nginx; that writes only into its cache)."""
    photo = Photo(title="gradient")
    photo.image.save("gradient.jpg", ContentFile(jpeg(WARM)))
    return photo


@pytest.mark.parametrize(("options", "compare"), EASY_CASES)
def test_easy_thumbnails_names_are_served_by_nginx(
    library_nginx: Nginx, media_root: Path, gradient: Photo, options: dict[str, Any], compare: bool
) -> None:
    from easy_thumbnails.files import get_thumbnailer

    before = media_files(media_root)
    name = thumbnail_name(gradient.image, options)
    url = thumbnail_url(gradient.image, options)
    assert name.startswith(gradient.image.name + "."), name
    assert url.startswith("/media/" + gradient.image.name + "."), url
    # The library's own thumbnail of the same original, in memory only.
    made = get_thumbnailer(io.BytesIO(jpeg(WARM)), relative_name=gradient.image.name)
    reference = made.generate_thumbnail(options).image
    got = fetch(library_nginx, url)
    assert got.status == 200, f"{url}: {got.status} {got.body[:200]!r}"
    served = got.image()
    assert served.size == reference.size, f"{url}: {served.size}, library {reference.size}"
    if compare:
        assert distance(patches(served), patches(reference)) <= TOLERANCE, (
            f"{url}: {patches(served)}, library {patches(reference)}"
        )
    if options.get("bw"):
        assert all(max(p) - min(p) <= 8 for p in patches(served)), patches(served)
    assert media_files(media_root) == before, "Django or nginx wrote into MEDIA_ROOT"
    assert not (media_root / name).exists()


def test_easy_thumbnails_alias_url_from_a_template(library_nginx: Nginx, media_root: Path, gradient: Photo) -> None:
    before = media_files(media_root)
    html = Template('{% load image_filter_rs %}{{ photo.image|easy_thumbnail_url:"avatar" }}').render(
        Context({"photo": gradient})
    )
    assert html == f"/media/{gradient.image.name}.100x100_q85_crop.jpg", html
    got = fetch(library_nginx, html)
    assert got.status == 200 and got.image().size == (100, 100), (got.status, html)
    assert media_files(media_root) == before


def test_versatileimagefield_names_are_served_by_nginx(library_nginx: Nginx, media_root: Path) -> None:
    from versatileimagefield.versatileimagefield import CroppedImage, ThumbnailImage

    picture = Picture(ppoi="0.25x0.75")
    picture.image.save("gradient.jpg", ContentFile(jpeg(COOL)))
    before = media_files(media_root)
    sizers = {"thumbnail": ThumbnailImage, "crop": CroppedImage}
    for sizer, key in VERSATILE_KEYS:
        url = getattr(picture.image, sizer)[key].url
        assert url.startswith("/media/__sized__/pictures/gradient-"), url
        assert not default_storage.exists(url[len("/media/") :]), "the library wrote it"
        width, height = (int(v) for v in key.split("x"))
        sized = sizers[sizer](
            path_to_image=picture.image.name,
            storage=default_storage,
            create_on_demand=False,
            ppoi=picture.image.ppoi,
        )
        buffer = sized.process_image(
            Image.open(io.BytesIO(jpeg(COOL))), "JPEG", {"format": "JPEG", "quality": 70}, width, height
        )
        reference = Image.open(buffer)
        got = fetch(library_nginx, url)
        assert got.status == 200, f"{url}: {got.status} {got.body[:200]!r}"
        served = got.image()
        assert served.size == reference.size, f"{url}: {served.size}, library {reference.size}"
        assert distance(patches(served), patches(reference)) <= TOLERANCE, (
            f"{url}: {patches(served)}, library {patches(reference)}"
        )
    assert media_files(media_root) == before, "Django or nginx wrote into MEDIA_ROOT"
    # A name the library cannot have written is refused, a missing original is 404.
    assert fetch(library_nginx, "/media/__sized__/pictures/gradient-zoom-350x350-70.jpg").status == 400
    assert fetch(library_nginx, "/media/__sized__/pictures/none-thumbnail-350x350-70.jpg").status == 404
