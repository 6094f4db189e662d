//! The tokio runtime of tribesd. It owns the sockets and the clock, and drives the sans-IO state
//! machines of `tribes-proto` with what they read.
//!
//! - [`mcast`]: the membership multicast socket, set up as Tomcat's `McastServiceImpl` does.

pub mod mcast;
pub mod server_xml;
