//! One module per Corefile directive, each opening with its syntax (the one place it is
//! written). What a plugin is and may use is the contract, [`crate::contract`]; which plugins
//! exist and the order they run in is [`chain`], the only file that names them all.
//!
//! A new plugin is a module here (its `//!` doc has the syntax; `pub fn setup` parses it with
//! [`Args`](crate::contract::Args) and returns an [`Outcome`](crate::contract::Outcome)) and one
//! row in [`chain::CHAIN`]. State it shares with another plugin of its block goes through the
//! block's [`Extensions`](crate::contract::Extensions) under a type the consumer owns.

pub mod acl;
pub mod any;
pub mod autopath;
pub mod bind;
pub mod bufsize;
pub mod cache;
pub mod chain;
pub mod chaos;
pub mod dns64;
pub mod errors;
pub mod eureka;
pub mod forward;
pub mod health;
pub mod hosts;
pub mod k8s_external;
pub mod kubernetes;
pub mod loadbalance;
pub mod local;
pub mod log;
pub mod loop_detect;
pub mod minimal;
pub mod nsid;
pub mod prometheus;
pub mod ready;
pub mod reload;
pub mod rewrite;
pub mod template;
#[cfg(test)]
pub(crate) mod testing;
pub mod whoami;
