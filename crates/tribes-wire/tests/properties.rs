//! Properties of the codecs over generated inputs: round trips, every way TCP can split a
//! stream, bounded allocation, and arbitrary or corrupted bytes through every decoder.
//!
//! The no-panic properties call the same entry points as the cargo-fuzz targets
//! (`tribes_wire::fuzzing`), so a failure here reproduces there and the other way round. Case
//! counts are kept low enough for the whole file to run in a few seconds on two cores; raise
//! them for a longer local run with the per-block `cases` below.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use tribes_wire::frame::{encode_frame, FrameError, HEADER_LEN, OVERHEAD, START};
use tribes_wire::{fuzzing, ChannelData, DecodeError, FrameDecoder, Member, SendOptions, UniqueId};

/// What the tests give the decoder as its cap, unless a property says otherwise.
const MAX_LEN: usize = 1 << 20;

fn any_member() -> impl Strategy<Value = Member> {
    (
        (any::<i64>(), any::<i32>(), any::<i32>(), any::<i32>()),
        prop_oneof![vec(any::<u8>(), 4), vec(any::<u8>(), 16)],
        (vec(any::<u8>(), 0..300), vec(any::<u8>(), 0..300), vec(any::<u8>(), 0..300)),
        any::<[u8; 16]>(),
    )
        .prop_map(|((alive, port, secure_port, udp_port), host, (command, domain, payload), id)| Member {
            alive,
            port,
            secure_port,
            udp_port,
            host: Bytes::from(host),
            command: Bytes::from(command),
            domain: Bytes::from(domain),
            unique_id: UniqueId(id),
            payload: Bytes::from(payload),
        })
}

fn any_channel_data() -> impl Strategy<Value = ChannelData> {
    (any::<i32>(), any::<i64>(), any::<[u8; 16]>(), any_member(), vec(any::<u8>(), 0..4096)).prop_map(
        |(options, timestamp, id, address, message)| ChannelData {
            options: SendOptions(options),
            timestamp,
            unique_id: Bytes::copy_from_slice(&id),
            address,
            message: Bytes::from(message),
        },
    )
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut wire = BytesMut::new();
    encode_frame(payload, &mut wire);
    wire.to_vec()
}

/// Appends `chunks` to one receive buffer in turn, decoding after each as a connection would.
fn decode_in_chunks<'a>(
    decoder: FrameDecoder,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Bytes>, FrameError> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(payload) = decoder.decode(&mut buf)? {
            out.push(payload);
        }
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(out)
}

