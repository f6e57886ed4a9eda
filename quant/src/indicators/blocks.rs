//! Batch loops over independent blocks of output, on every core natively.
//!
//! Some batch indicators restart their running state from the input alone at
//! fixed output positions: the SMA re-adds its window every
//! [`super::sma::resum_every`] outputs, the variance behind BBANDS rebases
//! every `period` outputs, and a window extreme is a function of its window.
//! Between two such restarts the work depends on nothing before them, so the
//! output can be cut at the restart positions and the pieces computed in any
//! order, on any thread, with the same operations in the same order as the
//! streaming state machine: the result is the same bits however it is cut.
//!
//! [`for_each_span`] does the cutting: natively, long columns go to rayon's
//! threads in a few spans per thread; short columns, and everything in wasm32,
//! run as one span on the calling thread.

/// Columns shorter than this are filled on the calling thread: splitting them
/// costs more than it saves.
const PARALLEL_FROM: usize = 1 << 15;

/// Spans per rayon thread, so that a thread finishing early can steal work.
#[cfg(not(target_arch = "wasm32"))]
const SPANS_PER_THREAD: usize = 4;

/// Calls `fill(start, spans)` on consecutive spans covering the `N` columns
/// (all of the same length), where `start` is the position of the span's first
/// cell and every span but the last is a whole number of `block`s long (so each
/// starts at a multiple of `block`). Spans may run concurrently, in any order.
pub(crate) fn for_each_span<const N: usize, F>(columns: [&mut [f64]; N], block: usize, fill: F)
where
    F: Fn(usize, [&mut [f64]; N]) + Sync + Send,
{
    let len = columns.first().map_or(0, |c| c.len());
    debug_assert!(columns.iter().all(|c| c.len() == len), "columns differ in length");
    let block = block.max(1);
    let span = span_len(len, block);
    if span >= len {
        fill(0, columns);
        return;
    }
    let mut spans = Vec::with_capacity(len.div_ceil(span));
    let (mut rest, mut start) = (columns, 0);
    while start < len {
        let take = span.min(len - start);
        let mut head: [&mut [f64]; N] = std::array::from_fn(|_| Default::default());
        for (column, part) in rest.iter_mut().zip(&mut head) {
            let (h, t) = std::mem::take(column).split_at_mut(take);
            (*part, *column) = (h, t);
        }
        spans.push((start, head));
        start += take;
    }
    run(spans, &fill);
}

/// The length of the spans a column of `len` cells is cut into (`len` or more:
/// one span).
fn span_len(len: usize, block: usize) -> usize {
    if len < PARALLEL_FROM {
        return len;
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let spans = rayon::current_num_threads() * SPANS_PER_THREAD;
        if spans > 1 {
            return len.div_ceil(spans).div_ceil(block).max(1) * block;
        }
    }
    let _ = block;
    len
}

#[cfg(not(target_arch = "wasm32"))]
fn run<const N: usize, F>(spans: Vec<(usize, [&mut [f64]; N])>, fill: &F)
where
    F: Fn(usize, [&mut [f64]; N]) + Sync + Send,
{
    use rayon::prelude::*;
    spans.into_par_iter().for_each(|(start, columns)| fill(start, columns));
}

#[cfg(target_arch = "wasm32")]
fn run<const N: usize, F>(spans: Vec<(usize, [&mut [f64]; N])>, fill: &F)
where
    F: Fn(usize, [&mut [f64]; N]) + Sync + Send,
{
    for (start, columns) in spans {
        fill(start, columns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_every_cell_once_and_start_on_block_boundaries() {
        for (len, block) in [(0, 7), (10, 3), (PARALLEL_FROM + 5, 1000), (3 * PARALLEL_FROM + 1, 64)] {
            let (mut a, mut b) = (vec![0.0; len], vec![0.0; len]);
            for_each_span([&mut a[..], &mut b[..]], block, |start, [a, b]| {
                assert_eq!(a.len(), b.len());
                assert!(start.is_multiple_of(block), "span at {start}, block {block}");
                for (k, (a, b)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
                    *a += (start + k) as f64;
                    *b += 1.0;
                }
            });
            assert!(a.iter().enumerate().all(|(i, &v)| v == i as f64));
            assert!(b.iter().all(|&v| v == 1.0));
        }
    }
}
