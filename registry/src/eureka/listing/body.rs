//! Response bodies made of rendered pieces: [`Pieces`] (text and cached chunks, sent plain or
//! stitched into one gzip member without compressing the chunks again) and [`Doc`] (one
//! rendered document, gzipped once on first demand).

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::chunk::Chunk;
use crate::eureka::gzip::{GzipStitcher, gzip_parts};

/// A response body in pieces: text and rendered chunks, sent plain or as one gzip member.
#[derive(Default)]
pub(crate) struct Pieces {
    parts: Vec<Piece>,
    text: String,
}

enum Piece {
    Text(Bytes),
    Chunk(Arc<Chunk>),
}

impl Pieces {
    pub(crate) fn text(&mut self) -> &mut String {
        &mut self.text
    }

    pub(crate) fn push_chunk(&mut self, c: Arc<Chunk>) {
        if !self.text.is_empty() {
            let t = std::mem::take(&mut self.text);
            self.parts.push(Piece::Text(Bytes::from(t)));
        }
        self.parts.push(Piece::Chunk(c));
    }

    fn finish(mut self) -> Vec<Piece> {
        if !self.text.is_empty() {
            let t = std::mem::take(&mut self.text);
            self.parts.push(Piece::Text(Bytes::from(t)));
        }
        self.parts
    }

    /// The body uncompressed.
    pub(crate) fn into_plain(self) -> Vec<Bytes> {
        self.finish()
            .into_iter()
            .map(|p| match p {
                Piece::Text(t) => t,
                Piece::Chunk(c) => c.plain.clone(),
            })
            .collect()
    }

    /// The body, gzipped or not.
    pub(crate) fn into_body(self, gzip: bool) -> Vec<Bytes> {
        if gzip {
            self.into_gzip()
        } else {
            self.into_plain()
        }
    }

    /// The body as one gzip member.
    pub(crate) fn into_gzip(self) -> Vec<Bytes> {
        let mut gz = GzipStitcher::new();
        for p in self.finish() {
            match p {
                Piece::Text(t) => gz.push_plain(&t),
                Piece::Chunk(c) => match c.deflated() {
                    Some(d) => gz.push_chunk(d),
                    None => gz.push_plain(&c.plain),
                },
            }
        }
        gz.finish()
    }
}

/// A rendered document, gzipped once on first demand.
pub(crate) struct Doc {
    plain: Bytes,
    gzipped: OnceLock<Option<Vec<Bytes>>>,
}

impl Doc {
    pub(crate) fn new(plain: Bytes) -> Self {
        Self {
            plain,
            gzipped: OnceLock::new(),
        }
    }

    /// The body buffers, and whether they are gzip.
    pub(crate) fn body(&self, gzip: bool) -> (Vec<Bytes>, bool) {
        if gzip && let Some(parts) = self.gzipped.get_or_init(|| gzip_parts(&self.plain)) {
            return (parts.clone(), true);
        }
        (vec![self.plain.clone()], false)
    }
}
