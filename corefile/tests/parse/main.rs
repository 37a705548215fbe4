//! Integration tests through the public API only.
//!
//! The modules are marked `cfg(test)` so that clippy's unwrap-in-tests
//! allowance covers the shared helpers too.

#[cfg(test)]
mod common;
#[cfg(test)]
mod distros;
#[cfg(test)]
mod imports;
#[cfg(test)]
mod syntax;
