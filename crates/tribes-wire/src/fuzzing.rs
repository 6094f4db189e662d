//! Fuzzing entry points: one per decoder, each taking arbitrary bytes.
//!
//! Every function here must return normally for any input; a panic is a bug, either a decoder
//! that panics or a broken invariant (checked with `assert!`). They are called by the cargo-fuzz
//! targets in `fuzz/fuzz_targets/` and by the proptest properties in `tests/properties.rs`, so a
//! crash found by either reproduces with the other: `tribes_wire::fuzzing::frame_stream(&bytes)`.
//!
//! Not part of the crate's API: hidden from the docs and free to change.

use bytes::{Bytes, BytesMut};

use crate::frame::{encode_frame, END, HEADER_LEN, OVERHEAD, START};
use crate::{Ack, ChannelData, ControlPayload, DecodeError, FrameDecoder, FrameError, Member, SendOptions};

/// The payload caps [`frame_stream`] picks from: small, so that `TooLong` and the cap boundary
/// are within a fuzzer's reach.
pub const FRAME_STREAM_CAPS: [usize; 4] = [0, 64, 256, 1024];

/// Feeds a byte stream to a [`FrameDecoder`] in pieces, as a socket would, and checks every
/// answer against a reference decoder written from the spec.
///
/// Input layout, so that the fuzzer steers the cap and the read sizes:
///
/// ```text
/// ctl: u8 | n chunk sizes: u8 each | stream
/// ```
///
/// `ctl & 3` picks the cap from [`FRAME_STREAM_CAPS`]; `(ctl >> 2) & 15` is `n`. Each chunk size
/// byte `b` means a read of `b + 1` bytes; the sizes repeat until the stream is used up. With
/// `n == 0` the stream arrives in one read.
///
/// After each read the decoder runs until it asks for more bytes or fails. Checked:
/// - each answer is exactly the reference's: a complete valid package is never `Ok(None)`, an
///   incomplete one never an error, and each error carries the reference's offset and values;
/// - each payload re-encodes with [`encode_frame`] to exactly the bytes it consumed;
/// - the buffer always holds exactly the stream's bytes not yet consumed (nothing is consumed on
///   `Ok(None)` or on an error);
/// - the buffer's capacity stays within [`capacity_bound`];
/// - each payload goes through [`channel_data`] as well.
pub fn frame_stream(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let max_len = FRAME_STREAM_CAPS[usize::from(ctl & 3)];
    let n = usize::from((ctl >> 2) & 15).min(rest.len());
    let (sizes, stream) = rest.split_at(n);
    let decoder = FrameDecoder::new(max_len);

    let mut buf = BytesMut::new();
    let (mut fed, mut consumed, mut reads) = (0usize, 0usize, 0usize);
    while fed < stream.len() {
        let size = match sizes.get(reads % sizes.len().max(1)) {
            Some(&b) => usize::from(b) + 1,
            None => stream.len(),
        };
        reads += 1;
        let end = (fed + size).min(stream.len());
        buf.extend_from_slice(&stream[fed..end]);
        fed = end;
        loop {
            let held = &stream[consumed..fed];
            let expected = reference_decode(held, max_len);
            let got = decoder.decode(&mut buf);
            assert!(
                buf.capacity() <= capacity_bound(fed, max_len),
                "capacity {} after {fed} bytes with cap {max_len}",
                buf.capacity()
            );
            match (got, expected) {
                (Ok(Some(payload)), Ok(Some(total))) => {
                    assert_eq!(payload.len() + OVERHEAD, total, "payload length of a complete package");
                    let mut again = BytesMut::new();
                    encode_frame(&payload, &mut again);
                    assert_eq!(&again[..], &held[..total], "a payload re-encodes to the bytes it came from");
                    consumed += total;
                    assert_eq!(&buf[..], &stream[consumed..fed], "exactly one package consumed");
                    channel_data(&payload);
                }
                (Ok(None), Ok(None)) => {
                    assert_eq!(&buf[..], held, "Ok(None) leaves the buffer untouched");
                    break;
                }
                (Err(e), Err(want)) => {
                    assert_eq!(e, want, "error for {} held bytes", held.len());
                    assert_eq!(&buf[..], held, "an error consumes nothing");
                    assert!(e.offset() < held.len(), "error offset {} is in the buffer", e.offset());
                    let _ = e.to_string();
                    return; // Tomcat closes the connection: nothing after an error is read.
                }
                (got, want) => panic!("decoder said {got:?}, the spec says {want:?}, for {held:02x?}"),
            }
        }
    }
}

