//! Sending a thumbnail: the headers (type, length, Last-Modified of the
//! original, ETag) and a body that is either a range of a cache file or bytes
//! in memory.
//!
//! Both go through nginx's filter chain, which gives HEAD, 304 (the
//! not-modified filter compares our ETag and Last-Modified), Range (we allow
//! ranges) and sendfile for file buffers, exactly as for static files.

use core::ptr;

use ngx::ffi::{
    ngx_buf_t, ngx_chain_t, ngx_file_t, ngx_http_output_filter, ngx_http_request_t,
    ngx_http_send_header, ngx_int_t, ngx_list_push, ngx_pcalloc, ngx_pnalloc, ngx_str_t,
    ngx_table_elt_t, time_t, NGX_ERROR, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_OK, NGX_OK,
};
use ngx::ngx_string;

/// What the headers say about a thumbnail.
pub struct Meta<'a> {
    pub content_type: &'a str,
    pub length: u64,
    /// The original's modification time: the thumbnail is as new as it.
    /// -1 for none.
    pub last_modified: time_t,
    /// Empty for none.
    pub etag: &'a str,
    /// The body's format was chosen from `Accept`.
    pub vary_accept: bool,
}

/// Where the body comes from.
pub enum Body<'a> {
    /// `len` bytes at `offset` of an open file that the request pool closes.
    File {
        fd: i32,
        name: ngx_str_t,
        offset: u64,
        directio: bool,
    },
    Memory(&'a [u8]),
}

const SERVER_ERROR: ngx_int_t = NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;

/// Sends headers and body; returns what the content handler returns.
pub fn send(r: &mut ngx_http_request_t, meta: &Meta<'_>, body: Body<'_>) -> ngx_int_t {
    if set_headers(r, meta).is_none() {
        return SERVER_ERROR;
    }
    // SAFETY: `r` is the request being handled on the event loop.
    let rc = unsafe { ngx_http_send_header(r) };
    if rc == NGX_ERROR as ngx_int_t || rc > NGX_OK as ngx_int_t || r.header_only() != 0 {
        return rc;
    }
    match body_chain(r, meta.length, body) {
        // SAFETY: the chain and its buffer live in the request pool, which
        // outlives the filters' use of them.
        Some(chain) => unsafe { ngx_http_output_filter(r, chain) },
        None => SERVER_ERROR,
    }
}

fn set_headers(r: &mut ngx_http_request_t, meta: &Meta<'_>) -> Option<()> {
    let content_type = pool_bytes(r, meta.content_type.as_bytes())?;
    let out = &mut r.headers_out;
    out.status = NGX_HTTP_OK as usize;
    out.content_length_n = meta.length as i64;
    out.last_modified_time = meta.last_modified;
    out.content_type_len = content_type.len;
    out.content_type = content_type;
    out.content_type_lowcase = ptr::null_mut();
    // A negotiated body without validators (the status page) varies too.
    if meta.vary_accept {
        push_header(r, ngx_string!("Vary"), ngx_string!("Accept"))?;
    }
    r.set_allow_ranges(1);
    if !meta.etag.is_empty() {
        let etag = pool_bytes(r, meta.etag.as_bytes())?;
        r.headers_out.etag = push_header(r, ngx_string!("ETag"), etag)?;
    }
    Some(())
}

/// Appends a header to the response and returns it.
///
/// The element is written whole from zeroes, so fields that only some nginx
/// versions have (`next`, from 1.23) are null without being named: the
/// module compiles against every nginx from 1.22 on.
// Against nginx 1.22 every field is named, so the `..zeroed()` is needless there.
#[allow(clippy::needless_update)]
fn push_header(
    r: &mut ngx_http_request_t,
    key: ngx_str_t,
    value: ngx_str_t,
) -> Option<*mut ngx_table_elt_t> {
    // SAFETY: `headers` is the request's initialised output header list;
    // ngx_list_push returns room for one element (or null), which we fill
    // whole before anyone reads it. ngx_table_elt_t is a plain C structure,
    // valid when zeroed.
    unsafe {
        let h = ngx_list_push(&mut r.headers_out.headers).cast::<ngx_table_elt_t>();
        if h.is_null() {
            return None;
        }
        h.write(ngx_table_elt_t {
            hash: 1,
            key,
            value,
            lowcase_key: ptr::null_mut(),
            ..core::mem::zeroed()
        });
        Some(h)
    }
}

impl Meta<'_> {
    /// A generated body: no validators, nothing negotiated.
    pub fn generated(content_type: &'static str, length: usize) -> Meta<'static> {
        Meta {
            content_type,
            length: length as u64,
            last_modified: -1,
            etag: "",
            vary_accept: false,
        }
    }
}

/// A short plain-text answer with `status`, for reasons a client can act on.
pub fn send_text(r: &mut ngx_http_request_t, status: usize, text: &str) -> ngx_int_t {
    send_small(r, status, "text/plain", text)
}

