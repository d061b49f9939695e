//! The nginx module `ngx_http_image_filter_rs_module`: its statics, the
//! HttpModule callbacks that create and merge configuration, and the
//! registration of its variable.
//!
//! This crate is thin glue. Images are decoded, resized and encoded by the
//! pure `thumbnailer` crate; everything here turns nginx requests and
//! configuration into calls to it and its results into responses. All
//! `unsafe` of the project lives in this crate.

use core::ffi::{c_char, c_void};
use core::ptr;

use ngx::core::Status;
use ngx::ffi::{
    ngx_conf_t, ngx_http_add_variable, ngx_http_module_t, ngx_int_t, ngx_module_t, ngx_uint_t,
    NGX_HTTP_MODULE,
};
use ngx::http::{HttpModule, HttpModuleLocationConf, HttpModuleMainConf};

mod cache;
mod conf;
mod directives;
mod errors;
mod files;
mod generation;
mod handler;
mod index;
mod memory;
mod names;
mod presets;
mod purge;
mod request;
mod response;
mod source;
mod status;
mod task;
mod values;

use conf::{LocationConf, MainConf};

/// The type the `ngx` crate's configuration helpers hang off.
pub struct ImageFilterRsModule;

static NGX_HTTP_IMAGE_FILTER_RS_MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(ImageFilterRsModule::preconfiguration),
    postconfiguration: Some(postconfiguration),
    create_main_conf: Some(ImageFilterRsModule::create_main_conf),
    init_main_conf: Some(init_main_conf),
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(ImageFilterRsModule::create_loc_conf),
    merge_loc_conf: Some(merge_loc_conf),
};

// Outside nginx's build system the `.so` must carry its own modules table;
// inside it (config + auto/configure) nginx generates the table and the
// module static must be an unmangled symbol instead.
#[cfg(feature = "export-modules")]
ngx::ngx_modules!(ngx_http_image_filter_rs_module);

#[used]
#[allow(non_upper_case_globals)]
#[cfg_attr(not(feature = "export-modules"), no_mangle)]
pub static mut ngx_http_image_filter_rs_module: ngx_module_t = ngx_module_t {
    ctx: ptr::addr_of!(NGX_HTTP_IMAGE_FILTER_RS_MODULE_CTX)
        .cast_mut()
        .cast(),
    // SAFETY: only the address is taken; nginx reads the table at startup,
    // before any Rust code could touch it.
    commands: unsafe { ptr::addr_of_mut!(directives::COMMANDS[0]) },
    type_: NGX_HTTP_MODULE as ngx_uint_t,
    init_process: Some(init_worker),
    ..ngx_module_t::default()
};

/// Allocations from this size up get memory of their own from the system
/// (mmap) and give it back when freed (munmap). glibc's default threshold
/// grows with the blocks freed, up to 32 MB, after which a decoded photo's
/// buffers stay in the freeing thread's arena; with a pool of threads each
/// arena kept the high-water mark of the thumbnails made on it, and a storm
/// of cold requests left workers at 600-700 MB resident against a 256 MB
/// budget. A fixed threshold keeps resident memory at what is in use,
/// without trimming arenas, which would hold the arena locks the event loop
/// also takes.
const WORKER_MMAP_THRESHOLD: i32 = 1024 * 1024;

extern "C" fn init_worker(_cycle: *mut ngx::ffi::ngx_cycle_t) -> ngx::ffi::ngx_int_t {
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, WORKER_MMAP_THRESHOLD);
    }
    ngx::ffi::NGX_OK as ngx::ffi::ngx_int_t
}

impl HttpModule for ImageFilterRsModule {
    fn module() -> &'static ngx_module_t {
        // SAFETY: nginx writes the module's indexes once, while loading the
        // configuration in the master; afterwards the static is only read.
        unsafe { &*ptr::addr_of!(ngx_http_image_filter_rs_module) }
    }

    unsafe extern "C" fn preconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        for variable in status::VARIABLES {
            let mut name = variable.name;
            // SAFETY: `cf` is the valid configuration nginx passes to
            // preconfiguration; `name` outlives the call and nginx copies it.
            let var = unsafe { ngx_http_add_variable(cf, &mut name, variable.flags) };
            // SAFETY: a non-null result points to the variable nginx just
            // allocated in the configuration pool.
            match unsafe { var.as_mut() } {
                Some(var) => {
                    var.get_handler = variable.get_handler;
                    var.data = 0;
                }
                None => return Status::NGX_ERROR.into(),
            }
        }
        Status::NGX_OK.into()
    }
}

// SAFETY: MainConf is the type create_main_conf allocates for this module.
unsafe impl HttpModuleMainConf for ImageFilterRsModule {
    type MainConf = MainConf;
}

// SAFETY: LocationConf is the type create_loc_conf allocates for this module.
unsafe impl HttpModuleLocationConf for ImageFilterRsModule {
    type LocationConf = LocationConf;
}

/// Merges a location's configuration with its parent's. Not the trait's
/// default: the merge needs `cf` to resolve cache zones and install the
/// content handler.
unsafe extern "C" fn merge_loc_conf(
    cf: *mut ngx_conf_t,
    prev: *mut c_void,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx passes the parent's and this location's structures,
    // both created by create_loc_conf as LocationConf, and a valid `cf`
    // whose context is the location being merged.
    let (cf, prev, conf) = unsafe {
        (
            &mut *cf,
            &*prev.cast::<LocationConf>(),
            &mut *conf.cast::<LocationConf>(),
        )
    };
    conf::merge_location(cf, prev, conf)
}

/// Puts the filters that collect fetched originals (see source.rs) into
/// nginx's chains.
unsafe extern "C" fn postconfiguration(_cf: *mut ngx_conf_t) -> ngx_int_t {
    source::register_filters();
    Status::NGX_OK.into()
}

/// Runs once the http block is parsed: sets up what the whole module shares.
unsafe extern "C" fn init_main_conf(cf: *mut ngx_conf_t, conf: *mut c_void) -> *mut c_char {
    // SAFETY: nginx passes a valid `cf` and the MainConf create_main_conf made.
    let (cf, mcf) = unsafe { (&mut *cf, &mut *conf.cast::<MainConf>()) };
    conf::init_main(cf, mcf)
}
