//! Payloads that interceptors inject into the message stream. A node must recognise them and
//! keep them away from the application, whether or not it runs the interceptor.
//!
//! Spec: `group.interceptors.TcpFailureDetector` (`TCP_FAIL_DETECT`, `memberAlive`),
//! `TcpPingInterceptor` (`TCP_PING_DATA`), `StaticMembershipInterceptor` (`MEMBER_START`,
//! `MEMBER_STOP`), `TwoPhaseCommitInterceptor`, `NonBlockingCoordinator`.

use bytes::Bytes;

use crate::{ChannelData, Member, SendOptions};

/// `TcpFailureDetector.TCP_FAIL_DETECT`: the payload of a liveness probe.
pub const TCP_FAIL_DETECT: [u8; 64] = [
    79,
    -89i8 as u8,
    115,
    72,
    121,
    -126i8 as u8,
    67,
    -55i8 as u8,
    -97i8 as u8,
    111,
    -119i8 as u8,
    -128i8 as u8,
    -95i8 as u8,
    91,
    7,
    20,
    125,
    -39i8 as u8,
    82,
    91,
    -21i8 as u8,
    -15i8 as u8,
    67,
    -102i8 as u8,
    -73i8 as u8,
    126,
    -66i8 as u8,
    -113i8 as u8,
    -127i8 as u8,
    103,
    30,
    -74i8 as u8,
    55,
    21,
    -66i8 as u8,
    -121i8 as u8,
    69,
    126,
    76,
    -88i8 as u8,
    -65i8 as u8,
    10,
    77,
    19,
    83,
    56,
    21,
    50,
    85,
    -10i8 as u8,
    -108i8 as u8,
    -73i8 as u8,
    58,
    -6i8 as u8,
    64,
    120,
    -111i8 as u8,
    4,
    125,
    -41i8 as u8,
    114,
    -124i8 as u8,
    -64i8 as u8,
    -43i8 as u8,
];

/// `TcpPingInterceptor.TCP_PING_DATA`: the payload of a ping.
pub const TCP_PING_DATA: [u8; 64] = [
    79,
    -89i8 as u8,
    115,
    72,
    121,
    -33i8 as u8,
    67,
    -55i8 as u8,
    -97i8 as u8,
    111,
    -119i8 as u8,
    -128i8 as u8,
    -95i8 as u8,
    91,
    7,
    20,
    125,
    -39i8 as u8,
    82,
    91,
    -21i8 as u8,
    -33i8 as u8,
    67,
    -102i8 as u8,
    -73i8 as u8,
    126,
    -66i8 as u8,
    -113i8 as u8,
    -127i8 as u8,
    103,
    30,
    -74i8 as u8,
    55,
    21,
    -66i8 as u8,
    -121i8 as u8,
    69,
    33,
    76,
    -88i8 as u8,
    -65i8 as u8,
    10,
    77,
    19,
    83,
    56,
    21,
    50,
    85,
    -10i8 as u8,
    -108i8 as u8,
    -73i8 as u8,
    58,
    -33i8 as u8,
    33,
    120,
    -111i8 as u8,
    4,
    125,
    -41i8 as u8,
    114,
    -124i8 as u8,
    -64i8 as u8,
    -43i8 as u8,
];

/// `StaticMembershipInterceptor.MEMBER_START`.
pub const MEMBER_START: &[u8; 36] = b"Local StaticMember Notification Data";
/// `StaticMembershipInterceptor.MEMBER_STOP`.
pub const MEMBER_STOP: &[u8; 32] = b"Local StaticMember Shutdown Data";
/// `TwoPhaseCommitInterceptor.START_DATA`.
pub const TWO_PHASE_START: [u8; 16] =
    [0x71, 0x01, 0xc6, 0x02, 0xde, 0xc4, 0x4b, 0xb2, 0x9b, 0xf4, 0x20, 0xe3, 0x20, 0x6f, 0xd8, 0x04];
/// `TwoPhaseCommitInterceptor.END_DATA`.
pub const TWO_PHASE_END: [u8; 16] =
    [0x36, 0xf3, 0x5a, 0x6e, 0x2f, 0xe1, 0x4b, 0xe8, 0xaf, 0xe3, 0x24, 0x34, 0xc6, 0x4d, 0x92, 0x38];