/// A small generated answer of `content_type` with `status`.
pub fn send_small(
    r: &mut ngx_http_request_t,
    status: usize,
    content_type: &'static str,
    text: &str,
) -> ngx_int_t {
    let meta = Meta::generated(content_type, text.len());
    if set_headers(r, &meta).is_none() {
        return SERVER_ERROR;
    }
    r.headers_out.status = status;
    r.set_allow_ranges(0);
    // SAFETY: `r` is the request being handled.
    let rc = unsafe { ngx_http_send_header(r) };
    if rc == NGX_ERROR as ngx_int_t || rc > NGX_OK as ngx_int_t || r.header_only() != 0 {
        return rc;
    }
    match body_chain(r, meta.length, Body::Memory(text.as_bytes())) {
        // SAFETY: as in `send`.
        Some(chain) => unsafe { ngx_http_output_filter(r, chain) },
        None => SERVER_ERROR,
    }
}

fn body_chain(r: &mut ngx_http_request_t, length: u64, body: Body<'_>) -> Option<*mut ngx_chain_t> {
    // SAFETY: ngx_pcalloc returns zeroed pool memory or null; ngx_buf_t,
    // ngx_file_t and ngx_chain_t are plain C structures valid when zeroed.
    unsafe {
        let b = ngx_pcalloc(r.pool, core::mem::size_of::<ngx_buf_t>()).cast::<ngx_buf_t>();
        let chain = ngx_pcalloc(r.pool, core::mem::size_of::<ngx_chain_t>()).cast::<ngx_chain_t>();
        let (b_ref, chain_ref) = (b.as_mut()?, chain.as_mut()?);
        match body {
            Body::File {
                fd,
                name,
                offset,
                directio,
            } => {
                let file =
                    ngx_pcalloc(r.pool, core::mem::size_of::<ngx_file_t>()).cast::<ngx_file_t>();
                let file_ref = file.as_mut()?;
                file_ref.fd = fd;
                file_ref.name = name;
                file_ref.log = (*r.connection).log;
                file_ref.set_directio(u32::from(directio));
                b_ref.file = file;
                b_ref.file_pos = offset as i64;
                b_ref.file_last = (offset + length) as i64;
                b_ref.set_in_file(u32::from(length > 0));
            }
            Body::Memory(bytes) => {
                let copy = pool_bytes(r, bytes)?;
                b_ref.pos = copy.data;
                b_ref.last = copy.data.add(copy.len);
                b_ref.start = b_ref.pos;
                b_ref.end = b_ref.last;
                b_ref.set_memory(1);
            }
        }
        let main = ptr::eq(r, r.main);
        b_ref.set_last_buf(u32::from(main));
        b_ref.set_last_in_chain(1);
        // An empty body still has to flow through the filters to end the
        // response; `sync` marks such a buffer as carrying no data.
        b_ref.set_sync(u32::from(length == 0));
        chain_ref.buf = b;
        chain_ref.next = ptr::null_mut();
        Some(chain)
    }
}

/// 503 with `Retry-After`, for a full thread-pool queue: the client may try
/// again in a moment, when the queue has drained.
pub fn service_unavailable(r: &mut ngx_http_request_t) -> ngx_int_t {
    // Error pages keep the pushed header; without it the 503 still stands.
    let _ = push_header(r, ngx_string!("Retry-After"), ngx_string!("1"));
    ngx::ffi::NGX_HTTP_SERVICE_UNAVAILABLE as ngx_int_t
}

/// Copies bytes into the request pool as an ngx_str_t.
fn pool_bytes(r: &mut ngx_http_request_t, bytes: &[u8]) -> Option<ngx_str_t> {
    if bytes.is_empty() {
        return Some(ngx_str_t::empty());
    }
    pool_concat(r, &[bytes], false)
}

/// The parts one after another in the request's pool, with a NUL after them
/// when `nul_terminated` (for a path handed to C); `len` excludes the NUL.
pub(crate) fn pool_concat(
    r: &mut ngx_http_request_t,
    parts: &[&[u8]],
    nul_terminated: bool,
) -> Option<ngx_str_t> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let size = len + usize::from(nul_terminated);
    // SAFETY: ngx_pnalloc returns `size` writable bytes of pool memory, which
    // live as long as the request, or null; the copies write exactly `len`
    // bytes and the NUL, if any, the last one.
    unsafe {
        let data = ngx_pnalloc(r.pool, size.max(1)).cast::<u8>();
        if data.is_null() {
            return None;
        }
        let mut at = data;
        for part in parts {
            ptr::copy_nonoverlapping(part.as_ptr(), at, part.len());
            at = at.add(part.len());
        }
        if nul_terminated {
            *at = 0;
        }
        Some(ngx_str_t { len, data })
    }
}
