//! The tutorial's protocol (Part 2, "Message Boundaries"): every message is a 4-byte
//! little-endian length followed by that many bytes. The server echoes each message back with the
//! same framing, so an echo is byte for byte the frame that came in.
//!
//! The blocking helpers here are for the *clients* (`lab client`, the tour, the tests and
//! `lab bench`); the server itself never blocks and parses frames with its [`Reader`].
//!
//! [`Reader`]: crate::server::reader::Reader

use std::io::{self, Read, Write};

/// Bytes in the length prefix.
pub const PREFIX_LEN: usize = 4;

/// The frame for `message`: its length as 4 little-endian bytes, then the bytes themselves.
pub fn encode(message: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(PREFIX_LEN + message.len());
    frame.extend_from_slice(&prefix(message.len()));
    frame.extend_from_slice(message);
    frame
}

/// The 4-byte length prefix for a message of `len` bytes.
pub fn prefix(len: usize) -> [u8; PREFIX_LEN] {
    (len as u32).to_le_bytes()
}

/// The length a prefix announces.
pub fn announced_len(prefix: [u8; PREFIX_LEN]) -> usize {
    u32::from_le_bytes(prefix) as usize
}

/// Write one framed message (blocking). One `write_all` of the whole frame, so a small message
/// leaves in one segment.
pub fn write_message(stream: &mut impl Write, message: &[u8]) -> io::Result<()> {
    stream.write_all(&encode(message))
}

/// Read one framed message (blocking). `Ok(None)` when the peer closed cleanly before a new
/// frame began; a frame cut short is an `UnexpectedEof` error.
pub fn read_message(stream: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; PREFIX_LEN];
    let mut got = 0;
    while got < PREFIX_LEN {
        match stream.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    let mut message = vec![0u8; announced_len(header)];
    stream.read_exact(&mut message)?;
    Ok(Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips() {
        let frame = encode(b"hello");
        assert_eq!(&frame[..4], &[5, 0, 0, 0]);
        let mut input = &frame[..];
        assert_eq!(
            read_message(&mut input).unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(read_message(&mut input).unwrap(), None);
    }

    #[test]
    fn a_frame_cut_short_is_an_error() {
        let frame = encode(b"hello");
        let mut input = &frame[..6];
        assert!(read_message(&mut input).is_err());
    }
}
