//! Signs a thumbnail URL, for scripts and for checking a server's setup.
//!
//! Usage: `sign-url KEY PATH [QUERY]`
//!
//! Prints `PATH?QUERY&s=SIGNATURE` (or `PATH?s=SIGNATURE` without a query):
//! the parameters keep their order and the signature is appended. KEY is used
//! as its bytes exactly as given, the same bytes the server is configured with;
//! PATH is the raw URL path (percent-encoded as it will be requested); QUERY
//! is written without the leading `?` and must not already contain `s`.
//! The query is checked with the server's parser first, so a URL this prints
//! is one the server will accept.
//!
//! Example:
//! `cargo run -q -p thumbnailer --bin sign-url -- KEY /thumb/a.jpg 'w=350&h=350'`

use std::process::ExitCode;

use thumbnailer::query::parse_query;
use thumbnailer::signature::sign;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (key, path, query) = match args.as_slice() {
        [key, path] => (key, path, ""),
        [key, path, query] => (key, path, query.as_str()),
        _ => {
            eprintln!("usage: sign-url KEY PATH [QUERY]");
            return ExitCode::from(2);
        }
    };
    if path.contains('?') {
        eprintln!("sign-url: PATH must not contain '?'; pass the query separately");
        return ExitCode::from(2);
    }
    match parse_query(query.as_bytes()) {
        Err(e) => {
            eprintln!("sign-url: bad query: {e}");
            return ExitCode::from(2);
        }
        Ok(params) if params.signature.is_some() => {
            eprintln!("sign-url: the query already has an \"s\" parameter");
            return ExitCode::from(2);
        }
        Ok(_) => {}
    }
    let signature = sign(key.as_bytes(), path.as_bytes(), query.as_bytes());
    // Drop trailing '&'s so the appended parameter does not leave an empty
    // segment (harmless, but untidy).
    let query = query.trim_end_matches('&');
    if query.is_empty() {
        println!("{path}?s={signature}");
    } else {
        println!("{path}?{query}&s={signature}");
    }
    ExitCode::SUCCESS
}
