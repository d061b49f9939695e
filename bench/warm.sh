#!/usr/bin/env bash
# make bench-warm: pre-generation throughput, as a Django site's warmer would
# drive it. The warm command (target/release/image-filter-rs) fills an empty
# cache with django-versatileimagefield's key set: 180, 220 and 320 square
# crops plus a 1024 fit of every photo, with `image_filter_rs_decode_cache`
# on (the sizes of one original share its decode) and off (each decodes on
# its own), alternating, ROUNDS times each, on a fresh cache every time.
# Prints renditions per second of both and their ratio (medians).
# Knobs: PHOTOS, ROUNDS, CONCURRENCY (the warm command's, default: cores).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

rounds=${ROUNDS:-3}
concurrency=${CONCURRENCY:-$(nproc)}

need_photos
need_module_build
build_bench
cargo build --release --quiet -p image-filter-rs-cli
warm=target/release/image-filter-rs
[ -x "$warm" ] || die "$warm missing"

root=$(pwd)
originals=$(find "$PHOTOS" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.png' \) | wc -l)
[ "$originals" -gt 0 ] || die "no photos in $PHOTOS"
renditions=$((originals * 4))

# run_once on|off: one warm of an empty cache; prints "seconds made".
run_once() {
    local cache=$1 prefix="$root/build/bench/warm-$1" port conf
    fresh_prefix "$prefix"
    port=$("$BENCH_BIN/loadgen" free-port)
    conf="$prefix/conf/nginx.conf"
    {
        module_conf_head "$prefix"
        if [ "$cache" = off ]; then echo "    image_filter_rs_decode_cache off;"; fi
        cat <<CONF
    image_filter_rs_cache_path $prefix/cache keys_zone=thumbs:10m levels=1:2;
    image_filter_rs_memory 1g;
    server {
        listen 127.0.0.1:$port;
        location /v/ {
            alias $PHOTOS/;
            image_filter_rs query;
            image_filter_rs_sizes 180x180 220x220 320x320 1024x-;
            image_filter_rs_cache thumbs;
            add_header X-Image-Filter-Cache \$image_filter_rs_cache_status always;
        }
    }
}
CONF
    } >"$conf"
    start_nginx build/sbin/nginx "$prefix" "$conf" "$port"
    local base="http://127.0.0.1:$port/v/" start end out made
    start=$(date +%s.%N)
    out=$(find "$PHOTOS" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.png' \) -printf '%f\n' |
        "$warm" warm --root - --concurrency "$concurrency" \
            "$base?w=180&h=180&fit=crop" "$base?w=220&h=220&fit=crop" \
            "$base?w=320&h=320&fit=crop" "$base?w=1024") || die "warm failed ($cache): $out"
    end=$(date +%s.%N)
    made=$(sed -n 's/^made: \([0-9]*\).*/\1/p' <<<"$out")
    [ "$made" = "$renditions" ] || die "decode cache $cache: made $made of $renditions: $out"
    stop_all_nginx
    awk -v a="$start" -v b="$end" -v m="$made" 'BEGIN { printf "%.3f %d\n", b - a, m }'
}

trap stop_all_nginx EXIT
echo "warm: $originals photos of $PHOTOS x 4 renditions (180, 220, 320 crops, 1024 fit),"
echo "concurrency $concurrency, 2 workers, empty cache each run, $rounds rounds, on/off alternating"
echo "machine load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
on_rates=()
off_rates=()
for ((i = 1; i <= rounds; i++)); do
    for cache in on off; do
        read -r seconds made < <(run_once "$cache")
        rate=$(awk -v m="$made" -v s="$seconds" 'BEGIN { printf "%.2f", m / s }')
        echo "round $i, decode cache $cache: $made renditions in $seconds s = $rate renditions/s"
        if [ "$cache" = on ]; then on_rates+=("$rate"); else off_rates+=("$rate"); fi
    done
done
on=$(median "${on_rates[@]}")
off=$(median "${off_rates[@]}")
echo "median renditions/s: decode cache on $on, off $off; on/off $(ratio "$on" "$off")"
