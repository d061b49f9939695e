//! The table of the module's directives: each name, the blocks it may
//! appear in, how many arguments it takes, and the parser (in `conf.rs` or
//! `presets.rs`) that reads it.

use core::ffi::{c_char, c_void};
use core::ptr;

use ngx::ffi::{
    ngx_command_t, ngx_conf_t, ngx_str_t, ngx_uint_t, NGX_CONF_1MORE, NGX_CONF_2MORE,
    NGX_CONF_NOARGS, NGX_CONF_TAKE1, NGX_CONF_TAKE12, NGX_HTTP_LOC_CONF, NGX_HTTP_LOC_CONF_OFFSET,
    NGX_HTTP_MAIN_CONF, NGX_HTTP_MAIN_CONF_OFFSET, NGX_HTTP_SRV_CONF,
};
use ngx::ngx_string;

use crate::conf;

type SetHandler =
    unsafe extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char;

/// A location setting, also allowed in http and server blocks and inherited
/// downwards.
const fn anywhere(name: ngx_str_t, args: u32, set: SetHandler) -> ngx_command_t {
    command(
        name,
        NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | args,
        set,
        NGX_HTTP_LOC_CONF_OFFSET,
    )
}

/// A setting of the whole http block: caches, presets, shared budgets.
const fn http(name: ngx_str_t, args: u32, set: SetHandler) -> ngx_command_t {
    command(
        name,
        NGX_HTTP_MAIN_CONF | args,
        set,
        NGX_HTTP_MAIN_CONF_OFFSET,
    )
}

/// A directive that gives a location a handler of its own.
const fn location_only(name: ngx_str_t, args: u32, set: SetHandler) -> ngx_command_t {
    command(
        name,
        NGX_HTTP_LOC_CONF | args,
        set,
        NGX_HTTP_LOC_CONF_OFFSET,
    )
}

const fn command(name: ngx_str_t, type_: u32, set: SetHandler, conf: usize) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: type_ as ngx_uint_t,
        set: Some(set),
        conf,
        offset: 0,
        post: ptr::null_mut(),
    }
}

