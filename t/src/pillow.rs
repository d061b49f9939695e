//! Pillow as an independent decoder of the formats the `image` crate here
//! does not read (AVIF): a venv of its own under build/ made by
//! tools/test-venv.sh, then one Python process for a batch of bodies.

use std::io::Write;
use std::process::{Command, Stdio};

use image::RgbaImage;

use crate::paths;

/// Pillow 11.3 reads AVIF with the libavif its wheel carries (dav1d and
/// libaom inside), so it shares no code with the module's Debian libavif.
const REQUIREMENT: &str = "Pillow==11.3.0";

/// What Pillow made of one body: its format name, mode and pixels as RGBA.
pub struct PillowImage {
    pub format: String,
    pub mode: String,
    pub rgba: RgbaImage,
}

/// Decodes every body with Pillow; panics with Pillow's message when one
/// does not decode.
pub fn decode_all(bodies: &[&[u8]]) -> Vec<PillowImage> {
    let script = paths::repo_root().join("tools/test-venv.sh");
    let out = Command::new(&script)
        .args(["pillow-venv", REQUIREMENT])
        .output()
        .expect("run tools/test-venv.sh");
    assert!(
        out.status.success(),
        "tools/test-venv.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = String::from_utf8(out.stdout).expect("a path");
    let python = std::path::Path::new(bin.trim()).join("python");
    // Input: a 4-byte big-endian length, then the body, per image. Output
    // per image: one header line "FORMAT MODE W H", then W*H*4 bytes.
    let program = r#"
import io, sys
from PIL import Image
data = sys.stdin.buffer.read()
out = sys.stdout.buffer
at = 0
while at < len(data):
    n = int.from_bytes(data[at:at + 4], "big")
    body = data[at + 4:at + 4 + n]
    at += 4 + n
    im = Image.open(io.BytesIO(body))
    im.load()
    rgba = im.convert("RGBA")
    out.write(f"{im.format} {im.mode} {im.width} {im.height}\n".encode())
    out.write(rgba.tobytes())
"#;
    let mut child = Command::new(python)
        .args(["-c", program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start Pillow");
    let mut input = Vec::new();
    for body in bodies {
        input.extend_from_slice(&(body.len() as u32).to_be_bytes());
        input.extend_from_slice(body);
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("Pillow ran");
    writer.join().expect("writer").expect("write to Pillow");
    assert!(
        out.status.success(),
        "Pillow could not decode a body:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut images = Vec::new();
    let mut rest = &out.stdout[..];
    while !rest.is_empty() {
        let newline = rest
            .iter()
            .position(|&b| b == b'\n')
            .expect("a header line");
        let header = String::from_utf8_lossy(&rest[..newline]).into_owned();
        let fields: Vec<&str> = header.split(' ').collect();
        let (w, h): (u32, u32) = (fields[2].parse().unwrap(), fields[3].parse().unwrap());
        let len = (w * h * 4) as usize;
        let pixels = rest[newline + 1..newline + 1 + len].to_vec();
        rest = &rest[newline + 1 + len..];
        images.push(PillowImage {
            format: fields[0].to_string(),
            mode: fields[1].to_string(),
            rgba: RgbaImage::from_raw(w, h, pixels).expect("w*h*4 bytes"),
        });
    }
    assert_eq!(images.len(), bodies.len());
    images
}

/// Mean absolute difference per sample of two RGBA images of one size,
/// colours weighted by their alpha (what lies under a transparent pixel is
/// invisible, and an encoder need not keep it).
pub fn mean_difference(a: &RgbaImage, b: &RgbaImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let premultiplied = |p: &image::Rgba<u8>| {
        let alpha = u32::from(p[3]);
        [0, 1, 2]
            .map(|c| (u32::from(p[c]) * alpha + 127) / 255)
            .into_iter()
            .chain([alpha])
    };
    let sum: u64 = a
        .pixels()
        .zip(b.pixels())
        .flat_map(|(x, y)| premultiplied(x).zip(premultiplied(y)))
        .map(|(x, y)| u64::from(x.abs_diff(y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}
