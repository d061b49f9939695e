#!/usr/bin/env python3
# The Pillow contestant of bench/pipeline.sh: one thumbnail the way Django's
# sorl-thumbnail and easy-thumbnails make them (draft() so libjpeg decodes at
# a reduced DCT scale, then thumbnail() / a cover-and-centre crop), written
# at the same JPEG quality as the other tools. Timed as a whole process, so
# interpreter start and the PIL import count, as they do for a worker that
# shells out; a long-lived Django worker would not pay them.
#
# usage: pillow_thumb.py PHOTO fit|crop SIZE QUALITY OUT
import math
import sys

from PIL import Image, ImageOps


def main():
    photo, mode, size, quality, out = sys.argv[1:6]
    size = int(size)
    box = (size, size)
    im = Image.open(photo)
    if mode == "fit":
        # draft() picks the largest DCT scale that still keeps the image at
        # least as large as the box, as Image.thumbnail() itself would.
        im.draft("RGB" if im.mode != "RGBA" else None, box)
        im.thumbnail(box)
    elif mode == "crop":
        # Cover the box: the draft must keep the *shorter* side >= size.
        w, h = im.size
        scale = max(size / w, size / h)
        im.draft("RGB" if im.mode != "RGBA" else None,
                 (math.ceil(w * scale), math.ceil(h * scale)))
        im = ImageOps.fit(im, box)
    else:
        sys.exit("mode must be fit or crop")
    if out.lower().endswith(".png"):
        im.save(out, "PNG")
    else:
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        im.save(out, "JPEG", quality=int(quality))


if __name__ == "__main__":
    main()
