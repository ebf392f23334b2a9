//! The error vocabulary shared by every front door: a client-facing [`Code`] per error kind
//! (mapped once to gRPC codes in `grpc::status`), and [`Invalid`], the "field X broke rule Y"
//! error that all validation returns.

use std::fmt;

/// What kind of failure a client sees; one table in `grpc::status` maps it to gRPC codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    Unimplemented,
    Unavailable,
    Internal,
}

/// Implemented by every error that crosses a front door.
pub trait HasCode {
    fn code(&self) -> Code;
}

/// Bad input: names the offending field (a path such as `rule.filters[1].prefix`) and the
/// constraint it broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub constraint: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, constraint: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            constraint: constraint.into(),
        }
    }

    /// Prefixes the field path, e.g. `key` → `record.key`.
    pub fn under(mut self, parent: &str) -> Self {
        self.field = if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.constraint)
    }
}

impl std::error::Error for Invalid {}

impl HasCode for Invalid {
    fn code(&self) -> Code {
        Code::InvalidArgument
    }
}
