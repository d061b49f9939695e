//! The URL API's configuration: named presets (`image_filter_rs_preset`),
//! the sizes allow-list (`image_filter_rs_sizes`) and the signing keys
//! (`image_filter_rs_secret`).
//!
//! A preset is a django-imagekit spec in one line: a size, a fit mode and
//! the adjustments of imagekit's `Adjustment` processor, for example
//! `image_filter_rs_preset thumbnail 100x75 crop contrast=1.2 sharpness=1.1;`.
//! It also takes image_filter's own steps: `rotate=90|180|270` (counter-
//! clockwise), `flip=h|v`, `sharpen=PERCENT` (libgd's, as
//! `image_filter_sharpen`) and `blur=SIGMA`.

use core::ffi::{c_char, c_void};
use std::rc::Rc;

use ngx::core::NGX_CONF_OK;
use ngx::ffi::{ngx_command_t, ngx_conf_t};
use thumbnailer::adjust::{parse_blur, parse_factor, parse_sharpen, Adjustments};
use thumbnailer::{Fit, Flip, Geometry, Gravity, Rotation};

use crate::conf::{
    directive_handler, geometry, guarded, parse_decimal, parse_fit, parse_format, Directive,
    FormatChoice, LocationConf, MainConf, DUPLICATE,
};

/// One `image_filter_rs_preset`.
#[derive(Debug)]
pub struct Preset {
    pub name: String,
    /// The box, fit and gravity, and the `rotate=` and `flip=` keys
    /// (`geometry.rotate`, `geometry.flip`).
    pub geometry: Geometry,
    /// The colour adjustments, and the `sharpen=` and `blur=` keys
    /// (`adjust.sharpen`, `adjust.blur`).
    pub adjust: Adjustments,
    pub quality: Option<u8>,
    pub format: Option<FormatChoice>,
    /// `frame=0`: a still of an animation's first frame.
    pub still: bool,
}

/// `image_filter_rs_sizes`: the sizes a request may ask for.
#[derive(Debug)]
pub struct SizeRule {
    pub sizes: Vec<(Option<u32>, Option<u32>)>,
    /// Serve the nearest allowed size not smaller than asked, instead of 400.
    pub snap: bool,
}

/// Preset names share the directive with sizes and keywords, so they are
/// plain words that cannot be mistaken for either.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
        && name.first().is_some_and(u8::is_ascii_alphabetic)
        && !matches!(
            name,
            b"off" | b"query" | b"size" | b"test" | b"easy_thumbnails" | b"versatileimagefield"
        )
}

directive_handler!(pub cmd_preset, MainConf, |d, mcf| || match parse_preset(&mut d) {
    Ok(preset) => {
        if mcf.presets.iter().any(|p| p.name == preset.name) {
            let name = preset.name.clone();
            return d.error(format_args!("duplicate image_filter_rs preset \"{name}\""));
        }
        mcf.presets.push(Box::new(preset));
        NGX_CONF_OK
    }
    Err(rv) => rv,
});

