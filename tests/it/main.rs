//! rollcall's integration tests, one binary (as hickory-dns keeps them): each module drives the
//! real server through real sockets or the real binary.

mod cli;
mod eureka_dns;
mod golden;
mod http;
mod reload;
mod resolver;
mod setup_tables;
mod support;
mod transport;
