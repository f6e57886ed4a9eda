//! A compact binary form of a run of bars, for moving many bars to the
//! browser's lab (a million one-minute bars is 48 MB as plain `f64`s).
//!
//! Layout, little-endian throughout:
//! - `b"FSB1"`, then the number of bars as `u32`;
//! - the times as zigzag LEB128 varints: the first absolute, then each one's
//!   difference from the previous (one byte per bar for minute bars);
//! - five columns of `n` eight-byte words, open, high, low, close and volume,
//!   each value's bits XORed with the previous value's in its column.
//!
//! Neighbouring prices share sign, exponent and leading mantissa bits, so the
//! XOR leaves their high bytes zero and HTTP compression (gzip, brotli) folds
//! them away; decoding restores every `f64` bit for bit, which the lab's
//! "check on the server" depends on.

use crate::bar::Bar;
use crate::error::ParamError;

const MAGIC: &[u8; 4] = b"FSB1";

/// Encodes `bars` (at most `u32::MAX` of them).
#[must_use]
pub fn pack(bars: &[Bar]) -> Vec<u8> {
    let n = bars.len().min(u32::MAX as usize);
    let bars = &bars[..n];
    let mut out = Vec::with_capacity(8 + n * 42);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(n as u32).to_le_bytes());
    let mut previous = 0i64;
    for bar in bars {
        let delta = bar.ts.wrapping_sub(previous);
        previous = bar.ts;
        let mut z = ((delta << 1) ^ (delta >> 63)) as u64;
        loop {
            let byte = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    let columns: [fn(&Bar) -> f64; 5] = [|b| b.open, |b| b.high, |b| b.low, |b| b.close, |b| b.volume];
    for column in columns {
        let mut previous = 0u64;
        for bar in bars {
            let bits = column(bar).to_bits();
            out.extend_from_slice(&(bits ^ previous).to_le_bytes());
            previous = bits;
        }
    }
    out
}

/// Decodes what [`pack`] wrote.
///
/// # Errors
/// [`ParamError::Spec`] when the bytes are not a whole packed run of bars.
pub fn unpack(bytes: &[u8]) -> Result<Vec<Bar>, ParamError> {
    let bad = |reason: &str| ParamError::Spec { spec: "packed bars".into(), reason: reason.into() };
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(bad("not packed bars (no FSB1 header)"));
    }
    let n = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let mut at = 8;
    let mut bars = Vec::with_capacity(n.min(bytes.len()));
    let mut ts = 0i64;
    for _ in 0..n {
        let (mut z, mut shift) = (0u64, 0u32);
        loop {
            let byte = *bytes.get(at).ok_or_else(|| bad("truncated times"))?;
            at += 1;
            if shift > 63 {
                return Err(bad("a time's varint is too long"));
            }
            z |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
        ts = ts.wrapping_add(delta);
        bars.push(Bar { ts, open: 0.0, high: 0.0, low: 0.0, close: 0.0, volume: 0.0 });
    }
    if bytes.len() - at != n * 40 {
        return Err(bad(&format!("expected {} bytes of prices, found {}", n * 40, bytes.len() - at)));
    }
    let setters: [fn(&mut Bar, f64); 5] =
        [|b, v| b.open = v, |b, v| b.high = v, |b, v| b.low = v, |b, v| b.close = v, |b, v| b.volume = v];
    for (c, set) in setters.iter().enumerate() {
        let column = &bytes[at + c * n * 8..at + (c + 1) * n * 8];
        let mut previous = 0u64;
        for (bar, word) in bars.iter_mut().zip(column.as_chunks::<8>().0) {
            let bits = u64::from_le_bytes(*word) ^ previous;
            previous = bits;
            set(bar, f64::from_bits(bits));
        }
    }
    Ok(bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_bit_for_bit_and_refuses_damage() {
        let bars: Vec<Bar> = (0..1_000)
            .map(|i| {
                let c = 100.0 + (f64::from(i) * 0.37).sin() * 7.3 + f64::from(i) * 1e-3;
                Bar {
                    ts: 1_600_000_000 + i64::from(i) * 60 - i64::from(i % 3),
                    open: c - 0.1,
                    high: c + 0.5,
                    low: c - 0.7,
                    close: c,
                    volume: f64::from(i * 13),
                }
            })
            .chain([Bar { ts: -5, open: f64::MIN_POSITIVE, high: 1e300, low: -0.0, close: f64::NAN, volume: 0.0 }])
            .collect();
        let bytes = pack(&bars);
        // Minute bars: one byte of time per bar, plus the first.
        assert!(bytes.len() < 8 + 1_005 + 1_001 * 40 + 16, "{}", bytes.len());
        let back = unpack(&bytes).unwrap();
        assert_eq!(back.len(), bars.len());
        for (a, b) in bars.iter().zip(&back) {
            assert_eq!(a.ts, b.ts);
            for (x, y) in [(a.open, b.open), (a.high, b.high), (a.low, b.low), (a.close, b.close), (a.volume, b.volume)]
            {
                assert_eq!(x.to_bits(), y.to_bits());
            }
        }
        assert!(unpack(&pack(&[])).unwrap().is_empty());
        assert!(unpack(b"FSB2\0\0\0\0").is_err());
        assert!(unpack(&bytes[..bytes.len() - 1]).is_err());
        assert!(unpack(&bytes[..20]).is_err());
    }
}
