//! Message encodings.
