//! Pure codecs for the Apache Tomcat Tribes wire (Tomcat 9.0, 10.1 and 11.0 are byte-identical here).
//!
//! Every type names the Java class it implements. Nothing in this crate does I/O, reads a clock or
//! draws random numbers: times, ids and bytes come in as arguments. Decoders take untrusted input,
//! return a typed error that says what is wrong at which offset, and never allocate more than the
//! input (or a configured cap) justifies.
//!
//! - [`frame`]: the `FLT2002 | i32 length | payload | TLF2003` package (`XByteBuffer`).
//! - [`channel_data`]: the message inside a frame (`ChannelData`).
//! - [`options`]: the send-option bits (`Channel.SEND_OPTIONS_*`) and `channelSendOptions` parsing.
//! - [`member`]: member packets `TRIBES-B ... TRIBES-E` (`MemberImpl`).
//! - [`ack`]: ACK and FAIL_ACK (`transport.Constants`).
//! - [`control`]: payloads that interceptors inject (`TcpFailureDetector`, `TcpPingInterceptor`, ...).

pub mod ack;
pub mod channel_data;
pub mod control;
mod error;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod member;
pub mod options;
mod read;

pub use ack::Ack;
pub use channel_data::ChannelData;
pub use control::ControlPayload;
pub use error::DecodeError;
pub use frame::{FrameDecoder, FrameError};
pub use member::{Member, MemberId, UniqueId};
pub use options::SendOptions;
