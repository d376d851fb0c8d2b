//! The little of WebSocket (RFC 6455) that Pebble's exec needs (spec/juju-runtime.md §3.3):
//! the opening handshake's accept key, and frames, sans-I/O. Shared by the client and the
//! harness's fake Pebble.
//!
//! Pebble's exec streams use one frame per message: binary frames carry output or input,
//! a text frame `{"command":"end"}` marks the end of a stream. Fragmented messages are not
//! reassembled (neither side of Pebble's protocol sends them here).

use base64::Engine;

/// Continuation frame.
pub const CONTINUATION: u8 = 0x0;
/// Text frame.
pub const TEXT: u8 = 0x1;
/// Binary frame.
pub const BINARY: u8 = 0x2;
/// Close frame.
pub const CLOSE: u8 = 0x8;
/// Ping frame.
pub const PING: u8 = 0x9;
/// Pong frame.
pub const PONG: u8 = 0xA;
/// The text message that ends an exec stream.
pub const END: &str = r#"{"command":"end"}"#;
/// The GUID of the accept key (RFC 6455 §1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` answer to a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let digest = sha1(format!("{}{GUID}", key.trim()).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// A `Sec-WebSocket-Key` from 16 bytes of `seed`.
pub fn client_key(seed: u128) -> String {
    base64::engine::general_purpose::STANDARD.encode(seed.to_be_bytes())
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// [`TEXT`], [`BINARY`], [`CLOSE`], ...
    pub opcode: u8,
    /// The unmasked payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// Whether this is the end-of-stream text message, a close, or anything that ends a
    /// stream.
    pub fn ends_stream(&self) -> bool {
        self.opcode == CLOSE
            || (self.opcode == TEXT
                && serde_json::from_slice::<serde_json::Value>(&self.payload)
                    .is_ok_and(|v| v["command"] == "end"))
    }
}

/// A final frame of `opcode` carrying `payload`, masked with `mask` (clients must mask,
/// servers must not).
pub fn encode(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | (opcode & 0x0F));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => frame.push(mask_bit | n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => frame.extend_from_slice(payload),
    }
    frame
}

/// The first frame of `buffer` and how many bytes it took, or `None` when `buffer` does
/// not hold a whole frame yet.
pub fn decode(buffer: &[u8]) -> Option<(Frame, usize)> {
    let (&first, rest) = buffer.split_first()?;
    let (&second, rest) = rest.split_first()?;
    let masked = second & 0x80 != 0;
    let (length, rest) = match second & 0x7F {
        126 => {
            let bytes = rest.get(..2)?;
            (
                usize::from(u16::from_be_bytes([bytes[0], bytes[1]])),
                &rest[2..],
            )
        }
        127 => {
            let bytes: [u8; 8] = rest.get(..8)?.try_into().ok()?;
            (usize::try_from(u64::from_be_bytes(bytes)).ok()?, &rest[8..])
        }
        n => (usize::from(n), rest),
    };
    let (key, rest) = if masked {
        let key: [u8; 4] = rest.get(..4)?.try_into().ok()?;
        (Some(key), &rest[4..])
    } else {
        (None, rest)
    };
    let payload = rest.get(..length)?;
    let payload = match key {
        Some(key) => payload
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect(),
        None => payload.to_vec(),
    };
    let used = buffer.len() - rest.len() + length;
    Some((
        Frame {
            opcode: first & 0x0F,
            payload,
        },
        used,
    ))
}

/// SHA-1 (FIPS 180-4), only for the handshake's accept key.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bits.to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let next = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = next;
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(value);
        }
    }
    let mut digest = [0u8; 20];
    for (chunk, word) in digest.chunks_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha1_matches_the_standard_vectors() {
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(hex(&sha1(long)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    }

    #[test]
    fn the_accept_key_is_rfc_6455s_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn frames_round_trip_masked_or_not_at_every_length_class() {
        for length in [0usize, 5, 125, 126, 65_535, 65_536] {
            let payload: Vec<u8> = (0..length).map(|i| (i % 251) as u8).collect();
            for mask in [None, Some([1, 2, 3, 4])] {
                let mut bytes = encode(BINARY, &payload, mask);
                let total = bytes.len();
                assert_eq!(decode(&bytes[..total - 1]), None, "a partial frame waits");
                bytes.extend_from_slice(b"next");
                let (frame, used) = decode(&bytes).unwrap();
                assert_eq!((frame.opcode, used), (BINARY, total));
                assert_eq!(frame.payload, payload);
            }
        }
        let (end, _) = decode(&encode(TEXT, END.as_bytes(), None)).unwrap();
        assert!(end.ends_stream());
        let (data, _) = decode(&encode(TEXT, b"hello", None)).unwrap();
        assert!(!data.ends_stream());
    }
}
