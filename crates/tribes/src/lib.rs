//! The tokio runtime of tribesd. It owns the sockets and the clock, and drives the sans-IO state
//! machines of `tribes-proto` with what they read.
//!
//! - [`mcast`]: the membership multicast socket, set up as Tomcat's `McastServiceImpl` does.
//! - [`membership`]: the multicast membership service (a task around the `tribes-proto` machine).
//! - [`receiver`]: the TCP receiver (ACK rules, control messages dropped).
//! - [`sender`]: the pooled parallel sender (connection reuse, ACKs, resend after FAIL_ACK).
//! - [`channel`]: the data path's GroupChannel (message building, asynchronous dispatch, receive queue).
//! - [`detector`]: the TCP failure detector between membership and the application (TcpFailureDetector).
//! - [`doctor`]: hints for operators when membership does not work.
//! - [`static_members`]: declared members probed over TCP (StaticMembershipInterceptor).
//! - [`server_xml`]: the `<Cluster>` element of a Tomcat server.xml.
//! - [`session`]: DeltaManager session replication (the `tribes-proto` machine on the channel).

pub mod channel;
pub mod config;
pub mod control;
pub mod detector;
pub mod doctor;
pub mod mcast;
pub mod membership;
pub mod node;
pub mod ping;
pub mod receiver;
pub mod rpc;
pub mod sender;
pub mod server_xml;
pub mod session;
pub mod static_members;
pub mod udp;