fn parse_preset(d: &mut Directive<'_>) -> Result<Preset, *mut c_char> {
    let args = d.args;
    let name = args[0];
    if !valid_name(name.as_bytes()) {
        return Err(d.invalid(&name));
    }
    let size = args[1];
    let (width, height) = size
        .to_str()
        .ok()
        .and_then(|s| Geometry::parse_size(s).ok())
        .ok_or_else(|| d.invalid(&size))?;
    let mut rest = &args[2..];
    let mut fit = Fit::Fit;
    if let Some(mode) = rest.first().and_then(|m| parse_fit(m.as_bytes())) {
        fit = mode;
        rest = &rest[1..];
    }
    let mut preset = Preset {
        name: String::from_utf8_lossy(name.as_bytes()).into_owned(),
        geometry: geometry(width, height, fit),
        adjust: Adjustments::default(),
        quality: None,
        format: None,
        still: false,
    };
    for arg in rest {
        let text = arg.to_str().map_err(|_| d.invalid(arg))?;
        let (key, value) = text.split_once('=').unwrap_or((text, ""));
        let ok = match (key, value) {
            ("grayscale", "") => {
                preset.adjust.grayscale = true;
                true
            }
            ("contrast", v) => set(&mut preset.adjust.contrast, parse_factor(v)),
            ("brightness", v) => set(&mut preset.adjust.brightness, parse_factor(v)),
            ("saturation", v) => set(&mut preset.adjust.saturation, parse_factor(v)),
            ("sharpness", v) => set(&mut preset.adjust.sharpness, parse_factor(v)),
            ("quality", v) => set(
                &mut preset.quality,
                parse_decimal(v.as_bytes())
                    .filter(|q| (1..=100).contains(q))
                    .map(|q| q as u8),
            ),
            ("format", v) => set(&mut preset.format, parse_format(v.as_bytes())),
            ("rotate", v) => match v {
                "90" | "180" | "270" => {
                    preset.geometry.rotate = v
                        .parse()
                        .ok()
                        .and_then(Rotation::from_degrees)
                        .unwrap_or_default();
                    true
                }
                _ => false,
            },
            ("flip", v) => match Flip::parse(v) {
                Some(flip) => {
                    preset.geometry.flip = flip;
                    true
                }
                None => false,
            },
            ("sharpen", v) => match parse_sharpen(v) {
                Some(percent) => {
                    preset.adjust.sharpen = percent;
                    true
                }
                None => false,
            },
            ("blur", v) => set(&mut preset.adjust.blur, parse_blur(v)),
            ("frame", "0") => {
                preset.still = true;
                true
            }
            ("gravity", v) => match parse_gravity(v) {
                Some(gravity) => {
                    preset.geometry.gravity = gravity;
                    true
                }
                None => false,
            },
            _ => false,
        };
        if !ok {
            return Err(d.invalid(arg));
        }
    }
    Ok(preset)
}

fn set<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    match value {
        Some(v) => {
            *slot = Some(v);
            true
        }
        None => false,
    }
}

fn parse_gravity(v: &str) -> Option<Gravity> {
    Some(match v {
        "center" => Gravity::Center,
        "n" => Gravity::North,
        "ne" => Gravity::NorthEast,
        "e" => Gravity::East,
        "se" => Gravity::SouthEast,
        "s" => Gravity::South,
        "sw" => Gravity::SouthWest,
        "w" => Gravity::West,
        "nw" => Gravity::NorthWest,
        "smart" => Gravity::Smart,
        _ => return None,
    })
}

directive_handler!(pub cmd_sizes, LocationConf, |d, lcf| || {
    if lcf.sizes.is_some() {
        return DUPLICATE;
    }
    let mut rule = SizeRule {
        sizes: Vec::new(),
        snap: false,
    };
    for arg in d.args {
        if arg.as_bytes() == b"snap" {
            rule.snap = true;
            continue;
        }
        match arg.to_str().ok().and_then(|s| Geometry::parse_size(s).ok()) {
            Some(size) => rule.sizes.push(size),
            None => return d.invalid(arg),
        }
    }
    if rule.sizes.is_empty() {
        return d.invalid(&d.args[0]);
    }
    lcf.sizes = Some(Rc::new(rule));
    NGX_CONF_OK
});

directive_handler!(pub cmd_secret, LocationConf, |d, lcf| || {
    if lcf.secrets.is_some() {
        return DUPLICATE;
    }
    let mut keys = Vec::new();
    for arg in d.args {
        // Short keys make signatures guessable.
        if arg.len < 16 {
            let name = d.name;
            return d.error(format_args!(
                "\"{name}\" keys must be at least 16 characters long"
            ));
        }
        keys.push(arg.as_bytes().to_vec());
    }
    lcf.secrets = Some(Rc::new(keys));
    NGX_CONF_OK
});
