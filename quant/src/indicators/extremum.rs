//! Rolling maximum and minimum over a fixed window, with the position of the
//! extreme: a monotonic deque, so each update is O(1) amortised.

use std::collections::VecDeque;

/// The largest (or smallest) of the last `len` values and where it occurred.
///
/// Ties resolve to the most recent position, as TA-Lib's AROON, STOCH and WILLR
/// scans do. A NaN value empties the deque and is the extreme while it stays in
/// the window, so it propagates to every output whose window holds it.
#[derive(Debug, Clone)]
pub(crate) struct Extremum {
    len: usize,
    keep_max: bool,
    deque: VecDeque<(usize, f64)>,
}

impl Extremum {
    /// A rolling maximum over `len` values (`len >= 1`).
    pub(crate) fn max(len: usize) -> Self {
        Self { len: len.max(1), keep_max: true, deque: VecDeque::with_capacity(len.max(1)) }
    }

    /// A rolling minimum over `len` values (`len >= 1`).
    pub(crate) fn min(len: usize) -> Self {
        Self { len: len.max(1), keep_max: false, deque: VecDeque::with_capacity(len.max(1)) }
    }

    /// Adds the value at position `index` (strictly increasing between calls)
    /// and returns the window's extreme as `(position, value)`.
    pub(crate) fn push(&mut self, index: usize, value: f64) -> (usize, f64) {
        if value.is_nan() {
            self.deque.clear();
        }
        while let Some(&(_, back)) = self.deque.back() {
            let dominated = if self.keep_max { back <= value } else { back >= value };
            if !dominated {
                break;
            }
            self.deque.pop_back();
        }
        self.deque.push_back((index, value));
        while let Some(&(first, _)) = self.deque.front() {
            if first + self.len > index {
                break;
            }
            self.deque.pop_front();
        }
        self.deque.front().copied().unwrap_or((index, value))
    }

    /// Forgets every value.
    pub(crate) fn clear(&mut self) {
        self.deque.clear();
    }
}

/// Whether `diff`, a difference of two prices whose magnitudes sum to `scale`,
/// is zero up to rounding: TA-Lib's scale-aware flatness test (a relative band
/// of 1e-14, about 90 ulp), so a flat window reads as flat at any price level.
#[inline]
pub(crate) fn is_flat(diff: f64, scale: f64) -> bool {
    diff.abs() <= 1e-14 * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_the_latest_extreme_in_the_window() {
        let values = [1.0, 3.0, 3.0, 2.0, 1.0, 1.0, 4.0];
        let mut hi = Extremum::max(3);
        let mut lo = Extremum::min(3);
        let his: Vec<(usize, f64)> = values.iter().enumerate().map(|(i, &v)| hi.push(i, v)).collect();
        let los: Vec<(usize, f64)> = values.iter().enumerate().map(|(i, &v)| lo.push(i, v)).collect();
        assert_eq!(his, vec![(0, 1.0), (1, 3.0), (2, 3.0), (2, 3.0), (2, 3.0), (3, 2.0), (6, 4.0)]);
        assert_eq!(los, vec![(0, 1.0), (0, 1.0), (0, 1.0), (3, 2.0), (4, 1.0), (5, 1.0), (5, 1.0)]);
    }

    #[test]
    fn nan_is_the_extreme_while_in_the_window() {
        let mut hi = Extremum::max(2);
        hi.push(0, 1.0);
        assert!(hi.push(1, f64::NAN).1.is_nan());
        assert!(hi.push(2, 0.5).1.is_nan());
        assert_eq!(hi.push(3, 0.25), (2, 0.5));
    }
}
