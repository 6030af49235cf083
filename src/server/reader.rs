//! The tutorial's `Reader`: one fixed buffer per client, filled by reads, from which complete
//! length-prefixed frames are taken (Part 3's "over-reading" into a stateful reader).
//!
//! ```text
//!  buf: [ already echoed | unprocessed bytes        | free space      ]
//!       0                start                      pos               buf.len()
//! ```
//!
//! Two differences from the published code, both deliberate:
//! - **Errata 7 fixed.** When only part of a length prefix is buffered, the tutorial calls
//!   `ensureSpace(4 - unprocessed.len)`: the *missing* bytes, compared against the space after
//!   `start`. With 2 prefix bytes at the very end of the buffer that test passes, nothing is
//!   compacted, and the next read gets a zero-length slice, returns 0, and the client is closed
//!   as if it had hung up. Here the space asked for is always counted from `start`: the whole
//!   prefix (4), or the whole frame.
//! - **Reads are bounded by the caller.** The server passes the READ event's `data` (the bytes
//!   the socket holds, B13), so it reads exactly what is there and never makes a second read just
//!   to be told `WouldBlock`.

use std::io::{self, Read};

use crate::client::framing::{announced_len, PREFIX_LEN};

/// A frame whose announced length cannot fit in this reader's buffer (the client is closed with
/// reason `too_large`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLarge {
    /// The frame's full size: prefix plus announced message length.
    pub frame_len: usize,
    /// The buffer it would have had to fit in.
    pub buffer_len: usize,
    /// The 4 bytes read as the length prefix.
    pub prefix: [u8; PREFIX_LEN],
}

impl TooLarge {
    /// The "length" is text: `nc 127.0.0.1 PORT` and `hello` sends `hell` as the prefix,
    /// 1,819,043,176 bytes. Text is UTF-8 (a character may be cut at the end) with no control
    /// character but tabs and line ends, so its last byte is at least 0x09 and the length at
    /// least 0x09000000, 151 MB, more than any buffer the server takes (64 MiB): never a real
    /// frame, so saying "a line of text" cannot mislead.
    pub fn looks_like_text(&self) -> bool {
        let text = match std::str::from_utf8(&self.prefix) {
            Ok(text) => text,
            // A character cut by the 4-byte boundary: the part before it must be text.
            Err(cut) if cut.error_len().is_none() && cut.valid_up_to() > 0 => {
                std::str::from_utf8(&self.prefix[..cut.valid_up_to()]).unwrap_or_default()
            }
            Err(_) => return false,
        };
        !text.is_empty()
            && text
                .chars()
                .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
    }

    /// The prefix as the person typed it: `hell`, `hé` (a cut character dropped), `ab\nc`.
    pub fn prefix_text(&self) -> String {
        String::from_utf8_lossy(&self.prefix)
            .trim_end_matches('\u{fffd}')
            .escape_debug()
            .to_string()
    }
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a {}-byte frame cannot fit in the {}-byte buffer",
            self.frame_len, self.buffer_len
        )
    }
}

pub struct Reader {
    buf: Box<[u8]>,
    /// Where the first unprocessed byte is.
    start: usize,
    /// Where the next read writes.
    pos: usize,
}

impl Reader {
    /// A reader with a buffer of `size` bytes; the largest message it accepts is `size - 4`.
    pub fn new(size: usize) -> Reader {
        Reader {
            buf: vec![0u8; size.max(PREFIX_LEN)].into_boxed_slice(),
            start: 0,
            pos: 0,
        }
    }

    /// Bytes read from the socket and not yet taken as a frame.
    pub fn buffered(&self) -> usize {
        self.pos - self.start
    }

    /// Bytes a read may write right now (after [`next_frame`](Self::next_frame) made room).
    pub fn free_space(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// One `read` of at most `limit` bytes into the free space. Returns what `read` returned:
    /// `Ok(0)` is end of file.
    ///
    /// The caller takes frames first ([`next_frame`](Self::next_frame) returning `None`
    /// guarantees room). Reading into a full buffer would be a zero-length `read`, which returns
    /// 0 and looks exactly like the peer hanging up: that is errata 7's failure. So a full buffer
    /// is an error here, never a silent `Ok(0)`.
    pub fn read_from(&mut self, source: &mut impl Read, limit: usize) -> io::Result<usize> {
        let end = self.buf.len().min(self.pos.saturating_add(limit.max(1)));
        if end == self.pos {
            return Err(io::Error::other(
                "the reader's buffer is full: take the buffered frames before reading (errata 7)",
            ));
        }
        let n = source.read(&mut self.buf[self.pos..end])?;
        self.pos += n;
        Ok(n)
    }

    /// The size of the next frame (prefix included) once its prefix has arrived, complete or not.
    pub fn peek_frame_len(&self) -> Option<usize> {
        if self.pos - self.start < PREFIX_LEN {
            return None;
        }
        let mut header = [0u8; PREFIX_LEN];
        header.copy_from_slice(&self.buf[self.start..self.start + PREFIX_LEN]);
        Some(PREFIX_LEN + announced_len(header))
    }

    /// The next complete frame (prefix included: the echo is the same bytes), or `None` when
    /// more bytes are needed, in which case there is room for them. `Err` when the frame being
    /// received is larger than the buffer.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, TooLarge> {
        let unprocessed = self.pos - self.start;
        if unprocessed < PREFIX_LEN {
            // Errata 7: ask for room for the whole prefix, counted from `start`.
            self.ensure_space(PREFIX_LEN)?;
            return Ok(None);
        }
        let frame_len = self.peek_frame_len().unwrap_or(PREFIX_LEN);
        if unprocessed < frame_len {
            self.ensure_space(frame_len)?;
            return Ok(None);
        }
        let frame = self.start..self.start + frame_len;
        self.start += frame_len;
        if self.start == self.pos {
            // Everything taken: the next read may use the whole buffer again. Only the indexes
            // move; the frame's bytes stay where they are until that read.
            self.start = 0;
            self.pos = 0;
        }
        Ok(Some(&self.buf[frame]))
    }