/// The spec's answer for a receive buffer: `Ok(Some(total bytes))` when it starts with a complete
/// valid package, `Ok(None)` when it is a proper prefix of one, else the error that the first
/// offending bytes prove. Deliberately naive: it looks at every byte in order.
pub fn reference_decode(buf: &[u8], max_len: usize) -> Result<Option<usize>, FrameError> {
    for (offset, (&found, &want)) in buf.iter().zip(START.iter()).enumerate() {
        if found != want {
            return Err(FrameError::BadStart { offset, found });
        }
    }
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[7], buf[8], buf[9], buf[10]]);
    if len < 0 {
        return Err(FrameError::NegativeLength { len });
    }
    let len = len as usize;
    if len > max_len {
        return Err(FrameError::TooLong { len, max: max_len });
    }
    let end_at = HEADER_LEN + len;
    for (i, &want) in END.iter().enumerate() {
        match buf.get(end_at + i) {
            None => return Ok(None),
            Some(&found) if found != want => return Err(FrameError::BadEnd { len, offset: end_at }),
            Some(_) => {}
        }
    }
    Ok(Some(end_at + END.len()))
}

/// The most capacity a receive buffer may have after `fed` bytes were appended to it (with
/// `extend_from_slice`) and decoded with a cap of `max_len`.
///
/// Why: every growth of a `BytesMut` asks for at most `bytes held + additional` and gets at most
/// twice that (amortised doubling of the underlying `Vec`, which also keeps consumed bytes in
/// front: those count in `fed` too). Appending asks for at most `fed`. The decoder asks for its
/// look-ahead, which is at most what the declared package still lacks (at most `OVERHEAD +
/// max_len` beyond the bytes held) and never more than its 64 KiB reserve limit. A declared length
/// over the cap is refused before any reservation. 8 is `Vec`'s smallest non-zero capacity.
pub fn capacity_bound(fed: usize, max_len: usize) -> usize {
    const RESERVE_AHEAD_LIMIT: usize = 64 << 10; // frame::MAX_RESERVE_AHEAD
    let ahead = (OVERHEAD + max_len).min(RESERVE_AHEAD_LIMIT);
    (2 * (fed + ahead)).max(8)
}

/// [`Member::decode`] on arbitrary bytes. Checked: a packet that decodes re-encodes to exactly
/// the input; an error's offset is inside the input, and a `Truncated` error accounts for the
/// input up to its end.
pub fn member(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    match Member::decode(&input) {
        Ok(m) => {
            assert_eq!(m.encoded_len(), data.len(), "encoded_len of a decoded member");
            assert_eq!(&m.to_bytes()[..], data, "a decoded member re-encodes to its packet");
            let _ = format!("{m:?} {} {:?} {}", m.id(), m.ip(), m.is_shutdown());
        }
        Err(e) => {
            check_decode_error(&e, data.len());
            if let DecodeError::Truncated { offset, available, needed, .. } = e {
                assert_eq!(offset + available, data.len(), "{e}");
                assert!(needed > available, "{e}");
            }
        }
    }
}

/// [`ChannelData::decode`] on arbitrary bytes (a package payload). Checked: a message that
/// decodes re-encodes to exactly the input, and framed it decodes back to the same payload; an
/// error's offset is inside the input.
pub fn channel_data(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    match ChannelData::decode(&input) {
        Ok(cd) => {
            assert_eq!(cd.encoded_len(), data.len(), "encoded_len of a decoded ChannelData");
            let mut again = BytesMut::new();
            cd.encode(&mut again);
            assert_eq!(&again[..], data, "a decoded ChannelData re-encodes to its payload");
            let mut frame = BytesMut::from(&cd.to_frame()[..]);
            let payload = FrameDecoder::new(data.len()).decode(&mut frame);
            assert_eq!(payload, Ok(Some(input.clone())), "a framed ChannelData decodes to its payload");
            assert!(frame.is_empty(), "to_frame is one package");
            let _ = (cd.options.to_string(), cd.options.ack_mode(), ControlPayload::classify(&cd.message));
            let _ = Ack::from_payload(&cd.message);
        }
        Err(e) => check_decode_error(&e, data.len()),
    }
}

/// [`SendOptions::parse`] on arbitrary text (bytes taken as lossy UTF-8). Checked: nothing
/// panics; parsed options print and parse back from their decimal value; an error names a
/// comma-separated part of the input.
pub fn send_options(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match SendOptions::parse(&text) {
        Ok(opts) => {
            let _ = format!("{opts} {opts:?} {:?}", opts.ack_mode());
            assert_eq!(SendOptions::parse(&opts.bits().to_string()), Ok(opts), "decimal round trip");
        }
        Err(e) => {
            assert_eq!(e.value, text, "the error keeps the whole value");
            assert!(text.split(',').any(|part| part.trim() == e.name), "{e}");
            let _ = e.to_string();
        }
    }
    if let Some(b) = data.first_chunk::<4>() {
        let opts = SendOptions(i32::from_be_bytes(*b));
        let shown = opts.to_string();
        assert!(shown.starts_with(&format!("0x{:08x} (", opts.bits())), "{shown}");
    }
}

fn check_decode_error(e: &DecodeError, len: usize) {
    assert!(e.offset() <= len, "error offset {} past the {len} input bytes: {e}", e.offset());
    let _ = e.to_string();
}
