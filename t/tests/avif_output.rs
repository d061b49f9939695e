//! AVIF out: by name (`image_filter_rs_format avif`, `fm=avif`), and by
//! negotiation with `auto`: AVIF when `Accept` lists it at least as high as
//! WebP, else WebP, else the original's format, each its own cache file,
//! one `Vary: Accept`; above `image_filter_rs_avif_max_pixels` a
//! negotiated AVIF gives way. The bodies are decoded by Pillow (its own
//! libavif) and compared with the same job written as lossless PNG.

use image_filter_rs_tests::cache::files_under;
use image_filter_rs_tests::images::decode;
use image_filter_rs_tests::paths;
use image_filter_rs_tests::pillow::{decode_all, mean_difference};
use image_filter_rs_tests::{Nginx, Request, Response};

const CACHE_HTTP: &str = "image_filter_rs_cache_path @PREFIX@/cache keys_zone=t:1m;";

fn location(path: &str, settings: &str) -> String {
    format!(
        "location {path} {{ alias @MEDIA@/; image_filter_rs_cache t; {settings} \
         add_header X-Cache-Status $image_filter_rs_cache_status; }}"
    )
}

fn get_with_accept(nginx: &Nginx, url: &str, accept: Option<&str>) -> Response {
    let resp = nginx.request(&Request::get(url).optional_header("Accept", accept));
    assert_eq!(resp.status, 200, "{url} {accept:?}\n{}", resp.describe());
    resp
}

#[test]
fn avif_by_name_matches_the_lossless_thumbnail() {
    let nginx = Nginx::builder()
        .http(CACHE_HTTP)
        .server(&location(
            "/avif/",
            "image_filter_rs 350x350; image_filter_rs_format avif;",
        ))
        .server(&location(
            "/png/",
            "image_filter_rs 350x350; image_filter_rs_format png;",
        ))
        .server(&location(
            "/q/",
            "image_filter_rs query; image_filter_rs_sizes 350x350;",
        ))
        .server(&location(
            "/coarse/",
            "image_filter_rs 350x350; image_filter_rs_format avif; \
             image_filter_rs_avif_quality 20; image_filter_rs_avif_speed 10;",
        ))
        .sample_media(&["sunset.jpg", "gulp.png"])
        .start();
    let mut bodies = Vec::new();
    let mut references = Vec::new();
    for name in ["sunset.jpg", "gulp.png"] {
        let avif = nginx.get(&format!("/avif/{name}"));
        avif.assert_status(200);
        assert_eq!(avif.headers_named("Content-Type"), ["image/avif"], "{name}");
        assert_eq!(avif.cache_status(), Some("MISS"));
        assert!(avif.headers_named("Vary").is_empty(), "not negotiated");
        let png = nginx.get(&format!("/png/{name}"));
        png.assert_status(200);
        references.push(decode(&png.body).image.to_rgba8());
        bodies.push(avif.body);
    }
    let by_query = nginx.get("/q/sunset.jpg?w=350&h=350&fm=avif");
    by_query.assert_status(200);
    assert_eq!(by_query.headers_named("Content-Type"), ["image/avif"]);
    // The same original and job as /avif/'s: the same cache entry.
    assert_eq!(by_query.cache_status(), Some("HIT"));
    let coarse = nginx.get("/coarse/sunset.jpg");
    coarse.assert_status(200);
    assert!(
        coarse.body.len() * 2 < bodies[0].len(),
        "quality 20 at speed 10 ({} bytes) is far smaller than the default ({})",
        coarse.body.len(),
        bodies[0].len()
    );
    let decoded = decode_all(&[&bodies[0], &bodies[1], &by_query.body, &coarse.body]);
    for (i, name) in ["sunset.jpg", "gulp.png"].into_iter().enumerate() {
        let got = &decoded[i];
        assert_eq!(got.format, "AVIF", "{name}");
        assert_eq!(got.rgba.dimensions(), references[i].dimensions(), "{name}");
        let difference = mean_difference(&got.rgba, &references[i]);
        assert!(
            difference < 3.5,
            "{name}: mean sample difference {difference:.2} from the PNG"
        );
    }
    // gulp.png is transparent: the AVIF keeps an alpha plane, and where
    // the PNG is fully transparent so is the AVIF, nearly.
    assert_eq!(decoded[1].mode, "RGBA");
    assert_eq!(decoded[0].mode, "RGB", "no alpha plane for an opaque photo");
    let alpha_error = decoded[1]
        .rgba
        .pixels()
        .zip(references[1].pixels())
        .map(|(a, b)| u32::from(a[3].abs_diff(b[3])))
        .max()
        .unwrap();
    assert!(alpha_error <= 24, "largest alpha difference {alpha_error}");
    assert_eq!(decoded[2].rgba.dimensions(), (350, 233));
    assert!(mean_difference(&decoded[3].rgba, &references[0]) < 12.0);
    // One file per original, format and quality; hits afterwards.
    assert_eq!(files_under(&nginx.path("cache")).len(), 5);
    assert_eq!(nginx.get("/avif/sunset.jpg").cache_status(), Some("HIT"));
    nginx.stop_and_check();
}

