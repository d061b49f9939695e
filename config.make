# Makefile rules for the Rust part, appended by nginx's configure.
# cargo decides itself what needs rebuilding, so the rule always runs it.

cat << END >> $NGX_MAKEFILE

.PHONY: $ngx_image_filter_rs_lib

$ngx_image_filter_rs_lib:
	NGINX_SOURCE_DIR="\$(CURDIR)" NGINX_BUILD_DIR="\$(CURDIR)/$NGX_OBJS" \\
	cargo rustc --release --lib --crate-type staticlib \\
		--manifest-path "$ngx_addon_dir/Cargo.toml" -p image-filter-rs \\
		--no-default-features \\
		--target-dir "\$(CURDIR)/$ngx_image_filter_rs_target"

$NGX_OBJS${ngx_dirsep}ngx_http_image_filter_rs_module$ngx_modext: $ngx_image_filter_rs_lib

END
