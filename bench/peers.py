"""make bench-peers helpers, run with the venv's python (pyvips installed).

  peers.py originals PHOTOS OUT COUNT
      COUNT distinct JPEG originals of about 2 megapixels in OUT, named
      orig-NNNN.jpg, cut from the JPEG photos in PHOTOS: original i is a
      window of photo (i mod photos) whose size (55-100 % of each side) and
      position depend on i, scaled to 2 MP with Lanczos3 and saved at
      quality 90, baseline, no metadata. Deterministic: the same photos give
      the same files.

  peers.py vips SIZE jpeg|webp|avif QUALITY [--out DIR] FILE...
      The in-process reference: every FILE read into memory first, then
      pyvips `Image.thumbnail_buffer(data, SIZE, height=SIZE)` and
      `jpegsave_buffer(Q=...)` / `webpsave_buffer(Q=...)` /
      `heifsave_buffer(Q=..., compression="av1")` timed on each in
      turn, with libvips' operation cache off and one worker thread
      (VIPS_CONCURRENCY=1, set by the caller), as one pool thread of ours
      works. Prints the same line as `pipeline inproc`.
"""

import os
import statistics
import sys
import time

import pyvips

TARGET_PIXELS = 2_000_000
AVIF_EFFORT = 1


def is_jpeg(path):
    with open(path, "rb") as f:
        return f.read(3) == b"\xff\xd8\xff"


def save_jpeg(image, path, quality):
    try:
        image.jpegsave(path, Q=quality, keep="none")
    except pyvips.Error:
        # libvips before 8.15 spells "no metadata" as strip.
        image.jpegsave(path, Q=quality, strip=True)


def originals(photos, out, count):
    names = sorted(n for n in os.listdir(photos) if is_jpeg(os.path.join(photos, n)))
    if not names:
        sys.exit(f"peers.py: no JPEG photos in {photos}")
    os.makedirs(out, exist_ok=True)
    for p, name in enumerate(names):
        indices = range(p, count, len(names))
        if all(os.path.exists(os.path.join(out, f"orig-{i:04d}.jpg")) for i in indices):
            continue
        # autorotate: the originals are upright, without an orientation tag.
        photo = pyvips.Image.new_from_file(os.path.join(photos, name)).autorot()
        if photo.bands == 4:
            photo = photo.flatten()
        for k, i in enumerate(indices):
            frac = 0.55 + 0.45 * ((k * 7) % 19) / 18
            cw = max(16, int(photo.width * frac))
            ch = max(16, int(photo.height * frac))
            left = (photo.width - cw) * ((k * 5) % 11) // 10
            top = (photo.height - ch) * ((k * 3) % 7) // 6
            scale = (TARGET_PIXELS / (cw * ch)) ** 0.5
            window = photo.crop(left, top, cw, ch)
            small = window.resize(scale, kernel="lanczos3") if scale < 1 else window
            save_jpeg(small, os.path.join(out, f"orig-{i:04d}.jpg"), 90)
    print(f"{count} originals in {out}")


def vips(size, fmt, quality, files, out):
    pyvips.cache_set_max(0)
    inputs = []
    for f in files:
        with open(f, "rb") as fh:
            inputs.append(fh.read())
    walls, outputs = [], []
    cpu0 = time.process_time()
    for data in inputs:
        t0 = time.perf_counter()
        thumb = pyvips.Image.thumbnail_buffer(data, size, height=size)
        if fmt == "jpeg":
            try:
                body = thumb.jpegsave_buffer(Q=quality, keep="none")
            except pyvips.Error:
                body = thumb.jpegsave_buffer(Q=quality, strip=True)
        elif fmt == "webp":
            try:
                body = thumb.webpsave_buffer(Q=quality, keep="none")
            except pyvips.Error:
                body = thumb.webpsave_buffer(Q=quality, strip=True)
        else:
            # libvips's effort 0-9 is libaom's speed 9-0: effort 1 is the
            # module's default speed 8.
            body = thumb.heifsave_buffer(
                Q=quality, compression="av1", effort=AVIF_EFFORT, keep="none"
            )
        walls.append((time.perf_counter() - t0) * 1e3)
        outputs.append(body)
    cpu_ms = (time.process_time() - cpu0) * 1e3 / len(inputs)
    if out:
        os.makedirs(out, exist_ok=True)
        for f, body in zip(files, outputs):
            stem = os.path.splitext(os.path.basename(f))[0]
            with open(os.path.join(out, f"{stem}.{fmt}"), "wb") as fh:
                fh.write(body)
    print(
        f"images={len(walls)} median_ms={statistics.median(walls):.3f} "
        f"mean_ms={statistics.fmean(walls):.3f} cpu_ms={cpu_ms:.3f} "
        f"bytes={sum(map(len, outputs)) // len(outputs)}"
    )


def main(argv):
    if len(argv) == 4 and argv[0] == "originals":
        originals(argv[1], argv[2], int(argv[3]))
    elif len(argv) >= 5 and argv[0] == "vips" and argv[2] in ("jpeg", "webp", "avif"):
        rest, out = argv[4:], None
        if rest[:1] == ["--out"]:
            out, rest = rest[1], rest[2:]
        vips(int(argv[1]), argv[2], int(argv[3]), rest, out)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