#[test]
fn auto_negotiates_avif_then_webp_then_the_original() {
    let nginx = Nginx::builder()
        .http(CACHE_HTTP)
        .server(&location(
            "/auto/",
            "image_filter_rs query; image_filter_rs_sizes 350x350 200x200; \
             image_filter_rs_format auto; image_filter_rs_avif_max_pixels 50000;",
        ))
        .server(&location(
            "/webp-only/",
            "image_filter_rs 200x200; image_filter_rs_format auto; \
             image_filter_rs_avif_max_pixels off;",
        ))
        .sample_media(&["sunset.jpg"])
        .start();
    let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
    // 200x133 = 26,600 output pixels, under the location's 50,000.
    let small = "/auto/sunset.jpg?w=200&h=200";
    let cases = [
        (Some(chrome), "image/avif"),
        (Some("image/avif;q=0.9, image/webp;q=0.5"), "image/avif"),
        (Some("image/avif;q=0.5, image/webp;q=0.9"), "image/webp"),
        (Some("image/webp,*/*"), "image/webp"),
        (Some("image/avif;q=0,image/webp"), "image/webp"),
        (Some("image/*,*/*"), "image/jpeg"),
        (None, "image/jpeg"),
    ];
    for (accept, want) in cases {
        let resp = get_with_accept(&nginx, small, accept);
        assert_eq!(resp.headers_named("Content-Type"), [want], "{accept:?}");
        assert_eq!(resp.headers_named("Vary"), ["Accept"], "{accept:?}");
        let sniffed = &resp.body[..12.min(resp.body.len())];
        let is_avif = sniffed.len() == 12 && &sniffed[4..12] == b"ftypavif";
        assert_eq!(
            is_avif,
            want == "image/avif",
            "{accept:?}: body {sniffed:02x?}"
        );
    }
    // AVIF with a WebP fallback, WebP, JPEG (and the q=0 request is a
    // WebP-only one): one file per answer the key can give.
    assert_eq!(files_under(&nginx.path("cache")).len(), 3);
    let again = get_with_accept(&nginx, small, Some(chrome));
    assert_eq!(again.cache_status(), Some("HIT"));
    assert_eq!(again.headers_named("Content-Type"), ["image/avif"]);

    // 350x233 = 81,550 pixels: over the limit, the fallback is written.
    let large = "/auto/sunset.jpg?w=350&h=350";
    let resp = get_with_accept(&nginx, large, Some(chrome));
    assert_eq!(resp.headers_named("Content-Type"), ["image/webp"]);
    assert_eq!(decode(&resp.body).dims(), (350, 233));
    let avif_only = get_with_accept(&nginx, large, Some("image/avif"));
    assert_eq!(avif_only.headers_named("Content-Type"), ["image/jpeg"]);
    // A cached fallback is served with its own type on a hit.
    let hit = get_with_accept(&nginx, large, Some(chrome));
    assert_eq!(hit.cache_status(), Some("HIT"));
    assert_eq!(hit.headers_named("Content-Type"), ["image/webp"]);
    assert_eq!(decode(&hit.body).format, image::ImageFormat::WebP);
    // Named, AVIF has no such limit.
    let named = get_with_accept(&nginx, "/auto/sunset.jpg?w=350&h=350&fm=avif", None);
    assert_eq!(named.headers_named("Content-Type"), ["image/avif"]);
    assert!(named.headers_named("Vary").is_empty());

    let off = get_with_accept(&nginx, "/webp-only/sunset.jpg", Some(chrome));
    assert_eq!(off.headers_named("Content-Type"), ["image/webp"]);
    nginx.stop_and_check();
}

#[test]
fn deep_and_transparent_avif_originals_come_out_as_avif() {
    let Some(shared) = paths::require_shared("deep_and_transparent_avif_originals") else {
        return;
    };
    let corpus = shared.join("corpus/valid/avif");
    let names = ["weld_sato_12B_8B_q0.avif", "transparency.avif"];
    let mut builder = Nginx::builder()
        .http(CACHE_HTTP)
        .server(&location(
            "/avif/",
            "image_filter_rs 64x64; image_filter_rs_format avif;",
        ))
        .server(&location(
            "/png/",
            "image_filter_rs 64x64; image_filter_rs_format png;",
        ));
    for name in names {
        builder = builder.copy_file(corpus.join(name), &format!("media/{name}"));
    }
    let nginx = builder.start();
    let mut avifs = Vec::new();
    let mut pngs = Vec::new();
    for name in names {
        let avif = nginx.get(&format!("/avif/{name}"));
        avif.assert_status(200);
        assert_eq!(avif.headers_named("Content-Type"), ["image/avif"], "{name}");
        let png = nginx.get(&format!("/png/{name}"));
        png.assert_status(200);
        pngs.push(decode(&png.body).image.to_rgba8());
        avifs.push(avif.body);
    }
    let decoded = decode_all(&[&avifs[0], &avifs[1]]);
    for (i, name) in names.into_iter().enumerate() {
        assert_eq!(decoded[i].rgba.dimensions(), pngs[i].dimensions(), "{name}");
        let difference = mean_difference(&decoded[i].rgba, &pngs[i]);
        assert!(difference < 6.0, "{name}: mean difference {difference:.2}");
    }
    assert_eq!(decoded[1].mode, "RGBA", "transparency.avif keeps its alpha");
    nginx.stop_and_check();
}
