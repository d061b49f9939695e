"""The package without nginx: signatures against the module's known answers,
the one spelling of a query, settings errors, the nginx text."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.template import Context, Template, TemplateSyntaxError
from django.test import override_settings

from image_filter_rs.conf import Spec, get_config
from image_filter_rs.signing import canonical_query, encode_path, sign, signed_query, signing_payload
from image_filter_rs.urls import rendition_set, srcset, targets_for, thumbnail_url

UNSIGNED: dict[str, Any] = {
    "URL": "/t/",
    "RENDITIONS": {
        "thumbnail": {"spec": "100x75 crop contrast=1.2 sharpness=1.1", "widths": [200, 300]},
        "banner": "800x- quality=70",
    },
    "RENDITION_SETS": {"image": {"small": "crop__180x180", "large": "thumbnail__320x320", "hero": "banner"}},
    "SIZES": ["350x350"],
}


# The module's known answers (thumbnailer/src/signature.rs), computed there
# with Python's hmac; the same vectors are checked by t/src/sign.rs.
@pytest.mark.parametrize(
    ("key", "path", "query", "signature"),
    [
        ("secret-key-1", "/thumb/a.jpg", "w=350&h=350", "2V5jY2MWHlOSN1sHKCQTekX0IZqjuSGD5vQS5NVFklc"),
        (
            "secret-key-1",
            "/thumb/a.jpg",
            "w=300&h=200&fit=crop&g=ne&fp=0.25,0.75&s=ignored",
            "jJPJ2eRObzdExSqV-vNJGd2hJJPC7GxnEWX09ISoWII",
        ),
        ("", "/x", "", "fl2LgAjR-14tUCFalKWKOvmAlxDkZSgQMqxjXehh5PU"),
    ],
)
def test_signatures_match_the_module(key: str, path: str, query: str, signature: str) -> None:
    assert sign(key, path, query) == signature
    assert sign(key.encode(), path, query) == signature


def test_payload_is_sorted_by_name_then_value_and_skips_s_and_empty_segments() -> None:
    assert signing_payload("/t/a.jpg", "w=1&h=2&&s=x&fit=crop&") == "/t/a.jpg?fit=crop&h=2&w=1"
    # Sorted by name first: "w" before "w2", though "w2=" < "w=1" as text.
    assert signing_payload("/p", "w=1&w2=3") == "/p?w=1&w2=3"
    # A percent-encoded "s" is not the signature: it is signed like any other.
    assert signing_payload("/p", "%73=1&s=2") == "/p?%73=1"


def test_canonical_query_is_sorted_and_refuses_what_nginx_would() -> None:
    assert canonical_query([("w", "200"), ("p", "thumbnail"), ("h", "150")]) == "h=150&p=thumbnail&w=200"
    assert canonical_query([("fp", "0.25,0.75")]) == "fp=0.25,0.75"
    with pytest.raises(ValueError):
        canonical_query([("width", "1")])
    with pytest.raises(ValueError):
        canonical_query([("w", "1"), ("w", "2")])
    assert signed_query("w=1", "/t/a.jpg", ()) == "w=1"
    assert signed_query("w=1", "/t/a.jpg", ("k" * 16,)) == "w=1&s=" + sign("k" * 16, "/t/a.jpg", "w=1")


def test_paths_are_percent_encoded_as_the_warmer_does() -> None:
    assert encode_path("photos/a b/é~-._.jpg") == "photos/a%20b/%C3%A9~-._.jpg"
    assert encode_path("p/100%?#&.jpg") == "p/100%25%3F%23%26.jpg"


def test_urls_of_renditions_sizes_and_sets() -> None:
    with override_settings(IMAGE_FILTER_RS=UNSIGNED):
        assert thumbnail_url("photos/a.jpg", "thumbnail") == "/t/photos/a.jpg?p=thumbnail"
        assert thumbnail_url("photos/a.jpg", "thumbnail", "q=60") == "/t/photos/a.jpg?p=thumbnail&q=60"
        assert thumbnail_url("photos/a.jpg", "350x350", "crop") == "/t/photos/a.jpg?fit=crop&h=350&w=350"
        assert thumbnail_url("photos/a.jpg", "350x350", "quality=80") == "/t/photos/a.jpg?h=350&q=80&w=350"
        assert thumbnail_url("", "thumbnail") == ""
        assert thumbnail_url(None, "thumbnail") == ""
        assert srcset("photos/a.jpg", "thumbnail") == (
            "/t/photos/a.jpg?p=thumbnail 100w, "
            "/t/photos/a.jpg?h=150&p=thumbnail&w=200 200w, "
            "/t/photos/a.jpg?h=225&p=thumbnail&w=300 300w"
        )
        assert rendition_set("photos/a.jpg", "image") == {
            "small": "/t/photos/a.jpg?fit=crop&h=180&w=180",
            "large": "/t/photos/a.jpg?h=320&w=320",
            "hero": "/t/photos/a.jpg?p=banner",
        }
        assert rendition_set("", "image") == {"small": "", "large": "", "hero": ""}
        queries = [t.query for t in targets_for("photos/a.jpg", ["thumbnail", "image", "banner"])]
        assert queries == [
            "p=thumbnail",
            "h=150&p=thumbnail&w=200",
            "h=225&p=thumbnail&w=300",
            "fit=crop&h=180&w=180",
            "h=320&w=320",
            "p=banner",
        ]
        with pytest.raises(ValueError):
            thumbnail_url("photos/a.jpg", "350x350", "contrast=2")


def test_template_tags() -> None:
    template = Template(
        '{% load image_filter_rs %}{% thumbnail_url name "350x350" crop q=q %}|'
        '{% thumbnail_url name "thumbnail" as u %}{{ u }}|{% srcset name "thumbnail" %}|'
        '{% with s=name|renditions:"image" %}{{ s.small }}{% endwith %}'
    )
    with override_settings(IMAGE_FILTER_RS=UNSIGNED):
        text = template.render(Context({"name": "photos/a.jpg", "q": 55}, autoescape=False))
    parts = text.split("|")
    assert parts[0] == "/t/photos/a.jpg?fit=crop&h=350&q=55&w=350"
    assert parts[1] == "/t/photos/a.jpg?p=thumbnail"
    assert parts[2].count("w, ") == 2
    assert parts[3] == "/t/photos/a.jpg?fit=crop&h=180&w=180"
    with pytest.raises(TemplateSyntaxError):
        Template('{% load image_filter_rs %}{% thumbnail_url name %}')


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"URL": "/t"}, "end with '/'"),
        ({"SECRET": "too short"}, "16 characters"),
        ({"RENDITIONS": {"off": "10x10"}}, "cannot name"),
        ({"RENDITIONS": {"a": "10x10 crop contrast=high"}}, "bad value"),
        ({"RENDITIONS": {"a": "10x10 crop tint=1"}}, "bad option"),
        ({"RENDITIONS": {"a": "0x10"}}, "bad size"),
        ({"RENDITION_SETS": {"s": {"k": "10x10 crop grayscale"}}}, "named rendition"),
        ({"FIELDS": {"gallery.Photo": ["thumbnail"]}}, "app_label.Model.field"),
        ({"FIELDS": {"gallery.Photo.image": ["nosuch"]}}, "no rendition or set"),
    ],
)
def test_settings_errors_are_reported(change: dict[str, Any], message: str) -> None:
    with override_settings(IMAGE_FILTER_RS={**UNSIGNED, **change}):
        with pytest.raises(ImproperlyConfigured, match=message):
            get_config()


def test_specs_read_the_preset_grammar_and_versatileimagefield_names() -> None:
    spec = Spec.parse("100x75 crop contrast=1.2 sharpness=1.1")
    assert (spec.size, spec.fit, spec.text()) == ((100, 75), "crop", "100x75 crop contrast=1.2 sharpness=1.1")
    assert Spec.parse("crop__180x180").text() == "180x180 crop"
    assert Spec.parse("thumbnail__180x180").text() == "180x180 fit"
    assert Spec.parse("-x200 grayscale").text() == "-x200 fit grayscale"


def test_nginx_command_prints_what_the_settings_need() -> None:
    raw = {**UNSIGNED, "SECRETS": ['new "key" 0123456789', "old key 0123456789"], "PURGE_URL": "/purge/"}
    out = io.StringIO()
    with override_settings(IMAGE_FILTER_RS=raw, MEDIA_ROOT="/srv/app/media", MEDIA_URL="/media/"):
        call_command("image_filter_rs_nginx", stdout=out)
    text = out.getvalue()
    for line in [
        "image_filter_rs_preset thumbnail 100x75 crop contrast=1.2 sharpness=1.1;",
        "image_filter_rs_preset banner 800x- fit quality=70;",
        "location /t/ {",
        "    alias /srv/app/media/;",
        "    image_filter_rs query;",
        "    image_filter_rs_sizes 100x75 200x150 300x225 800x- 180x180 320x320 350x350;",
        '    image_filter_rs_secret "new \\"key\\" 0123456789" "old key 0123456789";',
        "location /purge/ {",
        "    image_filter_rs_purge;",
        "location /media/ {",
        "image_filter_rs_cache_path /var/cache/nginx/image_filter_rs keys_zone=thumbs:10m",
    ]:
        assert line in text, f"{line!r} not in:\n{text}"


SIGN_URL = Path(__file__).resolve().parents[2] / "target" / "release" / "sign-url"


@pytest.mark.skipif(not SIGN_URL.is_file(), reason="target/release/sign-url not built (cargo build --release)")
@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/t/photos/a.jpg", "p=thumbnail"),
        ("/t/photos/caf%C3%A9_au_lait.jpg", "fit=crop&fp=0.25,0.75&h=200&w=300"),
        ("/t/a%20b.jpg", "h=150&p=thumbnail&q=60&w=200"),
    ],
)
def test_signatures_match_the_modules_sign_url_command(path: str, query: str) -> None:
    key = "a key of the module's own, 2026"
    printed = subprocess.run(
        [str(SIGN_URL), key, path, query], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert printed == f"{path}?{signed_query(query, path, (key,))}"
