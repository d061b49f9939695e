//! The crate's single error type: a short log-style message plus the class the
//! caller maps to a response status.

use std::borrow::Cow;
use std::fmt;

/// What kind of failure this is, so the caller can pick a status without
/// parsing messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request itself is malformed (bad geometry text, bad option).
    BadRequest,
    /// The thing asked for does not exist.
    NotFound,
    /// The input is over a configured limit (bytes, pixels, frames, scans).
    TooLarge,
    /// The input is not an image we can decode: unknown or disabled format,
    /// corrupt or truncated data.
    Unsupported,
    /// A bug or an environment failure on our side.
    Internal,
}

/// A typed failure of the thumbnail pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    class: ErrorClass,
    message: Cow<'static, str>,
}

impl Error {
    pub(crate) fn new(class: ErrorClass, message: impl Into<Cow<'static, str>>) -> Self {
        Error {
            class,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorClass::BadRequest, message)
    }

    pub(crate) fn too_large(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorClass::TooLarge, message)
    }

    pub(crate) fn unsupported(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorClass::Unsupported, message)
    }

    pub(crate) fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorClass::Internal, message)
    }

    /// Which status family this failure belongs to.
    pub fn class(&self) -> ErrorClass {
        self.class
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_bare_message_and_class_is_kept() {
        let e = Error::too_large("image is 2x2, over the 1-pixel limit");
        assert_eq!(e.to_string(), "image is 2x2, over the 1-pixel limit");
        assert_eq!(e.class(), ErrorClass::TooLarge);
        assert_eq!(Error::unsupported("x").class(), ErrorClass::Unsupported);
        assert_eq!(Error::bad_request("x").class(), ErrorClass::BadRequest);
        assert_eq!(Error::internal("x").class(), ErrorClass::Internal);
    }
}
