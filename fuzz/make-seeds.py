#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/ from the verified vectors in ../shared/spec/test-vectors.md.

Run from anywhere: python3 fuzz/make-seeds.py. The seeds are committed; rerun only when the
vectors or the frame_stream input layout (tribes_wire::fuzzing::frame_stream) change.
"""
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent
SPEC = HERE.parent.parent / "shared" / "spec" / "test-vectors.md"


def vectors():
    """{title: bytes} for every titled hex block of the spec."""
    out, title, lines = {}, None, iter(SPEC.read_text().splitlines())
    for line in lines:
        if line.startswith("**"):
            title = line.strip("*").split("**")[0]
        elif line.strip() == "```" and title:
            hexs = ""
            for l in lines:
                if l.strip() == "```":
                    break
                hexs += l.replace(" ", "")
            out[title] = bytes.fromhex(hexs)
            title = None
    return out


def pick(vs, prefix):
    [b] = [v for t, v in vs.items() if t.startswith(prefix)]
    return b


def frame_stream_input(cap_index, sizes, stream):
    """ctl | chunk sizes | stream, as tribes_wire::fuzzing::frame_stream reads it."""
    assert 0 <= cap_index < 4 and len(sizes) < 16
    return bytes([cap_index | len(sizes) << 2]) + bytes(s - 1 for s in sizes) + stream


def main():
    vs = vectors()
    member_a = pick(vs, "Member A")
    member_b = pick(vs, "Member B — produced")
    member_b_shutdown = pick(vs, "Member B with command")
    member_c = pick(vs, "Member C")
    hello = pick(vs, "ByteMessage `hello`")
    probe = pick(vs, "TcpFailureDetector probe")
    ack = pick(vs, "ACK_COMMAND")
    fail_ack = pick(vs, "FAIL_ACK_COMMAND")
    seeds = {
        "member": {
            "member-a.bin": member_a,
            "member-b.bin": member_b,
            "member-b-shutdown.bin": member_b_shutdown,
            "member-c-ipv6.bin": member_c,
        },
        "channel_data": {
            "hello.bin": hello[11:-7],
            "probe.bin": probe[11:-7],
        },
        # Caps: FRAME_STREAM_CAPS = [0, 64, 256, 1024].
        "frame_stream": {
            "hello-one-read.bin": frame_stream_input(2, [], hello),
            "probe-7-byte-reads.bin": frame_stream_input(2, [7], probe),
            "ack-byte-by-byte.bin": frame_stream_input(1, [1], ack),
            "hello-ack-probe-fail-ack-mixed-reads.bin": frame_stream_input(
                2, [1, 10, 100, 3], hello + ack + probe + fail_ack
            ),
            "probe-over-the-cap.bin": frame_stream_input(1, [], probe),
        },
        "send_options": {
            "number.txt": b"8",
            "names.txt": b"use_ack, sync",
            "long-names.txt": b"byte_message,asynchronous,multicast",
        },
    }
    for target, files in seeds.items():
        d = HERE / "seeds" / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (d / name).write_bytes(data)
            print(f"{d.relative_to(HERE.parent)}/{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
