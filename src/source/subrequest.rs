//! The subrequest that fetches an original, and the filters that collect
//! its answer: its own request headers (conditionals only), the header and
//! body filters that see only this module's subrequests and pass nothing
//! on, and the post-subrequest handler that records how it ended.

use core::ffi::c_void;
use core::ptr;

use ngx::ffi::{
    ngx_chain_t, ngx_hash_key, ngx_http_output_body_filter_pt, ngx_http_output_header_filter_pt,
    ngx_http_request_t, ngx_http_time, ngx_int_t, ngx_list_part_t, ngx_palloc, ngx_pnalloc,
    ngx_str_t, ngx_table_elt_t, time_t, NGX_ERROR, NGX_HTTP_BAD_GATEWAY, NGX_HTTP_OK,
    NGX_HTTP_SPECIAL_RESPONSE, NGX_OK,
};

use super::Fetch;
use crate::handler::request_ctx;

/// What the filters and the post-subrequest handler saw of a fetch.
#[derive(Default)]
pub(super) struct Received {
    /// The upstream's status; 0 until a header was seen.
    pub(super) status: usize,
    pub(super) etag: Vec<u8>,
    pub(super) last_modified: Option<time_t>,
    pub(super) content_length: Option<u64>,
    pub(super) body: Vec<u8>,
    pub(super) limit: u64,
    /// The last buffer arrived: the body is whole.
    pub(super) complete: bool,
    /// Refused by length: from `Content-Length`, or cut off while growing.
    pub(super) too_large: bool,
    /// The body filter failed the subrequest on purpose, which makes
    /// nginx mark the client connection as failed; the post handler
    /// undoes that mark.
    pub(super) cut_off: bool,
    /// The code nginx finalized the subrequest with, when an error: what
    /// the upstream module answers for a refused connection or a timeout.
    pub(super) failure: Option<ngx_int_t>,
}

/// Gives the subrequest a header list of its own: none of the client's
/// headers (cookies, credentials, its own conditionals or ranges) go to the
/// origin, only this module's conditionals when revalidating.
///
/// # Safety
/// `sr` must be a subrequest that has not run yet.
pub(super) unsafe fn own_request_headers(
    sr: &mut ngx_http_request_t,
    conditional: Option<&(Vec<u8>, Option<time_t>)>,
) -> bool {
    let pool = sr.pool;
    let size = core::mem::size_of::<ngx_table_elt_t>();
    // SAFETY: the list is laid out as ngx_list_init does, in the pool the
    // subrequest lives in; its `last` points at its own first part.
    unsafe {
        let elts = ngx_palloc(pool, 2 * size);
        if elts.is_null() {
            return false;
        }
        let headers = &mut sr.headers_in.headers;
        headers.part = ngx_list_part_t {
            elts,
            nelts: 0,
            next: ptr::null_mut(),
        };
        headers.last = &mut headers.part;
        headers.size = size;
        headers.nalloc = 2;
        headers.pool = pool;
        let hin = &mut sr.headers_in;
        hin.if_modified_since = ptr::null_mut();
        hin.if_unmodified_since = ptr::null_mut();
        hin.if_match = ptr::null_mut();
        hin.if_none_match = ptr::null_mut();
        hin.range = ptr::null_mut();
        hin.if_range = ptr::null_mut();
    }
    let Some((etag, last_modified)) = conditional else {
        return true;
    };
    if !etag.is_empty() {
        // SAFETY: as above.
        let Some(elt) = (unsafe { push_header(sr, b"If-None-Match", etag) }) else {
            return false;
        };
        sr.headers_in.if_none_match = elt;
    }
    if let Some(time) = *last_modified {
        let mut date = [0u8; 40];
        // SAFETY: ngx_http_time writes the 29-byte HTTP date into `date`.
        let end = unsafe { ngx_http_time(date.as_mut_ptr(), time) };
        // SAFETY: `end` points into `date`, past the written bytes.
        let len = unsafe { end.offset_from(date.as_ptr()) } as usize;
        // SAFETY: as above.
        let Some(elt) = (unsafe { push_header(sr, b"If-Modified-Since", &date[..len]) }) else {
            return false;
        };
        sr.headers_in.if_modified_since = elt;
    }
    true
}

