//! The default, human-readable output of `decode`.

use std::io::{self, Write};

use super::view::{ChannelDataView, Item, MemberView};

/// Bytes of a message or member payload shown before "... N more bytes".
const PREVIEW_LEN: usize = 64;
/// Labels are padded to this width so values line up.
const LABEL_WIDTH: usize = 14;

pub(crate) fn write_item(out: &mut impl Write, item: &Item) -> io::Result<()> {
    match item {
        Item::Frame(f) => match &f.channel_data {
            None => {
                let name = if f.kind == "fail_ack" { "FAIL_ACK" } else { "ACK" };
                writeln!(out, "frame {} at offset {}: {} bytes, {name}", f.index, f.offset, f.length)
            }
            Some(cd) => {
                writeln!(
                    out,
                    "frame {} at offset {}: {} bytes, ChannelData of {} bytes",
                    f.index, f.offset, f.length, f.payload_length
                )?;
                write_channel_data(out, cd)
            }
        },
        Item::Member(m) => {
            writeln!(out, "member packet at offset {}: {} bytes", m.offset, m.length)?;
            write_member(out, 2, &m.member)
        }
        Item::ChannelData(c) => {
            writeln!(out, "ChannelData at offset {}: {} bytes", c.offset, c.length)?;
            write_channel_data(out, &c.data)
        }
        Item::Java(j) => {
            writeln!(out, "Java stream at offset {}: {} bytes", j.java.offset, j.java.length)?;
            super::java::write_human(out, 2, &j.java)
        }
    }
}

fn field(out: &mut impl Write, indent: usize, label: &str, value: impl std::fmt::Display) -> io::Result<()> {
    let label = format!("{label}:");
    writeln!(out, "{:indent$}{label:<LABEL_WIDTH$}{value}", "")
}

fn write_channel_data(out: &mut impl Write, cd: &ChannelDataView) -> io::Result<()> {
    field(out, 2, "options", &cd.options_text)?;
    match &cd.timestamp_utc {
        Some(utc) => field(out, 2, "timestamp", format_args!("{} ({utc})", cd.timestamp))?,
        None => field(out, 2, "timestamp", format_args!("{} (not a time between 1970 and 9999)", cd.timestamp))?,
    }
    field(out, 2, "unique id", hex::encode(&cd.unique_id.0))?;
    field(
        out,
        2,
        "sender",
        format_args!(
            "{}:{}, member packet of {} bytes at offset {}",
            cd.sender.host, cd.sender.port, cd.sender_length, cd.sender_offset
        ),
    )?;
    write_member(out, 4, &cd.sender)?;
    field(out, 2, "message", &cd.message_summary)?;
    if cd.control.is_none() {
        hexdump(out, 4, &cd.message.0)?;
    }
    if let Some(j) = &cd.java {
        super::java::write_human(out, 2, j)?;
    }
    Ok(())
}

fn write_member(out: &mut impl Write, indent: usize, m: &MemberView) -> io::Result<()> {
    field(out, indent, "host", &m.host)?;
    field(out, indent, "port", m.port)?;
    field(out, indent, "secure port", m.secure_port)?;
    field(out, indent, "udp port", m.udp_port)?;
    let alive = match &m.alive {
        Some(human) => format!("{} ms ({human})", m.alive_ms),
        None => format!("{} ms (negative)", m.alive_ms),
    };
    // A packet re-serialized from a parsed one carries the epoch time here (membership.md §6).
    let epoch_hint = match super::view::utc_millis(m.alive_ms) {
        Some(utc) if m.alive_ms >= 1_000_000_000_000 => {
            format!(", looks like an epoch time: {utc}")
        }
        _ => String::new(),
    };
    field(out, indent, "alive", format_args!("{alive}{epoch_hint}"))?;
    field(out, indent, "unique id", format_args!("{} {}", hex::encode(&m.unique_id.0), m.unique_id_tomcat))?;
    field(out, indent, "domain", text_or_hex(m.domain.as_deref(), &m.domain_hex.0, "(empty)"))?;
    let command = text_or_hex(m.command.as_deref(), &m.command_hex.0, "(none)");
    if m.shutdown {
        field(out, indent, "command", format_args!("{command}, SHUTDOWN: the member is leaving the cluster"))?;
    } else {
        field(out, indent, "command", command)?;
    }
    field(out, indent, "payload", format_args!("{} bytes", m.payload_length))?;
    hexdump(out, indent + 2, &m.payload.0)
}

/// Quoted text (escaped like a Rust string, so no control byte reaches the terminal), or hex.
fn text_or_hex(text: Option<&str>, raw: &[u8], empty: &str) -> String {
    match text {
        _ if raw.is_empty() => empty.to_string(),
        Some(t) => format!("{t:?}"),
        None => format!("0x{} (not printable)", hex::encode(raw)),
    }
}

/// `hexdump -C` style lines for the first [`PREVIEW_LEN`] bytes, offsets relative to `bytes`.
fn hexdump(out: &mut impl Write, indent: usize, bytes: &[u8]) -> io::Result<()> {
    let shown = &bytes[..bytes.len().min(PREVIEW_LEN)];
    for (i, chunk) in shown.chunks(16).enumerate() {
        let mut hex = String::with_capacity(49);
        for (j, b) in chunk.iter().enumerate() {
            if j == 8 {
                hex.push(' ');
            }
            hex.push_str(&format!("{b:02x} "));
        }
        let ascii: String =
            chunk.iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }).collect();
        writeln!(out, "{:indent$}{:04x}  {hex:<49} |{ascii}|", "", i * 16)?;
    }
    if bytes.len() > shown.len() {
        writeln!(out, "{:indent$}... {} more bytes", "", bytes.len() - shown.len())?;
    }
    Ok(())
}
