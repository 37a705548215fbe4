//! Shared test support lives in the `it` test binary.