pub static mut COMMANDS: [ngx_command_t; 36] = [
    anywhere(
        ngx_string!("image_filter_rs"),
        NGX_CONF_TAKE12,
        conf::cmd_image_filter_rs,
    ),
    http(
        ngx_string!("image_filter_rs_cache_path"),
        NGX_CONF_2MORE,
        conf::cmd_cache_path,
    ),
    anywhere(
        ngx_string!("image_filter_rs_cache"),
        NGX_CONF_TAKE1,
        conf::cmd_cache,
    ),
    anywhere(
        ngx_string!("image_filter_rs_jpeg_quality"),
        NGX_CONF_TAKE1,
        conf::cmd_jpeg_quality,
    ),
    anywhere(
        ngx_string!("image_filter_rs_thread_pool"),
        NGX_CONF_TAKE1,
        conf::cmd_thread_pool,
    ),
    anywhere(
        ngx_string!("image_filter_rs_cache_lock_timeout"),
        NGX_CONF_TAKE1,
        conf::cmd_lock_timeout,
    ),
    anywhere(
        ngx_string!("image_filter_rs_debug_delay"),
        NGX_CONF_TAKE1,
        conf::cmd_debug_delay,
    ),
    anywhere(
        ngx_string!("image_filter_rs_webp_quality"),
        NGX_CONF_TAKE1,
        conf::cmd_webp_quality,
    ),
    anywhere(
        ngx_string!("image_filter_rs_webp_effort"),
        NGX_CONF_TAKE1,
        conf::cmd_webp_effort,
    ),
    anywhere(
        ngx_string!("image_filter_rs_max_frames"),
        NGX_CONF_TAKE12,
        conf::cmd_max_frames,
    ),
    anywhere(
        ngx_string!("image_filter_rs_avif_quality"),
        NGX_CONF_TAKE1,
        conf::cmd_avif_quality,
    ),
    anywhere(
        ngx_string!("image_filter_rs_avif_speed"),
        NGX_CONF_TAKE1,
        conf::cmd_avif_speed,
    ),
    anywhere(
        ngx_string!("image_filter_rs_avif_max_pixels"),
        NGX_CONF_TAKE1,
        conf::cmd_avif_max_pixels,
    ),
    anywhere(
        ngx_string!("image_filter_rs_interlace"),
        NGX_CONF_TAKE1,
        conf::cmd_interlace,
    ),
    anywhere(
        ngx_string!("image_filter_rs_background"),
        NGX_CONF_TAKE1,
        conf::cmd_background,
    ),
    anywhere(
        ngx_string!("image_filter_rs_format"),
        NGX_CONF_TAKE1,
        conf::cmd_format,
    ),
    anywhere(
        ngx_string!("image_filter_rs_max_pixels"),
        NGX_CONF_TAKE1,
        conf::cmd_max_pixels,
    ),
    anywhere(
        ngx_string!("image_filter_rs_max_source_size"),
        NGX_CONF_TAKE1,
        conf::cmd_max_source_size,
    ),
    http(
        ngx_string!("image_filter_rs_memory"),
        NGX_CONF_TAKE1,
        conf::cmd_memory,
    ),
    http(
        ngx_string!("image_filter_rs_concurrency"),
        NGX_CONF_TAKE1,
        conf::cmd_concurrency,
    ),
    http(
        ngx_string!("image_filter_rs_decode_cache"),
        NGX_CONF_TAKE1,
        conf::cmd_decode_cache,
    ),
    http(
        ngx_string!("image_filter_rs_memory_timeout"),
        NGX_CONF_TAKE1,
        conf::cmd_memory_timeout,
    ),
    http(
        ngx_string!("image_filter_rs_preset"),
        NGX_CONF_2MORE,
        crate::presets::cmd_preset,
    ),
    anywhere(
        ngx_string!("image_filter_rs_sizes"),
        NGX_CONF_1MORE,
        crate::presets::cmd_sizes,
    ),
    anywhere(
        ngx_string!("image_filter_rs_secret"),
        NGX_CONF_1MORE,
        crate::presets::cmd_secret,
    ),
    anywhere(
        ngx_string!("image_filter_rs_max_output"),
        NGX_CONF_TAKE1,
        conf::cmd_max_output,
    ),
    anywhere(
        ngx_string!("image_filter_rs_rotate"),
        NGX_CONF_TAKE1,
        conf::cmd_rotate,
    ),
    anywhere(
        ngx_string!("image_filter_rs_flip"),
        NGX_CONF_TAKE1,
        conf::cmd_flip,
    ),
    anywhere(
        ngx_string!("image_filter_rs_sharpen"),
        NGX_CONF_TAKE1,
        conf::cmd_sharpen,
    ),
    anywhere(
        ngx_string!("image_filter_rs_transparency"),
        NGX_CONF_TAKE1,
        conf::cmd_transparency,
    ),
    anywhere(
        ngx_string!("image_filter_rs_source"),
        NGX_CONF_TAKE1,
        crate::source::cmd_source,
    ),
    anywhere(
        ngx_string!("image_filter_rs_source_valid"),
        NGX_CONF_TAKE1,
        crate::source::cmd_source_valid,
    ),
    anywhere(
        ngx_string!("image_filter_rs_source_stale"),
        NGX_CONF_TAKE1,
        crate::source::cmd_source_stale,
    ),
    location_only(
        ngx_string!("image_filter_rs_status"),
        NGX_CONF_NOARGS,
        conf::cmd_status,
    ),
    location_only(
        ngx_string!("image_filter_rs_purge"),
        NGX_CONF_NOARGS,
        conf::cmd_purge,
    ),
    ngx_command_t::empty(),
];
