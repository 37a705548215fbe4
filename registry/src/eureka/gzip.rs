//! gzip output. Small answers are compressed whole. The full registry is assembled from
//! pre-compressed chunks the way pigz does it: each chunk is raw deflate ending in a sync flush
//! (byte-aligned, no final block), the text between chunks goes in stored blocks, and the CRC-32
//! of the whole is combined from the chunks' CRCs. The result is one ordinary gzip member.

use std::io::Write as _;

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress};

const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// A final, empty stored block.
const FINAL_BLOCK: [u8; 5] = [0x01, 0x00, 0x00, 0xff, 0xff];

/// Compresses a whole answer; `None` if compression failed (send it uncompressed then).
pub(crate) fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut enc =
        flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4 + 64), Compression::fast());
    enc.write_all(data).ok()?;
    enc.finish().ok()
}

/// Compresses a whole answer into gzip buffers, in parallel pieces when it is big; `None` if
/// compression failed.
pub(crate) fn gzip_parts(data: &bytes::Bytes) -> Option<Vec<Bytes>> {
    const PIECE: usize = 1 << 20;
    if data.len() < 2 * PIECE {
        return gzip(data).map(|v| vec![Bytes::from(v)]);
    }
    let pieces: Vec<Bytes> = (0..data.len())
        .step_by(PIECE)
        .map(|start| data.slice(start..(start + PIECE).min(data.len())))
        .collect();
    let chunks = super::par::par_map(&pieces, |p| deflate_chunk(p));
    let mut gz = GzipStitcher::new();
    for c in &chunks {
        gz.push_chunk(c.as_ref()?);
    }
    Some(gz.finish())
}

/// Raw deflate of one chunk, ending in a sync flush, with the CRC-32 of its input.
#[derive(Clone)]
pub(crate) struct DeflatedChunk {
    pub data: Bytes,
    pub crc: crc32fast::Hasher,
}

/// Compresses `input` as a stitchable chunk; `None` if the compressor failed.
pub(crate) fn deflate_chunk(input: &[u8]) -> Option<DeflatedChunk> {
    let mut c = Compress::new(Compression::fast(), false);
    let mut out: Vec<u8> = Vec::with_capacity(input.len() / 4 + 64);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let consumed = usize::try_from(c.total_in()).ok()?;
        let before_out = c.total_out();
        c.compress(input.get(consumed..)?, &mut buf, FlushCompress::Sync)
            .ok()?;
        let produced = usize::try_from(c.total_out() - before_out).ok()?;
        out.extend_from_slice(buf.get(..produced)?);
        let done_in = usize::try_from(c.total_in()).ok()? == input.len();
        if done_in && produced < buf.len() {
            break;
        }
        if produced == 0 && usize::try_from(c.total_in()).ok()? == consumed {
            // No progress: the compressor is stuck.
            return None;
        }
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(input);
    Some(DeflatedChunk {
        data: Bytes::from(out),
        crc,
    })
}

/// Builds one gzip member from plain text and [`DeflatedChunk`]s, in order.
pub(crate) struct GzipStitcher {
    parts: Vec<Bytes>,
    pending: Vec<u8>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl GzipStitcher {
    pub(crate) fn new() -> Self {
        Self {
            parts: vec![Bytes::from_static(&GZIP_HEADER)],
            pending: Vec::new(),
            crc: crc32fast::Hasher::new(),
            len: 0,
        }
    }

    /// Appends uncompressed text (sent as stored blocks).
    pub(crate) fn push_plain(&mut self, text: &[u8]) {
        self.crc.update(text);
        self.len += text.len() as u64;
        self.pending.extend_from_slice(text);
    }

    /// Appends a pre-compressed chunk.
    pub(crate) fn push_chunk(&mut self, chunk: &DeflatedChunk) {
        self.flush_pending();
        self.crc.combine(&chunk.crc);
        self.len += chunk.crc.total_len();
        self.parts.push(chunk.data.clone());
    }

    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut out = Vec::with_capacity(self.pending.len() + 5 * (self.pending.len() / 65535 + 1));
        for block in self.pending.chunks(65535) {
            let n = block.len() as u16;
            out.push(0x00);
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&(!n).to_le_bytes());
            out.extend_from_slice(block);
        }
        self.pending.clear();
        self.parts.push(Bytes::from(out));
    }

    /// The gzip member as a list of buffers.
    pub(crate) fn finish(mut self) -> Vec<Bytes> {
        self.flush_pending();
        let mut tail = Vec::with_capacity(13);
        tail.extend_from_slice(&FINAL_BLOCK);
        tail.extend_from_slice(&self.crc.finalize().to_le_bytes());
        tail.extend_from_slice(&((self.len & 0xffff_ffff) as u32).to_le_bytes());
        self.parts.push(Bytes::from(tail));
        self.parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn whole() {
        let text = b"hello hello hello".repeat(100);
        assert_eq!(gunzip(&gzip(&text).unwrap()), text);
    }

    #[test]
    fn stitched_equals_concatenation() {
        let a: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{{\"n\":{i}}},").into_bytes())
            .collect();
        let b = b"<instance><x>y</x></instance>".repeat(5000);
        let big_glue = vec![b'g'; 70_000];
        let ca = deflate_chunk(&a).unwrap();
        let cb = deflate_chunk(&b).unwrap();
        let cempty = deflate_chunk(b"").unwrap();
        let mut s = GzipStitcher::new();
        s.push_plain(b"[");
        s.push_chunk(&ca);
        s.push_chunk(&cempty);
        s.push_plain(b",");
        s.push_plain(&big_glue);
        s.push_chunk(&cb);
        s.push_chunk(&ca);
        s.push_plain(b"]");
        let stream: Vec<u8> = s.finish().concat();
        let mut want = Vec::new();
        want.extend_from_slice(b"[");
        want.extend_from_slice(&a);
        want.extend_from_slice(b",");
        want.extend_from_slice(&big_glue);
        want.extend_from_slice(&b);
        want.extend_from_slice(&a);
        want.extend_from_slice(b"]");
        // GzDecoder checks the CRC and the length.
        assert_eq!(gunzip(&stream), want);
        assert!(stream.len() < want.len() / 4);
    }

    #[test]
    fn big_parts() {
        let text: Vec<u8> = (0..600_000u32)
            .flat_map(|i| format!("<n>{i}</n>").into_bytes())
            .collect();
        let parts = gzip_parts(&Bytes::from(text.clone())).unwrap();
        assert!(parts.len() > 3);
        assert_eq!(gunzip(&parts.concat()), text);
        let small = Bytes::from_static(b"small");
        assert_eq!(gunzip(&gzip_parts(&small).unwrap().concat()), b"small");
    }

    #[test]
    fn empty_stitch() {
        let stream: Vec<u8> = GzipStitcher::new().finish().concat();
        assert!(gunzip(&stream).is_empty());
    }
}
