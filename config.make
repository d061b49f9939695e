# Makefile rules for the Rust part, appended by nginx's configure.
# cargo decides itself what needs rebuilding, so the rule always runs it.
#
# make runs these rules in the directory configure ran in, $(CURDIR). nginx-sys
# needs absolute paths (its build script runs elsewhere), so relative ones are
# anchored there; absolute ones are kept as they are, as with an absolute
# --builddir (Debian's dh nginx_mod build runs `make -C /usr/share/nginx/src`
# with the build directory outside the source tree).

ngx_image_filter_rs_abs() {
    case "$1" in
        /*) echo "$1" ;;
        *)  echo "\$(CURDIR)/$1" ;;
    esac
}

cat << END >> $NGX_MAKEFILE

.PHONY: $ngx_image_filter_rs_lib

$ngx_image_filter_rs_lib:
	NGINX_SOURCE_DIR="\$(CURDIR)" NGINX_BUILD_DIR="`ngx_image_filter_rs_abs "$NGX_OBJS"`" \\
	cargo rustc --release --lib --crate-type staticlib \\
		--manifest-path "$ngx_addon_dir/Cargo.toml" -p image-filter-rs \\
		--no-default-features $ngx_image_filter_rs_cargo_features \\
		--target-dir "`ngx_image_filter_rs_abs "$ngx_image_filter_rs_target"`"

$NGX_OBJS${ngx_dirsep}ngx_http_image_filter_rs_module$ngx_modext: $ngx_image_filter_rs_lib

END
