//! A small blocking HTTP/1.1 client with keep-alive, and the capture load generator built on it.
//!
//! The client is deliberately minimal (`Content-Length` and chunked bodies, no TLS): it drives `liucun serve` on
//! loopback from tests and benchmarks without pulling an async stack into them.

pub mod http;
pub mod load;
pub mod wire;
