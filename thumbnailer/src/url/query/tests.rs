//! Every parameter's accepted spellings and the refusals around them.

use super::*;
use crate::error::ErrorClass;

fn ok(args: &str) -> QueryParams {
    parse_query(args.as_bytes()).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn with(f: impl Fn(&mut QueryParams)) -> QueryParams {
    let mut q = QueryParams::default();
    f(&mut q);
    q
}

#[test]
fn accepted_table() {
    let table: Vec<(&str, QueryParams)> = vec![
        ("", QueryParams::default()),
        ("&&", QueryParams::default()),
        (
            "w=350&h=350",
            with(|q| {
                q.width = Some(350);
                q.height = Some(350);
            }),
        ),
        ("w=1", with(|q| q.width = Some(1))),
        ("h=65535", with(|q| q.height = Some(65535))),
        ("w=%33%35%30", with(|q| q.width = Some(350))),
        ("%77=7", with(|q| q.width = Some(7))),
        (
            "w=350&&h=2&",
            with(|q| {
                q.width = Some(350);
                q.height = Some(2);
            }),
        ),
        ("fit=fit", with(|q| q.fit = Some(Fit::Fit))),
        ("fit=crop", with(|q| q.fit = Some(Fit::Crop))),
        ("fit=fill", with(|q| q.fit = Some(Fit::Fill))),
        ("fit=pad", with(|q| q.fit = Some(Fit::Pad))),
        ("fit=force", with(|q| q.fit = Some(Fit::Force))),
        ("g=center", with(|q| q.gravity = Some(Gravity::Center))),
        ("g=n", with(|q| q.gravity = Some(Gravity::North))),
        ("g=ne", with(|q| q.gravity = Some(Gravity::NorthEast))),
        ("g=e", with(|q| q.gravity = Some(Gravity::East))),
        ("g=se", with(|q| q.gravity = Some(Gravity::SouthEast))),
        ("g=s", with(|q| q.gravity = Some(Gravity::South))),
        ("g=sw", with(|q| q.gravity = Some(Gravity::SouthWest))),
        ("g=w", with(|q| q.gravity = Some(Gravity::West))),
        ("g=nw", with(|q| q.gravity = Some(Gravity::NorthWest))),
        ("g=smart", with(|q| q.gravity = Some(Gravity::Smart))),
        (
            "fp=0.25,0.75",
            with(|q| {
                q.focal = Some(Focal {
                    x_milli: 250,
                    y_milli: 750,
                })
            }),
        ),
        (
            "fp=0,1",
            with(|q| {
                q.focal = Some(Focal {
                    x_milli: 0,
                    y_milli: 1000,
                })
            }),
        ),
        (
            "fp=1.000,0.001",
            with(|q| {
                q.focal = Some(Focal {
                    x_milli: 1000,
                    y_milli: 1,
                })
            }),
        ),
        (
            "fp=0.5%2C0.5",
            with(|q| {
                q.focal = Some(Focal {
                    x_milli: 500,
                    y_milli: 500,
                })
            }),
        ),
        ("q=1", with(|q| q.quality = Some(1))),
        ("q=100", with(|q| q.quality = Some(100))),
        ("fm=jpeg", with(|q| q.format = Some(FormatParam::Jpeg))),
        ("fm=png", with(|q| q.format = Some(FormatParam::Png))),
        ("fm=webp", with(|q| q.format = Some(FormatParam::Webp))),
        ("fm=avif", with(|q| q.format = Some(FormatParam::Avif))),
        ("fm=gif", with(|q| q.format = Some(FormatParam::Gif))),
        ("fm=auto", with(|q| q.format = Some(FormatParam::Auto))),
        (
            "fm=thumbhash",
            with(|q| q.format = Some(FormatParam::Placeholder(Placeholder::Thumbhash))),
        ),
        (
            "fm=blurhash",
            with(|q| q.format = Some(FormatParam::Placeholder(Placeholder::DEFAULT_BLURHASH))),
        ),
        (
            "fm=blurhash&x=9&y=1",
            with(|q| {
                q.format = Some(FormatParam::Placeholder(Placeholder::Blurhash {
                    x: 9,
                    y: 1,
                }))
            }),
        ),
        (
            "y=2&fm=blurhash",
            with(|q| {
                q.format = Some(FormatParam::Placeholder(Placeholder::Blurhash {
                    x: 4,
                    y: 2,
                }))
            }),
        ),
        (
            "fm=color",
            with(|q| q.format = Some(FormatParam::Placeholder(Placeholder::Color))),
        ),
        (
            "fm=lqip",
            with(|q| q.format = Some(FormatParam::Placeholder(Placeholder::Lqip))),
        ),
        ("dpr=1", with(|q| q.dpr = Some(100))),
        ("dpr=1.5", with(|q| q.dpr = Some(150))),
        ("dpr=2.25", with(|q| q.dpr = Some(225))),
        ("dpr=4", with(|q| q.dpr = Some(400))),
        ("dpr=4.00", with(|q| q.dpr = Some(400))),
        ("p=small_2-x", with(|q| q.preset = Some("small_2-x".into()))),
        (
            "p=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            with(|q| q.preset = Some("a".repeat(64))),
        ),
        (
            "s=2V5jY2MWHlOSN1sHKCQTekX0IZqjuSGD5vQS5NVFklc",
            with(|q| q.signature = Some("2V5jY2MWHlOSN1sHKCQTekX0IZqjuSGD5vQS5NVFklc".into())),
        ),
        // Not base64url: still parsed, so the verifier refuses it (403).
        (
            "s=garbage!!",
            with(|q| q.signature = Some("garbage!!".into())),
        ),
        ("s=", with(|q| q.signature = Some(String::new()))),
        (
            "s=a-_b&p=x&dpr=2&fm=auto&q=80&fp=0.1,0.2&g=nw&fit=pad&h=2&w=1",
            QueryParams {
                width: Some(1),
                height: Some(2),
                fit: Some(Fit::Pad),
                gravity: Some(Gravity::NorthWest),
                focal: Some(Focal {
                    x_milli: 100,
                    y_milli: 200,
                }),
                quality: Some(80),
                format: Some(FormatParam::Auto),
                dpr: Some(200),
                preset: Some("x".into()),
                signature: Some("a-_b".into()),
                ..QueryParams::default()
            },
        ),
        ("r=90", with(|q| q.rotate = Some(Rotation::Ccw90))),
        ("r=180", with(|q| q.rotate = Some(Rotation::Ccw180))),
        ("r=270", with(|q| q.rotate = Some(Rotation::Ccw270))),
        ("flip=h", with(|q| q.flip = Some(Flip::Horizontal))),
        ("flip=v", with(|q| q.flip = Some(Flip::Vertical))),
        ("sharpen=1", with(|q| q.sharpen = Some(1))),
        ("sharpen=100", with(|q| q.sharpen = Some(100))),
        ("sharpen=1000", with(|q| q.sharpen = Some(1000))),
        ("blur=0.3", with(|q| q.blur = Some(3))),
        ("blur=2", with(|q| q.blur = Some(20))),
        ("blur=2.5", with(|q| q.blur = Some(25))),
        ("blur=100", with(|q| q.blur = Some(1000))),
        ("info=1", with(|q| q.info = true)),
        (
            "info=1&blur=1.5&sharpen=50&flip=v&r=270&w=9",
            with(|q| {
                q.width = Some(9);
                q.rotate = Some(Rotation::Ccw270);
                q.flip = Some(Flip::Vertical);
                q.sharpen = Some(50);
                q.blur = Some(15);
                q.info = true;
            }),
        ),
    ];
    for (args, want) in table {
        assert_eq!(ok(args), want, "{args:?}");
    }
}

#[test]
fn rejected_table() {
    let table: &[(&str, &str)] = &[
        ("z=1", "unknown parameter \"z\""),
        ("W=1", "unknown parameter \"W\""),
        ("=1", "unknown parameter \"\""),
        ("width=1", "unknown parameter \"width\""),
        ("w=1&w=1", "repeated parameter \"w\""),
        ("w=1&%77=2", "repeated parameter \"w\""),
        ("s=a&s=a", "repeated parameter \"s\""),
        ("w=", "empty value for \"w\""),
        ("w", "empty value for \"w\""),
        ("w=%", "malformed percent-encoding in \"w\""),
        ("w=%3", "malformed percent-encoding in \"w\""),
        ("w=%zz", "malformed percent-encoding in \"w\""),
        ("%7=1", "malformed percent-encoding in \"%7\""),
        ("w=1e3", "invalid value for \"w\""),
        ("fm=blurhash&x=0", "invalid value for \"x\""),
        ("fm=blurhash&y=10", "invalid value for \"y\""),
        (
            "x=4",
            "\"x\" and \"y\" are BlurHash components: only with fm=blurhash",
        ),
        (
            "fm=thumbhash&y=3",
            "\"x\" and \"y\" are BlurHash components: only with fm=blurhash",
        ),
        ("w=0x10", "invalid value for \"w\""),
        ("w=-1", "invalid value for \"w\""),
        ("w=+100", "invalid value for \"w\""),
        ("w=100abc", "invalid value for \"w\""),
        ("w=0350", "invalid value for \"w\""),
        ("w=0", "invalid value for \"w\""),
        ("w=65536", "invalid value for \"w\""),
        ("w=99999999999999999999", "invalid value for \"w\""),
        ("w=1.5", "invalid value for \"w\""),
        ("w=1.", "invalid value for \"w\""),
        ("w= 1", "invalid value for \"w\""),
        ("w=1+", "invalid value for \"w\""),
        ("w=%EF%BC%91", "invalid value for \"w\""), // fullwidth digit one
        ("h=0", "invalid value for \"h\""),
        ("fit=Crop", "invalid value for \"fit\""),
        ("fit=cover", "invalid value for \"fit\""),
        ("g=north", "invalid value for \"g\""),
        ("g=c", "invalid value for \"g\""),
        ("fp=0.5", "invalid value for \"fp\""),
        ("fp=0.5,", "invalid value for \"fp\""),
        ("fp=,0.5", "invalid value for \"fp\""),
        ("fp=0.5,0.5,0.5", "invalid value for \"fp\""),
        ("fp=1.001,0", "invalid value for \"fp\""),
        ("fp=0.1234,0", "invalid value for \"fp\""),
        ("fp=.5,.5", "invalid value for \"fp\""),
        ("fp=-0.1,0", "invalid value for \"fp\""),
        ("fp=2,0", "invalid value for \"fp\""),
        ("q=0", "invalid value for \"q\""),
        ("q=101", "invalid value for \"q\""),
        ("q=080", "invalid value for \"q\""),
        ("fm=jpg", "invalid value for \"fm\""),
        ("fm=JPEG", "invalid value for \"fm\""),
        ("dpr=0.99", "invalid value for \"dpr\""),
        ("dpr=4.01", "invalid value for \"dpr\""),
        ("dpr=1.125", "invalid value for \"dpr\""),
        ("dpr=01", "invalid value for \"dpr\""),
        ("dpr=1e0", "invalid value for \"dpr\""),
        ("p=a.b", "invalid value for \"p\""),
        ("r=0", "invalid value for \"r\""),
        ("r=45", "invalid value for \"r\""),
        ("r=360", "invalid value for \"r\""),
        ("r=-90", "invalid value for \"r\""),
        ("r=090", "invalid value for \"r\""),
        ("r=90.0", "invalid value for \"r\""),
        ("r=90&r=90", "repeated parameter \"r\""),
        ("r=", "empty value for \"r\""),
        ("rotate=90", "unknown parameter \"rotate\""),
        ("flip=H", "invalid value for \"flip\""),
        ("flip=hv", "invalid value for \"flip\""),
        ("flip=x", "invalid value for \"flip\""),
        ("flip=h&flip=v", "repeated parameter \"flip\""),
        ("sharpen=0", "invalid value for \"sharpen\""),
        ("sharpen=1001", "invalid value for \"sharpen\""),
        ("sharpen=050", "invalid value for \"sharpen\""),
        ("sharpen=1.5", "invalid value for \"sharpen\""),
        ("sharpen=-1", "invalid value for \"sharpen\""),
        ("blur=0", "invalid value for \"blur\""),
        ("blur=0.2", "invalid value for \"blur\""),
        ("blur=100.1", "invalid value for \"blur\""),
        ("blur=101", "invalid value for \"blur\""),
        ("blur=1.25", "invalid value for \"blur\""),
        ("blur=.5", "invalid value for \"blur\""),
        ("blur=1e1", "invalid value for \"blur\""),
        ("blur=nan", "invalid value for \"blur\""),
        ("info=0", "invalid value for \"info\""),
        ("info=true", "invalid value for \"info\""),
        ("info=01", "invalid value for \"info\""),
        ("info=", "empty value for \"info\""),
        ("info", "empty value for \"info\""),
        ("info=1&info=1", "repeated parameter \"info\""),
        ("p=a%20b", "invalid value for \"p\""),
        (
            "p=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "invalid value for \"p\"",
        ),
    ];
    for &(args, want) in table {
        let err = parse_query(args.as_bytes()).expect_err(args);
        assert_eq!(err.class(), ErrorClass::BadRequest, "{args:?}");
        assert_eq!(err.to_string(), want, "{args:?}");
    }
}

#[test]
fn error_names_are_escaped_and_cut_short() {
    let long = format!("{}=1", "k".repeat(1000));
    let err = parse_query(long.as_bytes()).unwrap_err().to_string();
    assert!(err.len() < 60, "{err}");
    let err = parse_query(b"a\"%0A\xff=1").unwrap_err().to_string();
    assert_eq!(err, "unknown parameter \"a\\\"\\n\u{fffd}\"");
}
