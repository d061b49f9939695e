#!/usr/bin/env bash
# make bench-animation: a 100-frame animated GIF resized, our module against
# gifsicle --resize (Debian's gifsicle) and vips thumbnail (Debian's libvips
# CLI), whole request or whole process, time and bytes.
# The GIF is made here: 100 frames of 480x270 panning across a photo
# (vips crop + resize, gifsave per frame; gifsicle joins them at 40 ms a
# frame, looping). Each contestant fits it into 240x240 (240x135), ROUNDS
# times, alternating; ours through build/sbin/nginx with the module (2
# workers, no cache: every request makes the animation again) to GIF and to
# animated WebP. Every output is checked to hold 100 frames.
# Knobs: PHOTOS, ANIM_PHOTO, ROUNDS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

photo=${ANIM_PHOTO:-elephants.jpg}
rounds=${ROUNDS:-5}
frames=100

need_photos
need_module_build
need_packages curl gifsicle libvips-tools
build_bench
[ -f "$PHOTOS/$photo" ] || die "no $PHOTOS/$photo (set ANIM_PHOTO)"

root=$(pwd)
work="$root/build/bench/animation"
rm -rf "$work"
mkdir -p "$work/frames" "$work/out"

# The original: a pan across the photo's middle, 1920x1080 windows scaled
# to a quarter.
read -r width height < <(vipsheader -f width "$PHOTOS/$photo" | tr '\n' ' '; vipsheader -f height "$PHOTOS/$photo")
[ "$width" -ge 2400 ] && [ "$height" -ge 1080 ] || die "$photo is smaller than 2400x1080"
for ((i = 0; i < frames; i++)); do
    left=$(((width - 1920) * i / (frames - 1)))
    top=$(((height - 1080) / 2))
    vips crop "$PHOTOS/$photo" "$work/frames/window.v" "$left" "$top" 1920 1080
    vips resize "$work/frames/window.v" "$work/frames/$(printf '%03d' "$i").gif" 0.25
done
rm -f "$work/frames/window.v"
gifsicle --delay 4 --loopcount=forever "$work"/frames/*.gif >"$work/anim.gif"
original_bytes=$(stat -c %s "$work/anim.gif")

# frames_of FILE: how many frames an output holds.
frames_of() {
    case $1 in
    *.gif) gifsicle --info "$1" | sed -n 's/.* \([0-9]*\) images.*/\1/p' ;;
    *.webp) grep -c ANMF <(od -A n -c "$1" | tr -d ' \n' | sed 's/ANMF/\nANMF\n/g') ;;
    esac
}

prefix="$work/nginx"
fresh_prefix "$prefix"
port=$("$BENCH_BIN/loadgen" free-port)
conf="$prefix/conf/nginx.conf"
{
    module_conf_head "$prefix"
    cat <<CONF
    server {
        listen 127.0.0.1:$port;
        location /gif/ { alias $work/; image_filter_rs 240x240; }
        location /webp/ { alias $work/; image_filter_rs 240x240; image_filter_rs_format webp; }
    }
}
CONF
} >"$conf"
start_nginx build/sbin/nginx "$prefix" "$conf" "$port"
trap stop_all_nginx EXIT

# now_ms: wall clock in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# run NAME OUTPUT COMMAND...: times one run; records ms and bytes.
declare -A MS BYTES
run() {
    local name=$1 out=$2 start end
    shift 2
    start=$(now_ms)
    "$@" >/dev/null
    end=$(now_ms)
    MS[$name]+=" $((end - start))"
    BYTES[$name]=$(stat -c %s "$out")
    local got
    got=$(frames_of "$out")
    [ "$got" = "$frames" ] || die "$name wrote $got frames, not $frames"
}

contestants=(ours-gif ours-webp gifsicle vips-gif vips-webp)
one() {
    case $1 in
    ours-gif) run "$1" "$work/out/ours.gif" curl -sf -o "$work/out/ours.gif" "http://127.0.0.1:$port/gif/anim.gif" ;;
    ours-webp) run "$1" "$work/out/ours.webp" curl -sf -o "$work/out/ours.webp" "http://127.0.0.1:$port/webp/anim.gif" ;;
    gifsicle) run "$1" "$work/out/gifsicle.gif" gifsicle --resize 240x135 "$work/anim.gif" -o "$work/out/gifsicle.gif" ;;
    vips-gif) run "$1" "$work/out/vips.gif" vips thumbnail "$work/anim.gif[n=-1]" "$work/out/vips.gif" 240 ;;
    vips-webp) run "$1" "$work/out/vips.webp" vips thumbnail "$work/anim.gif[n=-1]" "$work/out/vips.webp" 240 ;;
    esac
}

echo "bench-animation: $frames frames of 480x270 from $photo ($original_bytes bytes of GIF), fit into 240x240;"
echo "$rounds rounds alternating the order; whole request (ours, curl) or whole process (the others)."
echo "machine load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then order=("${contestants[@]}"); else order=(vips-webp vips-gif gifsicle ours-webp ours-gif); fi
    for who in "${order[@]}"; do one "$who"; done
done

echo
echo "| contestant | ms (median of $rounds) | bytes | ms / ours-gif | bytes / ours-gif |"
echo "|---|---|---|---|---|"
base_ms=$(median ${MS[ours-gif]})
for who in "${contestants[@]}"; do
    # shellcheck disable=SC2086
    m=$(median ${MS[$who]})
    echo "| $who | $m | ${BYTES[$who]} | $(ratio "$m" "$base_ms") | $(ratio "${BYTES[$who]}" "${BYTES[ours-gif]}") |"
done