/// Appends a request header to the subrequest's list.
///
/// # Safety
/// `sr`'s header list must be initialised in its pool.
unsafe fn push_header(
    sr: &mut ngx_http_request_t,
    name: &[u8],
    value: &[u8],
) -> Option<*mut ngx_table_elt_t> {
    // SAFETY: per the caller; every field nginx reads is set, and the rest
    // (`next`, in nginx 1.23 and later) is zero.
    unsafe {
        let elt = ngx::ffi::ngx_list_push(&mut sr.headers_in.headers).cast::<ngx_table_elt_t>();
        if elt.is_null() {
            return None;
        }
        ptr::write_bytes(elt.cast::<u8>(), 0, core::mem::size_of::<ngx_table_elt_t>());
        let key = ngx_str_t::from_bytes(sr.pool, name)?;
        let value = ngx_str_t::from_bytes(sr.pool, value)?;
        let lowcase = ngx_pnalloc(sr.pool, name.len()).cast::<u8>();
        if lowcase.is_null() {
            return None;
        }
        for (i, b) in name.iter().enumerate() {
            *lowcase.add(i) = b.to_ascii_lowercase();
        }
        (*elt).key = key;
        (*elt).value = value;
        (*elt).lowcase_key = lowcase;
        (*elt).hash = ngx_hash_key(lowcase, name.len());
        Some(elt)
    }
}

/// Records how the subrequest ended. Errors that are about the upstream
/// (a refused connection, a timeout, an answer cut short) become the
/// parent's to answer: handing nginx `NGX_OK` spares an error page nobody
/// reads. A client gone away keeps its code, so nginx ends the request.
pub(super) extern "C" fn subrequest_done(
    sr: *mut ngx_http_request_t,
    data: *mut c_void,
    rc: ngx_int_t,
) -> ngx_int_t {
    // SAFETY: `data` is the `received` of the parent's fetch, set in
    // `fetch`; the parent's context outlives its subrequest.
    let received = unsafe { &mut *data.cast::<Received>() };
    // SAFETY: nginx calls this with the live subrequest.
    let connection = unsafe { &mut *(*sr).connection };
    if received.cut_off {
        // The body filter's own error marked the client's connection as
        // failed; the client is fine.
        connection.set_error(0);
        received.cut_off = false;
    }
    if connection.error() != 0 {
        return rc;
    }
    if rc == NGX_ERROR as ngx_int_t || rc >= NGX_HTTP_SPECIAL_RESPONSE as ngx_int_t {
        received.failure.get_or_insert(rc);
        return NGX_OK as ngx_int_t;
    }
    rc
}

/// The subrequest of `r` this module made, and its fetch; None for every
/// other request, which the filters pass on untouched.
fn fetch_of<'a>(r: &ngx_http_request_t) -> Option<&'a mut Fetch> {
    let this = ptr::from_ref(r).cast_mut();
    if r.main == this || r.parent.is_null() {
        return None;
    }
    // SAFETY: a subrequest's parent outlives it.
    let parent = unsafe { &*r.parent };
    let fetch = request_ctx(parent)?.source.as_deref_mut()?;
    (fetch.subrequest == this).then_some(fetch)
}

static mut NEXT_HEADER_FILTER: ngx_http_output_header_filter_pt = None;
static mut NEXT_BODY_FILTER: ngx_http_output_body_filter_pt = None;

/// Puts the filters at the top of nginx's chains (postconfiguration).
pub fn register_filters() {
    // SAFETY: runs once per configuration load in the master, before any
    // request, as every filter module's init does.
    unsafe {
        NEXT_HEADER_FILTER = ngx::ffi::ngx_http_top_header_filter;
        ngx::ffi::ngx_http_top_header_filter = Some(header_filter);
        NEXT_BODY_FILTER = ngx::ffi::ngx_http_top_body_filter;
        ngx::ffi::ngx_http_top_body_filter = Some(body_filter);
    }
}

unsafe extern "C" fn header_filter(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls header filters with a live request.
    let request = unsafe { &mut *r };
    let Some(fetch) = fetch_of(request) else {
        // SAFETY: the next filter of the chain, set at registration.
        return match unsafe { NEXT_HEADER_FILTER } {
            Some(next) => unsafe { next(r) },
            None => NGX_OK as ngx_int_t,
        };
    };
    no_unwind(|| read_headers(request, fetch))
}

