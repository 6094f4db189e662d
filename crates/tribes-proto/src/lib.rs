//! Sans-IO state machines of the Apache Tomcat Tribes cluster stack (Tomcat 9.0, 10.1 and 11.0
//! behave the same here).
//!
//! Nothing in this crate opens a socket, reads a clock, sleeps, spawns or draws random numbers.
//! Every input that depends on time carries a [`std::time::Instant`]; the machine only ever
//! subtracts instants it was given, so the runtime may use `tokio::time::Instant::into_std()`
//! (paused time works in tests) and tests build instants as `origin + Duration`. Outputs are
//! queued and drained with `poll_output()`; `poll_timeout()` says when to call `handle_timeout`
//! next (quinn-proto's shape).
//!
//! - [`membership`]: the multicast membership service. Spec:
//!   `org.apache.catalina.tribes.membership.McastService`, `McastServiceImpl` (heartbeat sender,
//!   receiver, expiry) and `Membership` (the member list sorted by alive time), plus the member
//!   filter of `group.interceptors.DomainFilterInterceptor` as an option.
//! - [`failure_detector`]: the second opinion before a member is declared dead. Spec:
//!   `org.apache.catalina.tribes.group.interceptors.TcpFailureDetector`; the TCP probe itself is
//!   an output the runtime performs and reports back.
//! - [`static_members`]: declared members, present while their TCP port answers. Spec:
//!   `group.interceptors.StaticMembershipInterceptor` with `TcpFailureDetector`.

pub mod failure_detector;
pub mod membership;
pub mod session;
pub mod static_members;

pub use failure_detector::TcpFailureDetector;
pub use membership::{McastConfig, MemberView, Membership};