/// `NonBlockingCoordinator.COORD_HEADER`: the first 16 bytes of the coordinator's messages.
pub const COORD_HEADER: [u8; 16] =
    [0xaa, 0x26, 0xde, 0xe3, 0x9e, 0x5a, 0x41, 0x3f, 0xaf, 0x86, 0xfa, 0x92, 0x63, 0xca, 0x0d, 0x3f];

/// An interceptor's control message, recognised by its exact payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlPayload {
    /// A TcpFailureDetector probe: drop it (the connection usually closes right after).
    FailureDetectorProbe,
    /// A TcpPingInterceptor ping: drop it.
    TcpPing,
    /// StaticMembershipInterceptor: the sender started.
    StaticMemberStart,
    /// StaticMembershipInterceptor: the sender stops.
    StaticMemberStop,
}

impl ControlPayload {
    /// Recognises a message payload that an interceptor injected.
    pub fn classify(message: &[u8]) -> Option<ControlPayload> {
        match message {
            m if m == TCP_FAIL_DETECT => Some(ControlPayload::FailureDetectorProbe),
            m if m == TCP_PING_DATA => Some(ControlPayload::TcpPing),
            m if m == MEMBER_START => Some(ControlPayload::StaticMemberStart),
            m if m == MEMBER_STOP => Some(ControlPayload::StaticMemberStop),
            _ => None,
        }
    }

    /// The payload bytes.
    pub fn payload(self) -> &'static [u8] {
        match self {
            ControlPayload::FailureDetectorProbe => &TCP_FAIL_DETECT,
            ControlPayload::TcpPing => &TCP_PING_DATA,
            ControlPayload::StaticMemberStart => MEMBER_START,
            ControlPayload::StaticMemberStop => MEMBER_STOP,
        }
    }
}

/// A control message from `local`: an interceptor's `payload` (one of the constants above) with
/// its options, a fresh `unique_id` and the time.
pub fn control_message(
    local: Member,
    payload: &'static [u8],
    options: SendOptions,
    unique_id: [u8; 16],
    now_ms: i64,
) -> ChannelData {
    ChannelData {
        options,
        timestamp: now_ms,
        unique_id: Bytes::copy_from_slice(&unique_id),
        address: local,
        message: Bytes::from_static(payload),
    }
}

/// The message TcpFailureDetector writes on a fresh connection to test a member
/// (`TcpFailureDetector.memberAlive` with `performSendTest`). With `read_test` it also asks for an
/// ACK, and the member counts as alive when any byte comes back.
pub fn failure_detector_probe(local: Member, unique_id: [u8; 16], now_ms: i64, read_test: bool) -> ChannelData {
    let mut options = SendOptions::BYTE_MESSAGE;
    if read_test {
        options |= SendOptions::USE_ACK;
    }
    control_message(local, &TCP_FAIL_DETECT, options, unique_id, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn constants_match_the_verified_vectors() {
        assert_eq!(
            TCP_FAIL_DETECT,
            hex!(
                "4fa77348798243c99f6f8980a15b07147dd9525bebf1439ab77ebe8f81671eb6"
                "3715be87457e4ca8bf0a4d1353381532 55f694b73afa407891047dd77284c0d5"
            )
        );
        assert_eq!(
            TCP_PING_DATA,
            hex!(
                "4fa7734879df43c99f6f8980a15b07147dd9525bebdf439ab77ebe8f81671eb6"
                "3715be8745214ca8bf0a4d1353381532 55f694b73adf217891047dd77284c0d5"
            )
        );
        for c in [
            ControlPayload::FailureDetectorProbe,
            ControlPayload::TcpPing,
            ControlPayload::StaticMemberStart,
            ControlPayload::StaticMemberStop,
        ] {
            assert_eq!(ControlPayload::classify(c.payload()), Some(c));
        }
        assert_eq!(ControlPayload::classify(&TCP_FAIL_DETECT[..63]), None);
    }
}