/// Runs one of the filters' own steps for our subrequest; a panic in it is
/// the subrequest's error, never an unwind into nginx.
fn no_unwind(step: impl FnOnce() -> ngx_int_t) -> ngx_int_t {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).unwrap_or(NGX_ERROR as ngx_int_t)
}

/// Records the fetched original's status and validators, and refuses a
/// declared length past the limit before a byte of the body is read.
fn read_headers(request: &mut ngx_http_request_t, fetch: &mut Fetch) -> ngx_int_t {
    let out = &request.headers_out;
    let received = &mut fetch.received;
    received.status = out.status;
    // SAFETY: a non-null `etag` is the header nginx's upstream copied.
    received.etag = unsafe { out.etag.as_ref() }
        .map(|h| h.value.as_bytes().to_vec())
        .unwrap_or_default();
    received.last_modified = (out.last_modified_time > 0).then_some(out.last_modified_time);
    received.content_length = u64::try_from(out.content_length_n).ok();
    if out.status == NGX_HTTP_OK as usize
        && received.content_length.is_some_and(|n| n > received.limit)
    {
        // Refused before a byte of the body is read: the upstream module
        // closes its connection on this error.
        received.too_large = true;
        return NGX_ERROR as ngx_int_t;
    }
    // Nothing goes on to the client's response.
    NGX_OK as ngx_int_t
}

unsafe extern "C" fn body_filter(r: *mut ngx_http_request_t, chain: *mut ngx_chain_t) -> ngx_int_t {
    // SAFETY: nginx calls body filters with a live request.
    let request = unsafe { &mut *r };
    let Some(fetch) = fetch_of(request) else {
        // SAFETY: the next filter of the chain, set at registration.
        return match unsafe { NEXT_BODY_FILTER } {
            Some(next) => unsafe { next(r, chain) },
            None => NGX_OK as ngx_int_t,
        };
    };
    no_unwind(|| collect_body(chain, &mut fetch.received))
}

/// Appends the chain's bytes to the fetched body, up to the limit, and marks
/// every buffer consumed; an error cuts the upstream off past the limit.
fn collect_body(chain: *mut ngx_chain_t, received: &mut Received) -> ngx_int_t {
    let keep = received.status == NGX_HTTP_OK as usize && !received.too_large;
    let mut link = chain;
    // SAFETY: the chain and its buffers are the upstream's, valid during
    // the call; a buffer is marked consumed so the upstream reuses it.
    unsafe {
        while let Some(cl) = link.as_ref() {
            if let Some(b) = cl.buf.as_mut() {
                let in_memory = b.temporary() != 0 || b.memory() != 0 || b.mmap() != 0;
                let len = if in_memory {
                    b.last.offset_from(b.pos) as usize
                } else if b.in_file() != 0 && !b.file.is_null() {
                    (b.file_last - b.file_pos) as usize
                } else {
                    0
                };
                // Checked before the copy, so a body past the limit is never
                // held, however large one buffer of it is.
                if keep && (received.body.len() + len) as u64 > received.limit {
                    received.too_large = true;
                    received.body = Vec::new();
                }
                if keep && !received.too_large {
                    if in_memory {
                        received
                            .body
                            .extend_from_slice(core::slice::from_raw_parts(b.pos, len));
                    } else if len > 0 {
                        // proxy_buffering wrote part of the body to a
                        // temporary file; it was just written, so this
                        // read comes from the page cache.
                        let at = received.body.len();
                        received.body.resize(at + len, 0);
                        let read = libc::pread(
                            (*b.file).fd,
                            received.body[at..].as_mut_ptr().cast(),
                            len,
                            b.file_pos,
                        );
                        if read != len as isize {
                            received.body.truncate(at);
                            received.failure = Some(NGX_HTTP_BAD_GATEWAY as ngx_int_t);
                        }
                    }
                }
                if in_memory {
                    b.pos = b.last;
                }
                if b.in_file() != 0 {
                    b.file_pos = b.file_last;
                }
                if b.last_buf() != 0 || b.last_in_chain() != 0 {
                    received.complete = true;
                }
            }
            link = cl.next;
        }
    }
    if received.too_large && keep {
        // Cut the upstream off rather than read the rest of a body that
        // will be refused; see `subrequest_done` for the mark this leaves.
        received.cut_off = true;
        return NGX_ERROR as ngx_int_t;
    }
    NGX_OK as ngx_int_t
}
