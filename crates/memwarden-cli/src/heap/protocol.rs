//! The records the interposer (crate `memwarden-heap`, module `stream`) sends on each
//! process's connection, decoded: `u32 body length, u8 kind, body`, little-endian.

/// The record format this memwarden reads (the interposer's hello names its own).
pub const VERSION: u32 = 1;

/// A record too long for any the interposer writes: the stream is not ours.
const MAX_BODY: usize = 64 * 1024;

/// One decoded record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// The first record of a connection.
    Hello {
        version: u32,
        pid: u32,
        /// Mean bytes between samples in that process.
        sample_bytes: u64,
        program: Vec<u8>,
    },
    /// A loaded object: where it is mapped, its load bias, its file.
    Module {
        start: u64,
        end: u64,
        bias: u64,
        path: Vec<u8>,
    },
    /// A sampled allocation: return addresses innermost first.
    Alloc {
        time_ns: u64,
        ptr: u64,
        size: u64,
        weight: u64,
        frames: Vec<u64>,
    },
    /// A sampled allocation released.
    Free { time_ns: u64, ptr: u64 },
    /// Samples the process could not track (its live set was full), counted so far.
    Dropped { count: u64 },
}

/// Why a stream cannot be read on.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProtocolError {
    /// A length no record can have.
    #[error("record of {0} bytes: not a memwarden heap stream")]
    TooLong(usize),
    /// A kind this version does not know, or a body too short for its kind.
    #[error("malformed record of kind {0}")]
    Malformed(u8),
}

/// Decodes the complete records at the start of `buf`; returns them and how many bytes they
/// took (the rest is an incomplete record, to be completed by the next read).
pub fn decode(buf: &[u8]) -> Result<(Vec<Record>, usize), ProtocolError> {
    let mut records = Vec::new();
    let mut at = 0;
    while buf.len() - at >= 5 {
        let len = u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes")) as usize;
        if len > MAX_BODY {
            return Err(ProtocolError::TooLong(len));
        }
        if buf.len() - at - 5 < len {
            break;
        }
        let kind = buf[at + 4];
        records.push(record(kind, &buf[at + 5..at + 5 + len])?);
        at += 5 + len;
    }
    Ok((records, at))
}

fn record(kind: u8, body: &[u8]) -> Result<Record, ProtocolError> {
    let bad = || ProtocolError::Malformed(kind);
    let u32_at = |i: usize| -> Result<u32, ProtocolError> {
        Ok(u32::from_le_bytes(
            body.get(i..i + 4)
                .ok_or_else(bad)?
                .try_into()
                .expect("4 bytes"),
        ))
    };
    let u64_at = |i: usize| -> Result<u64, ProtocolError> {
        Ok(u64::from_le_bytes(
            body.get(i..i + 8)
                .ok_or_else(bad)?
                .try_into()
                .expect("8 bytes"),
        ))
    };
    Ok(match kind {
        1 => Record::Hello {
            version: u32_at(0)?,
            pid: u32_at(4)?,
            sample_bytes: u64_at(12)?,
            program: body.get(20..).ok_or_else(bad)?.to_vec(),
        },
        2 => Record::Module {
            start: u64_at(0)?,
            end: u64_at(8)?,
            bias: u64_at(16)?,
            path: body.get(24..).ok_or_else(bad)?.to_vec(),
        },
        3 => {
            let frames = body.get(32..).ok_or_else(bad)?;
            Record::Alloc {
                time_ns: u64_at(0)?,
                ptr: u64_at(8)?,
                size: u64_at(16)?,
                weight: u64_at(24)?,
                frames: frames
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            }
        }
        4 => Record::Free {
            time_ns: u64_at(0)?,
            ptr: u64_at(8)?,
        },
        5 => Record::Dropped { count: u64_at(8)? },
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_le_bytes().to_vec();
        v.push(kind);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn complete_records_decode_and_a_partial_one_waits() {
        let mut body = Vec::new();
        for v in [7u64, 0x1000, 64, 524288, 0xaaaa, 0xbbbb] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        let mut buf = frame(3, &body);
        let free = frame(4, &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0]);
        buf.extend_from_slice(&free[..10]);
        let (records, used) = decode(&buf).unwrap();
        assert_eq!(used, 5 + 48);
        assert_eq!(
            records,
            [Record::Alloc {
                time_ns: 7,
                ptr: 0x1000,
                size: 64,
                weight: 524288,
                frames: vec![0xaaaa, 0xbbbb]
            }]
        );
        let mut rest = buf[used..].to_vec();
        rest.extend_from_slice(&free[10..]);
        let (records, used) = decode(&rest).unwrap();
        assert_eq!(used, rest.len());
        assert_eq!(
            records,
            [Record::Free {
                time_ns: 1,
                ptr: 0x1000
            }]
        );
    }

    #[test]
    fn a_stream_that_is_not_ours_is_refused() {
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0x7f, 1]),
            Err(ProtocolError::TooLong(0x7fff_ffff))
        );
        assert_eq!(decode(&frame(9, &[])), Err(ProtocolError::Malformed(9)));
        assert_eq!(decode(&frame(4, &[0; 3])), Err(ProtocolError::Malformed(4)));
    }
}