/// `wire` cut at the sorted, deduplicated positions `cuts`.
fn split_at_all<'a>(wire: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
    at.sort_unstable();
    at.dedup();
    let mut pieces = Vec::new();
    let mut from = 0;
    for to in at.into_iter().chain([wire.len()]) {
        pieces.push(&wire[from..to]);
        from = to;
    }
    pieces
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_member_round_trips_through_its_packet(m in any_member()) {
        let packet = m.to_bytes();
        prop_assert_eq!(packet.len(), m.encoded_len());
        let back = Member::decode(&packet).expect("an encoded member decodes");
        prop_assert_eq!(&back.to_bytes(), &packet);
        prop_assert_eq!(back, m);
    }

    #[test]
    fn channel_data_round_trips_through_its_payload(cd in any_channel_data()) {
        let mut payload = BytesMut::new();
        cd.encode(&mut payload);
        prop_assert_eq!(payload.len(), cd.encoded_len());
        let payload = payload.freeze();
        let back = ChannelData::decode(&payload).expect("an encoded ChannelData decodes");
        prop_assert_eq!(back, cd);
    }

    #[test]
    fn framed_channel_data_round_trips_through_the_frame_decoder(cd in any_channel_data()) {
        let frame = cd.to_frame();
        let mut payload = BytesMut::new();
        cd.encode(&mut payload);
        prop_assert_eq!(&frame[..], &framed(&payload)[..], "encode_frame and ChannelData::encode_frame agree");
        let mut src = BytesMut::from(&frame[..]);
        let got = FrameDecoder::new(MAX_LEN).decode(&mut src).expect("valid").expect("complete");
        prop_assert!(src.is_empty());
        prop_assert_eq!(ChannelData::decode(&got).expect("valid ChannelData"), cd);
    }

    #[test]
    fn every_split_point_of_a_frame_is_pending_then_complete(payload in vec(any::<u8>(), 0..600)) {
        let wire = framed(&payload);
        let decoder = FrameDecoder::new(MAX_LEN);
        for cut in 0..wire.len() {
            let mut src = BytesMut::from(&wire[..cut]);
            prop_assert_eq!(decoder.decode(&mut src), Ok(None), "cut at {}", cut);
            prop_assert_eq!(&src[..], &wire[..cut], "Ok(None) leaves the buffer untouched");
            src.extend_from_slice(&wire[cut..]);
            prop_assert_eq!(decoder.decode(&mut src), Ok(Some(Bytes::from(payload.clone()))), "cut at {}", cut);
            prop_assert!(src.is_empty());
        }
    }

    #[test]
    fn a_stream_of_frames_split_into_random_chunks_decodes_to_its_payloads_in_order(
        payloads in vec(vec(any::<u8>(), 0..300), 1..=5),
        cuts in vec(any::<Index>(), 0..24),
    ) {
        let wire: Vec<u8> = payloads.iter().flat_map(|p| framed(p)).collect();
        let got = decode_in_chunks(FrameDecoder::new(MAX_LEN), split_at_all(&wire, &cuts));
        let want: Vec<Bytes> = payloads.into_iter().map(Bytes::from).collect();
        prop_assert_eq!(got, Ok(want));
    }

    #[test]
    fn a_stream_of_channel_data_frames_split_anywhere_decodes_to_the_same_messages(
        messages in vec(any_channel_data(), 1..=3),
        cuts in vec(any::<Index>(), 0..16),
    ) {
        let wire: Vec<u8> = messages.iter().flat_map(|cd| cd.to_frame().to_vec()).collect();
        let payloads = decode_in_chunks(FrameDecoder::new(MAX_LEN), split_at_all(&wire, &cuts)).expect("valid");
        let got: Vec<ChannelData> = payloads.iter().map(|p| ChannelData::decode(p).expect("valid")).collect();
        prop_assert_eq!(got, messages);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_bytes_never_panic_any_fuzzing_entry_point(data in vec(any::<u8>(), 0..4096)) {
        fuzzing::frame_stream(&data);
        fuzzing::member(&data);
        fuzzing::channel_data(&data);
        fuzzing::send_options(&data);
    }

    /// Random bytes rarely get past a start marker; these start as valid structures and are then
    /// corrupted, so every later check in the decoders is reached.
    #[test]
    fn corrupted_valid_inputs_never_panic_any_fuzzing_entry_point(
        cd in any_channel_data(),
        ctl in any::<u8>(),
        sizes in vec(any::<u8>(), 0..16),
        edits in vec((any::<Index>(), any::<u8>()), 0..4),
        cut in proptest::option::of(any::<Index>()),
    ) {
        let corrupt = |mut bytes: Vec<u8>| {
            for (at, value) in &edits {
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] = *value;
                }
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            bytes
        };
        fuzzing::member(&corrupt(cd.address.to_bytes().to_vec()));
        let mut payload = BytesMut::new();
        cd.encode(&mut payload);
        fuzzing::channel_data(&corrupt(payload.to_vec()));
        // frame_stream's input: control byte, chunk sizes, then the stream (see its docs).
        let ctl = (ctl & !0x3c) | (sizes.len() as u8) << 2;
        let mut input = vec![ctl];
        input.extend_from_slice(&sizes);
        input.extend_from_slice(&corrupt(cd.to_frame().to_vec()));
        fuzzing::frame_stream(&input);
    }

    #[test]
    fn the_frame_decoder_agrees_with_the_reference_on_any_prefix_of_a_near_valid_stream(
        payloads in vec(vec(any::<u8>(), 0..40), 1..4),
        max_len in 0usize..48,
        edit in proptest::option::of((any::<Index>(), any::<u8>())),
    ) {
        let mut wire: Vec<u8> = payloads.iter().flat_map(|p| framed(p)).collect();
        if let Some((at, value)) = edit {
            let i = at.index(wire.len());
            wire[i] = value;
        }
        // Every read size at once: all prefixes, each decoded from scratch.
        let decoder = FrameDecoder::new(max_len);
        for cut in 0..=wire.len() {
            let mut src = BytesMut::from(&wire[..cut]);
            let got = decoder.decode(&mut src).map(|p| p.map(|p| p.len() + OVERHEAD));
            prop_assert_eq!(got, fuzzing::reference_decode(&wire[..cut], max_len), "prefix of {} bytes", cut);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The decoder reserves ahead for a declared package, but never for more than the cap allows:
    /// the bound is twice (bytes fed + what the largest allowed package still lacks), the factor
    /// two being `Vec`'s amortised growth (see `fuzzing::capacity_bound`).
    #[test]
    fn the_receive_buffer_never_grows_past_the_input_and_the_capped_look_ahead(
        len in prop_oneof![any::<i32>(), 0i32..=1100],
        body in vec(any::<u8>(), 0..2048),
        sizes in vec(1usize..512, 1..8),
    ) {
        const CAP: usize = 1024;
        let mut wire = START.to_vec();
        wire.extend_from_slice(&len.to_be_bytes());
        wire.extend_from_slice(&body);
        let decoder = FrameDecoder::new(CAP);
        let mut buf = BytesMut::new();
        let (mut fed, mut i) = (0, 0);
        'feed: while fed < wire.len() {
            let end = (fed + sizes[i % sizes.len()]).min(wire.len());
            i += 1;
            buf.extend_from_slice(&wire[fed..end]);
            fed = end;
            loop {
                let result = decoder.decode(&mut buf);
                prop_assert!(
                    buf.capacity() <= fuzzing::capacity_bound(fed, CAP),
                    "capacity {} after {} bytes", buf.capacity(), fed
                );
                match result {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
    }

    #[test]
    fn any_declared_length_over_the_cap_is_too_long(len in 1025i32..=i32::MAX, more in vec(any::<u8>(), 0..64)) {
        let mut src = BytesMut::from(&START[..]);
        src.extend_from_slice(&len.to_be_bytes());
        src.extend_from_slice(&more);
        let before = src.clone();
        prop_assert_eq!(
            FrameDecoder::new(1024).decode(&mut src),
            Err(FrameError::TooLong { len: len as usize, max: 1024 })
        );
        prop_assert_eq!(src, before, "nothing consumed");
    }

    /// With the default 64 MiB cap a large declared length is allowed, and the decoder still
    /// reserves at most its 64 KiB look-ahead beyond what has arrived.
    #[test]
    fn a_large_declared_length_within_the_default_cap_reserves_only_the_look_ahead(
        len in 0i32..(64 << 20),
        body in vec(any::<u8>(), 0..256),
    ) {
        let mut src = BytesMut::from(&START[..]);
        src.extend_from_slice(&len.to_be_bytes());
        src.extend_from_slice(&body);
        let fed = src.len();
        let result = FrameDecoder::default().decode(&mut src);
        prop_assert!(matches!(result, Ok(None) | Err(FrameError::BadEnd { .. })), "{:?}", result);
        prop_assert!(src.capacity() <= 2 * (fed + (64 << 10)), "capacity {}", src.capacity());
    }

    #[test]
    fn a_frame_with_one_byte_changed_decodes_to_what_it_now_says_or_is_refused(
        cd in any_channel_data(),
        at in any::<Index>(),
        xor in 1u8..=255,
    ) {
        let mut wire = cd.to_frame().to_vec();
        let i = at.index(wire.len());
        wire[i] ^= xor;
        let mut src = BytesMut::from(&wire[..]);
        match FrameDecoder::new(MAX_LEN).decode(&mut src) {
            Ok(Some(payload)) => {
                let consumed = wire.len() - src.len();
                prop_assert_eq!(&framed(&payload)[..], &wire[..consumed]);
                prop_assert!(i >= HEADER_LEN && i < wire.len() - 7, "only a payload byte can change and still decode");
                if let Ok(back) = ChannelData::decode(&payload) {
                    let mut again = BytesMut::new();
                    back.encode(&mut again);
                    prop_assert_eq!(&again[..], &payload[..]);
                }
            }
            // A length field changed to a larger length within the cap waits for more bytes.
            Ok(None) => prop_assert!((7..HEADER_LEN).contains(&i), "pending after changing byte {}", i),
            Err(e) => prop_assert!(e.offset() < wire.len()),
        }
    }

    #[test]
    fn member_decode_refuses_every_truncation_and_extension_of_a_valid_packet(
        m in any_member(),
        extra in vec(any::<u8>(), 1..8),
    ) {
        let packet = m.to_bytes();
        for len in 0..packet.len() {
            let err = Member::decode(&packet.slice(..len)).expect_err("a truncated packet is refused");
            prop_assert!(matches!(err, DecodeError::Truncated { .. }), "{} bytes: {:?}", len, err);
        }
        let mut longer = packet.to_vec();
        longer.extend_from_slice(&extra);
        let err = Member::decode(&Bytes::from(longer)).expect_err("trailing bytes are refused");
        prop_assert!(matches!(err, DecodeError::TrailingBytes { .. }), "{:?}", err);
    }

    #[test]
    fn send_options_display_never_panics_and_every_number_parses_back(n in any::<i32>()) {
        let opts = SendOptions(n);
        let shown = opts.to_string();
        prop_assert!(shown.starts_with(&format!("0x{n:08x} (")), "{}", shown);
        prop_assert_eq!(format!("{opts:?}"), shown);
        prop_assert_eq!(SendOptions::parse(&n.to_string()), Ok(opts));
        prop_assert_eq!(SendOptions::parse(&format!(" {n} ")), Ok(opts));
    }

    #[test]
    fn send_option_names_parse_to_the_union_of_their_bits(
        picks in vec((0usize..10, any::<bool>()), 1..6),
    ) {
        const NAMES: [(&str, i32); 10] = [
            ("byte", 0x01), ("byte_message", 0x01), ("use_ack", 0x02), ("sync", 0x04),
            ("synchronized_ack", 0x04), ("async", 0x08), ("asynchronous", 0x08), ("secure", 0x10),
            ("udp", 0x20), ("multicast", 0x40),
        ];
        let text = picks
            .iter()
            .map(|&(i, spaced)| if spaced { format!(" {} ", NAMES[i].0) } else { NAMES[i].0.to_string() })
            .collect::<Vec<_>>()
            .join(",");
        let want = picks.iter().fold(0, |bits, &(i, _)| bits | NAMES[i].1);
        prop_assert_eq!(SendOptions::parse(&text), Ok(SendOptions(want)));
        fuzzing::send_options(text.as_bytes());
    }
}

/// The committed seeds of `fuzz/seeds/<target>/` run through their entry points, and the member
/// and ChannelData seeds are valid, so that the fuzzer starts from inputs that reach deep.
#[test]
fn every_fuzz_seed_passes_its_entry_point_and_decodes() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds");
    type EntryPoint = fn(&[u8]);
    let targets: [(&str, EntryPoint); 4] = [
        ("frame_stream", fuzzing::frame_stream),
        ("member", fuzzing::member),
        ("channel_data", fuzzing::channel_data),
        ("send_options", fuzzing::send_options),
    ];
    for (target, entry) in targets {
        let dir = seeds.join(target);
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|f| f.expect("seed entry").path())
            .collect();
        assert!(!files.is_empty(), "no seed in {}", dir.display());
        for file in files {
            let data = std::fs::read(&file).expect("seed is readable");
            entry(&data);
            let data = Bytes::from(data);
            match target {
                "member" => assert!(Member::decode(&data).is_ok(), "{}", file.display()),
                "channel_data" => assert!(ChannelData::decode(&data).is_ok(), "{}", file.display()),
                "send_options" => assert!(
                    SendOptions::parse(std::str::from_utf8(&data).expect("utf-8")).is_ok(),
                    "{}",
                    file.display()
                ),
                _ => {}
            }
        }
    }
}