    /// Make sure `needed` bytes, counted from `start`, fit before the end of the buffer, moving
    /// the unprocessed bytes to the front if they do not (the tutorial's `ensureSpace`).
    fn ensure_space(&mut self, needed: usize) -> Result<(), TooLarge> {
        if needed > self.buf.len() {
            // Only a frame's length can be too large, so its prefix is all there.
            let mut prefix = [0u8; PREFIX_LEN];
            let available = (self.pos - self.start).min(PREFIX_LEN);
            prefix[..available].copy_from_slice(&self.buf[self.start..self.start + available]);
            return Err(TooLarge {
                frame_len: needed,
                buffer_len: self.buf.len(),
                prefix,
            });
        }
        if self.buf.len() - self.start >= needed {
            return Ok(());
        }
        self.buf.copy_within(self.start..self.pos, 0);
        self.pos -= self.start;
        self.start = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::framing::encode;

    /// The published bug (errata 7): two prefix bytes at the very end of the buffer. The fixed
    /// reader compacts, so the next read has room and the frame completes.
    #[test]
    fn a_prefix_straddling_the_buffer_end_is_compacted() {
        let mut reader = Reader::new(16);
        // 10-byte frame (6-byte message) + 4 filler-frame bytes + 2 bytes of the next prefix.
        let mut stream = encode(b"abcdef");
        stream.extend_from_slice(&encode(b""));
        stream.extend_from_slice(&encode(b"xyz"));
        let mut input = &stream[..];
        assert_eq!(reader.read_from(&mut input, 16).unwrap(), 16);
        assert_eq!(reader.next_frame().unwrap(), Some(&encode(b"abcdef")[..]));
        assert_eq!(reader.next_frame().unwrap(), Some(&encode(b"")[..]));
        assert_eq!(reader.next_frame().unwrap(), None);
        assert!(reader.free_space() >= 5, "room for the rest of the frame");
        assert_eq!(reader.read_from(&mut input, 100).unwrap(), 5);
        assert_eq!(reader.next_frame().unwrap(), Some(&encode(b"xyz")[..]));
    }

    #[test]
    fn a_frame_larger_than_the_buffer_is_refused() {
        let mut reader = Reader::new(8);
        let mut input = &encode(b"12345")[..];
        reader.read_from(&mut input, 8).unwrap();
        let too_large = reader.next_frame().unwrap_err();
        assert_eq!((too_large.frame_len, too_large.buffer_len), (9, 8));
        assert!(!too_large.looks_like_text(), "{too_large:?}");
    }

    /// `nc` and `hello`: the first 4 bytes of the line are taken for a length, which cannot
    /// fit, and they are text.
    #[test]
    fn a_line_of_text_is_a_frame_too_large_that_looks_like_text() {
        let mut reader = Reader::new(4096);
        let mut input = &b"hello\n"[..];
        reader.read_from(&mut input, 100).unwrap();
        let too_large = reader.next_frame().unwrap_err();
        assert_eq!(too_large.frame_len, 1_819_043_180);
        assert_eq!(&too_large.prefix, b"hell");
        assert!(too_large.looks_like_text());
        // A real frame's binary length prefix is no text, however large.
        let big = TooLarge {
            frame_len: 1 << 30,
            buffer_len: 4096,
            prefix: (1u32 << 30).to_le_bytes(),
        };
        assert!(!big.looks_like_text());
        // Not only ASCII: `héllo` starts with `hél`; a character cut at the 4th byte is fine.
        let typed = |prefix: &[u8; 4]| TooLarge {
            frame_len: 0,
            buffer_len: 4096,
            prefix: *prefix,
        };
        assert!(typed(b"h\xc3\xa9l").looks_like_text());
        assert_eq!(typed(b"h\xc3\xa9l").prefix_text(), "hél");
        assert!(typed(b"ab\xc3\xa9").looks_like_text());
        assert!(typed(b"hh\xe2\x82").looks_like_text());
        assert_eq!(typed(b"hh\xe2\x82").prefix_text(), "hh");
        assert_eq!(typed(b"ab\nc").prefix_text(), "ab\\nc");
        // Control bytes or bytes that are no UTF-8 are no text.
        assert!(!typed(b"\x00abc").looks_like_text());
        assert!(!typed(b"\xff\xff\xff\xff").looks_like_text());
    }

    #[test]
    fn the_largest_message_fits_exactly() {
        let mut reader = Reader::new(8);
        let mut input = &encode(b"1234")[..];
        reader.read_from(&mut input, 100).unwrap();
        assert_eq!(reader.next_frame().unwrap(), Some(&encode(b"1234")[..]));
        assert_eq!(reader.free_space(), 8);
    }

    /// A read into a full buffer is an error, not an `Ok(0)` that the server would take for the
    /// peer hanging up (errata 7's failure mode).
    #[test]
    fn reading_into_a_full_buffer_is_an_error_not_an_end_of_file() {
        let mut reader = Reader::new(8);
        let mut input = &encode(b"1234")[..];
        reader.read_from(&mut input, 100).unwrap();
        let mut more = &b"more"[..];
        assert!(reader.read_from(&mut more, 100).is_err());
    }
}
