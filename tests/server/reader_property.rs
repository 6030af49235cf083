//! The Reader, fed random splits of random message streams (a property test with a seeded
//! PRNG, so a failure replays exactly).

use std::io::{self, Read};

use lab::client::framing;
use lab::server::reader::Reader;

use super::Prng;

/// A byte source that hands out a stream in the chunk sizes it was given, then `WouldBlock`
/// between chunks (the way a non-blocking socket delivers segments).
struct Chunks {
    data: Vec<u8>,
    pos: usize,
    cuts: Vec<usize>,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.data.len() {
            return Ok(0);
        }
        // The next cut after pos bounds this read, as a segment boundary would.
        let boundary = self
            .cuts
            .iter()
            .copied()
            .find(|&c| c > self.pos)
            .unwrap_or(self.data.len());
        let n = buf.len().min(boundary - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// For many random streams of messages (sizes from empty to the largest the buffer allows), cut
/// at random places and read with random limits, the Reader gives back exactly the frames that
/// were sent, in order, and never asks to read into a full buffer (errata 7).
#[test]
fn the_reader_gives_back_exactly_the_messages_whatever_the_splits() {
    for seed in 0..300u64 {
        let mut rng = Prng::new(seed);
        let buffer = 5 + rng.up_to(60);
        let largest = buffer - framing::PREFIX_LEN;
        let messages: Vec<Vec<u8>> = (0..rng.up_to(40))
            .map(|_| {
                let len = rng.up_to(largest);
                rng.bytes(len)
            })
            .collect();
        let data: Vec<u8> = messages.iter().flat_map(|m| framing::encode(m)).collect();
        let mut cuts: Vec<usize> = (0..rng.up_to(data.len()))
            .map(|_| rng.up_to(data.len()))
            .collect();
        cuts.sort_unstable();
        let mut source = Chunks { data, pos: 0, cuts };
        let mut reader = Reader::new(buffer);
        let mut got: Vec<Vec<u8>> = Vec::new();
        loop {
            while let Some(frame) = reader.next_frame().expect("every message fits") {
                got.push(frame[framing::PREFIX_LEN..].to_vec());
            }
            assert!(reader.free_space() > 0, "seed {seed}: no room to read into");
            let limit = 1 + rng.up_to(buffer);
            match reader.read_from(&mut source, limit) {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) => panic!("seed {seed}: {err}"),
            }
        }
        assert_eq!(reader.buffered(), 0, "seed {seed}: bytes left over");
        assert!(got == messages, "seed {seed}: messages differ");
    }
}
