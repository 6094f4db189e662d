//! Hex text as operators paste it: `464c54...`, `46 4c 54 ...` 16 to a line as in the spec's
//! vectors, with newlines, and with or without a `0x` at the start of each group.

use std::fmt;

/// Why text is not hex. Positions are 0-based byte offsets into the text; lines and columns
/// count from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HexError {
    /// A byte that is neither a hex digit, whitespace, nor part of a leading `0x`.
    BadChar { position: usize, byte: u8, line: usize, column: usize },
    /// The digits do not pair up into bytes; `position` is the last, unpaired one.
    OddLength { digits: usize, position: usize },
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HexError::BadChar { position, byte, line, column } => {
                f.write_str("invalid hex: ")?;
                if byte.is_ascii_graphic() {
                    write!(f, "'{}'", byte as char)?;
                } else {
                    write!(f, "byte 0x{byte:02x}")?;
                }
                write!(f, " at position {position} (line {line}, column {column}) is not a hex digit")
            }
            HexError::OddLength { digits, position } => write!(
                f,
                "invalid hex: odd number of hex digits ({digits}); the last one, at position {position}, has no pair"
            ),
        }
    }
}

/// Parses hex text into bytes. Whitespace anywhere is ignored, and a whitespace-separated group
/// may start with `0x` or `0X`.
pub(crate) fn parse(text: &[u8]) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<(u8, usize)> = None;
    let (mut line, mut line_start) = (1, 0);
    let mut group_start = true;
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c.is_ascii_whitespace() {
            if c == b'\n' {
                line += 1;
                line_start = i + 1;
            }
            group_start = true;
            i += 1;
            continue;
        }
        if group_start && c == b'0' && matches!(text.get(i + 1), Some(b'x' | b'X')) {
            group_start = false;
            i += 2;
            continue;
        }
        group_start = false;
        let Some(value) = nibble(c) else {
            return Err(HexError::BadChar { position: i, byte: c, line, column: i - line_start + 1 });
        };
        match high.take() {
            None => high = Some((value, i)),
            Some((h, _)) => out.push(h << 4 | value),
        }
        i += 1;
    }
    if let Some((_, position)) = high {
        return Err(HexError::OddLength { digits: out.len() * 2 + 1, position });
    }
    Ok(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_spaced_prefixed_and_multiline_hex_all_parse() {
        assert_eq!(parse(b"464c54"), Ok(b"FLT".to_vec()));
        assert_eq!(parse(b"46 4c 54\n32 30\r\n"), Ok(b"FLT20".to_vec()));
        assert_eq!(parse(b"0x464C54"), Ok(b"FLT".to_vec()));
        assert_eq!(parse(b"0x46 0X4c 54"), Ok(b"FLT".to_vec()));
        assert_eq!(parse(b"  \n"), Ok(vec![]));
        assert_eq!(parse(b"4 6"), Ok(vec![0x46]), "digits pair up across whitespace");
    }

    #[test]
    fn a_bad_character_is_reported_with_its_position_line_and_column() {
        assert_eq!(parse(b"46 4g"), Err(HexError::BadChar { position: 4, byte: b'g', line: 1, column: 5 }));
        assert_eq!(parse(b"46\n0x4cx"), Err(HexError::BadChar { position: 7, byte: b'x', line: 2, column: 5 }));
        let e = parse("46 é".as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "invalid hex: byte 0xc3 at position 3 (line 1, column 4) is not a hex digit");
    }

    #[test]
    fn an_odd_number_of_digits_names_the_unpaired_one() {
        assert_eq!(parse(b"46 4c 5"), Err(HexError::OddLength { digits: 5, position: 6 }));
    }
}
