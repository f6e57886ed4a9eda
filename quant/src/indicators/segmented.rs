//! Exact speculative segmentation of recurrences that forget their start.
//!
//! EMA, Wilder's averages and the indicators built on them are first-order
//! recurrences: a state (one or a few `f64`) is advanced by one input at a time,
//! `state_i = step(state_{i-1}, i)`, and each step's outputs are a function of
//! the new state. Run one after another, the steps form a single dependency
//! chain, so a long batch runs at the latency of that chain, on one core.
//!
//! These recurrences forget where they started: an error in the state is
//! multiplied by the smoothing's decay (`1 - k` for an EMA, `(n - 1) / n` for
//! Wilder's) at every step. Two runs over the same inputs from two different
//! states therefore draw together geometrically until their difference is
//! below the rounding step of `f64`, where they become *the same bits*. From
//! then on they stay the same bits forever, because a step is a deterministic
//! function of its state's bits and its input (IEEE-754 basic operations only,
//! no FMA, nothing that depends on the target or on the thread).
//!
//! [`run`] uses this to split a long run into segments computed independently:
//!
//! 1. The outputs `[0, n)` are cut into segments `[b_j, b_(j+1))`. Segment 0
//!    starts from the exact state. Every other segment starts `W` steps early,
//!    at `b_j - W`, from a guessed state ([`Recurrence::guess`]), and steps
//!    through those `W` inputs without writing anything (its warm-up), which
//!    gives its *speculative* state at the end of input `b_j - 1`. It then
//!    computes its outputs.
//! 2. The segments run in lockstep, several per loop iteration ("lanes"): one
//!    step advances every lane of a group, on packs of one value per lane
//!    ([`Pack`]), so the processor overlaps their independent chains and the
//!    compiler may use SIMD instructions across lanes (lane-wise IEEE
//!    operations: each lane gets the bits it would get alone). Natively, groups
//!    of lanes also run on rayon's threads; wasm32 runs them one after another
//!    on its one thread.
//! 3. Then the segments are verified in order. The end state of segment 0 is
//!    exact. If the exact end state of segment `j - 1` (the state after input
//!    `b_j - 1`) equals segment `j`'s speculative state there bit for bit
//!    (every field compared with `to_bits`), segment `j` computed exactly the
//!    steps the sequential loop would have, from the same state, so its outputs
//!    and end state are exact. Otherwise segment `j` is recomputed sequentially
//!    from the exact state, which makes it exact too. By induction every output
//!    equals the sequential loop's output, bit for bit.
//!
//! Speculation therefore only ever affects speed, never results: a warm-up too
//! short, inputs that stop the state from decaying (a constant stretch where
//! rounding settles on a different fixed point, ADX bars without a DX), NaN or
//! infinite inputs (a NaN state never equals a finite one) all just fall back to
//! the sequential recomputation of the affected segments. Comparing bits is
//! deliberately stricter than comparing values: `0.0` and `-0.0`, or NaNs with
//! different payloads, could lead to different later results.
//!
//! The warm-up `W` comes from the decay ([`warmup_for`]): enough steps to shrink
//! a start error of many orders of magnitude below one unit in the last place,
//! plus a margin of steps for the rounding to merge the last ulps.
//!
//! Short inputs (under [`MIN_LEN`] outputs) and warm-ups too long for the input
//! run as one sequential loop.

use std::ops::{Add, BitAnd, Div, Mul, Neg, Not, Sub};

/// Inputs with fewer outputs than this are computed by one sequential loop.
pub(crate) const MIN_LEN: usize = 1 << 16;

/// The fewest outputs a segment computes.
const MIN_SEGMENT: usize = 1 << 13;

/// Segments compute at least this many outputs per warm-up step (so the
/// discarded warm-up work is at most 1/8 of the total).
const OUTPUTS_PER_WARMUP_STEP: usize = 8;

/// Decay to forget a start error: `e^-50` shrinks an error up to about 10^5
/// times the state's magnitude below one ulp (`2^-53`).
const FORGET_NATS: f64 = 50.0;

/// Steps added to every warm-up, for the last ulps to merge by rounding.
const MERGE_MARGIN: usize = 64;

/// A first-order recurrence over the positions of its inputs, with `S` state
/// fields and `N` outputs per position.
///
/// The steps read their inputs through a [`Recurrence::Window`], the inputs of
/// a run of consecutive positions as slices of exactly that length (plus any
/// fixed look-back, such as the previous close), so that the loops index them
/// without bounds checks.
///
/// [`Recurrence::step`] advances `L` independent runs ("lanes") at once, on
/// [`Pack`]s of one value per lane. Written with [`Real`] arithmetic, it does
/// in every lane exactly what it does for one lane alone (`L = 1`, the
/// sequential loop), so results do not depend on how runs are grouped.
///
/// The contract that makes [`run`] exact: a lane's step depends only on the
/// bits of its state and on the inputs of its position (and fixed earlier
/// positions such as the previous one), with no other hidden state.
pub(crate) trait Recurrence<const S: usize, const N: usize>: Sync {
    /// The inputs of a run of positions.
    type Window<'w>: Copy
    where
        Self: 'w;

    /// The inputs of positions `from..from + len`.
    fn window(&self, from: usize, len: usize) -> Self::Window<'_>;

    /// Consumes, in each lane `l`, the input at position `t` of `windows[l]`:
    /// advances the lane's state (lane `l` of each field of `state`) and
    /// returns the lane's outputs (lane `l` of each output).
    fn step<const L: usize>(&self, state: &mut [Pack<L>; S], windows: &[Self::Window<'_>; L], t: usize)
    -> [Pack<L>; N];

    /// A state to start a speculative run from, just before the window's first
    /// position. Any state is correct; one close to the true state merges
    /// sooner.
    fn guess(&self, window: Self::Window<'_>) -> [f64; S];
}

/// The arithmetic the recurrences are written in: `f64` for the streaming
/// indicators, [`Pack`] for the batch loops. Only correctly rounded IEEE-754
/// operations (no fused multiply-add, nothing target-specific), so the same
/// formula gives the same bits in either form, natively and in wasm32.
pub(crate) trait Real:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + From<f64>
{
    /// The result of a comparison: `bool`, or one per lane.
    type Mask: Copy + BitAnd<Output = Self::Mask> + Not<Output = Self::Mask>;

    /// The absolute value (clears the sign bit).
    fn abs(self) -> Self;

    /// `self < other` (false when either is NaN).
    fn less(self, other: Self) -> Self::Mask;

    /// `self > other` (false when either is NaN).
    fn greater(self, other: Self) -> Self::Mask;

    /// `self == other` (false when either is NaN; `0.0 == -0.0`).
    fn equals(self, other: Self) -> Self::Mask;

    /// `yes` where `mask` holds, else `no`.
    fn select(mask: Self::Mask, yes: Self, no: Self) -> Self;
}

impl Real for f64 {
    type Mask = bool;

    #[inline(always)]
    fn abs(self) -> Self {
        f64::abs(self)
    }

    #[inline(always)]
    fn less(self, other: Self) -> bool {
        self < other
    }

    #[inline(always)]
    fn greater(self, other: Self) -> bool {
        self > other
    }

    #[inline(always)]
    #[allow(clippy::float_cmp, reason = "exact comparison is the defined behaviour")]
    fn equals(self, other: Self) -> bool {
        self == other
    }

    #[inline(always)]
    fn select(mask: bool, yes: Self, no: Self) -> Self {
        if mask { yes } else { no }
    }
}

/// One `f64` per lane, operated on lane by lane: each operation is the `f64`
/// operation in every lane, so a formula on packs gives in each lane the bits
/// it gives on `f64`. Written as whole-array operations, packs let the
/// compiler use SIMD instructions across lanes (which compute the same IEEE
/// results); in wasm32 without SIMD they are plain scalar code.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pack<const L: usize>(pub(crate) [f64; L]);

/// One comparison result per lane, as all bits set (true) or clear (false),
/// the form SIMD comparisons produce.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mask<const L: usize>([u64; L]);

impl<const L: usize> Pack<L> {
    /// Lane `l` is `f(l)`.
    #[inline(always)]
    pub(crate) fn from_fn(f: impl FnMut(usize) -> f64) -> Self {
        Self(std::array::from_fn(f))
    }

    #[inline(always)]
    fn zip(self, other: Self, f: impl Fn(f64, f64) -> f64) -> Self {
        Self(std::array::from_fn(|l| f(self.0[l], other.0[l])))
    }

    #[inline(always)]
    fn compare(self, other: Self, f: impl Fn(f64, f64) -> bool) -> Mask<L> {
        Mask(std::array::from_fn(|l| if f(self.0[l], other.0[l]) { u64::MAX } else { 0 }))
    }
}

impl<const L: usize> From<f64> for Pack<L> {
    /// The same value in every lane.
    #[inline(always)]
    fn from(value: f64) -> Self {
        Self([value; L])
    }
}

macro_rules! pack_operator {
    ($trait:ident, $method:ident, $op:tt) => {
        impl<const L: usize> $trait for Pack<L> {
            type Output = Self;

            #[inline(always)]
            fn $method(self, other: Self) -> Self {
                self.zip(other, |a, b| a $op b)
            }
        }
    };
}

pack_operator!(Add, add, +);
pack_operator!(Sub, sub, -);
pack_operator!(Mul, mul, *);
pack_operator!(Div, div, /);

impl<const L: usize> Neg for Pack<L> {
    type Output = Self;

    #[inline(always)]
    fn neg(self) -> Self {
        Self(self.0.map(|a| -a))
    }
}

impl<const L: usize> BitAnd for Mask<L> {
    type Output = Self;

    #[inline(always)]
    fn bitand(self, other: Self) -> Self {
        Self(std::array::from_fn(|l| self.0[l] & other.0[l]))
    }
}

impl<const L: usize> Not for Mask<L> {
    type Output = Self;

    #[inline(always)]
    fn not(self) -> Self {
        Self(self.0.map(|m| !m))
    }
}

impl<const L: usize> Real for Pack<L> {
    type Mask = Mask<L>;

    #[inline(always)]
    fn abs(self) -> Self {
        Self(self.0.map(f64::abs))
    }

    #[inline(always)]
    fn less(self, other: Self) -> Mask<L> {
        self.compare(other, |a, b| a < b)
    }

    #[inline(always)]
    fn greater(self, other: Self) -> Mask<L> {
        self.compare(other, |a, b| a > b)
    }

    #[inline(always)]
    #[allow(clippy::float_cmp, reason = "exact comparison is the defined behaviour")]
    fn equals(self, other: Self) -> Mask<L> {
        self.compare(other, |a, b| a == b)
    }

    #[inline(always)]
    fn select(mask: Mask<L>, yes: Self, no: Self) -> Self {
        Self(std::array::from_fn(|l| {
            f64::from_bits((yes.0[l].to_bits() & mask.0[l]) | (no.0[l].to_bits() & !mask.0[l]))
        }))
    }
}

/// The warm-up for a recurrence whose state errors shrink by `decay` per step
/// (`1 - k` for an EMA, `(n - 1) / n` for Wilder's smoothing); `None` when it
/// does not forget (`|decay| >= 1`, NaN) or would take too long to.
///
/// For a state made of chained recurrences (MACD's signal EMA of the EMAs'
/// difference, ADX's average of DX from smoothed sums), add the warm-ups of
/// the links.
pub(crate) fn warmup_for(decay: f64) -> Option<usize> {
    let decay = decay.abs();
    if decay.is_nan() || decay >= 1.0 {
        return None;
    }
    // ln(0) = -inf gives 0 steps: such a state is forgotten in one step.
    let steps = (FORGET_NATS / -decay.ln()).ceil();
    if steps > 1e9 { None } else { Some(steps as usize + MERGE_MARGIN) }
}

/// What [`run`] did: for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Segments the outputs were split into (1: the plain sequential loop).
    pub(crate) segments: usize,
    /// Segments whose speculation failed and that were recomputed.
    pub(crate) recomputed: usize,
}

/// Runs `recurrence` from the exact state `init` (the state after position
/// `first - 1`) over positions `first..first + n`, writing output `c` of
/// position `first + t` to `columns[c][t]` (every column has length `n`).
///
/// `warmup` is the speculative warm-up ([`warmup_for`]); `None` runs the
/// sequential loop. `L` is the number of lanes stepped together: enough to
/// cover the latency of the state's chain (2 when a step has several
/// independent chains or much other work, 4 for a lone EMA), not so many that
/// the states leave the registers or the input and output streams multiply.
/// The outputs equal the sequential loop's bit for bit.
pub(crate) fn run<R, const S: usize, const N: usize, const L: usize>(
    recurrence: &R,
    warmup: Option<usize>,
    init: [f64; S],
    first: usize,
    columns: [&mut [f64]; N],
) -> Stats
where
    R: Recurrence<S, N>,
{
    let n = columns.first().map_or(0, |c| c.len());
    assert!(columns.iter().all(|c| c.len() == n), "output columns differ in length");
    match warmup.and_then(|w| Layout::new(n, w, L, max_groups())) {
        Some(layout) => segmented::<R, S, N, L>(recurrence, &layout, init, first, columns),
        None => {
            let mut columns = columns;
            let mut state = init;
            sequential(recurrence, &mut state, first, &mut columns);
            Stats { segments: 1, recomputed: 0 }
        }
    }
}

/// Groups of lanes to spread over threads: a few per rayon thread natively, so
/// a busy core's share can be taken by another; one in wasm32.
fn max_groups() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    {
        2 * rayon::current_num_threads()
    }
    #[cfg(target_arch = "wasm32")]
    {
        1
    }
}

/// How `n` outputs are cut into `groups * lanes` segments.
///
/// Every lane takes `steps` steps. Segment 0 (lane 0 of group 0) starts from the
/// exact state and writes all of them; every other segment spends its first
/// `warmup` steps warming up and writes `steps - warmup`. The last segment also
/// computes the `extra` outputs left over by the division (fewer than the
/// number of segments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    warmup: usize,
    segments: usize,
    steps: usize,
    extra: usize,
}

impl Layout {
    fn new(n: usize, warmup: usize, lanes: usize, max_groups: usize) -> Option<Self> {
        if n < MIN_LEN || lanes == 0 {
            return None;
        }
        let min_outputs = MIN_SEGMENT.max(OUTPUTS_PER_WARMUP_STEP.saturating_mul(warmup));
        let groups = (n / min_outputs / lanes).min(max_groups);
        if groups == 0 {
            return None;
        }
        let segments = groups * lanes;
        // steps + (segments - 1) * (steps - warmup) <= n, as large as possible.
        let steps = (n + (segments - 1) * warmup) / segments;
        let extra = n - (steps + (segments - 1) * (steps - warmup));
        Some(Self { warmup, segments, steps, extra })
    }

    /// Where segment `k`'s outputs begin, relative to the first output.
    fn begin(&self, k: usize) -> usize {
        if k == 0 { 0 } else { self.steps + (k - 1) * (self.steps - self.warmup) }
    }

    /// How many outputs segment `k` computes.
    fn len(&self, k: usize) -> usize {
        let base = if k == 0 { self.steps } else { self.steps - self.warmup };
        if k + 1 == self.segments { base + self.extra } else { base }
    }
}

/// `L` segments run in lockstep.
#[derive(Debug)]
struct Lanes<'a, const S: usize, const N: usize, const L: usize> {
    /// Whether lane 0 is segment 0 (exact start, no warm-up).
    exact_first: bool,
    /// Absolute position of each lane's first output.
    begin: [usize; L],
    /// Each lane's output cells, one slice per column.
    out: [[&'a mut [f64]; N]; L],
    /// Each lane's (speculative) state just before its first output.
    begin_state: [[f64; S]; L],
    /// Each lane's state after its last output.
    end_state: [[f64; S]; L],
}

fn segmented<R, const S: usize, const N: usize, const L: usize>(
    recurrence: &R,
    layout: &Layout,
    init: [f64; S],
    first: usize,
    columns: [&mut [f64]; N],
) -> Stats
where
    R: Recurrence<S, N>,
{
    // Cut every column into the segments' cells, then gather them per lane.
    let mut cells: Vec<Vec<&mut [f64]>> = (0..layout.segments).map(|_| Vec::with_capacity(N)).collect();
    for column in columns {
        let mut rest = column;
        for (k, cells) in cells.iter_mut().enumerate() {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(layout.len(k));
            cells.push(head);
            rest = tail;
        }
    }
    let mut cells = cells.into_iter().map(|c| <[&mut [f64]; N]>::try_from(c).expect("N columns per segment"));
    let mut groups: Vec<Lanes<'_, S, N, L>> = (0..layout.segments / L)
        .map(|g| Lanes {
            exact_first: g == 0,
            begin: std::array::from_fn(|l| first + layout.begin(g * L + l)),
            out: std::array::from_fn(|_| cells.next().expect("one cell set per segment")),
            begin_state: [init; L],
            end_state: [init; L],
        })
        .collect();

    let run_group = |lanes: &mut Lanes<'_, S, N, L>| lockstep(recurrence, layout, init, lanes);
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        groups.par_iter_mut().for_each(run_group);
    }
    #[cfg(target_arch = "wasm32")]
    groups.iter_mut().for_each(run_group);

    // Verify in order; recompute any segment whose start state was not exact.
    let mut exact = groups[0].end_state[0];
    let mut recomputed = 0;
    for k in 1..layout.segments {
        let (lanes, l) = (&mut groups[k / L], k % L);
        if same_bits(&exact, &lanes.begin_state[l]) {
            exact = lanes.end_state[l];
        } else {
            recomputed += 1;
            sequential(recurrence, &mut exact, lanes.begin[l], &mut lanes.out[l]);
        }
    }
    Stats { segments: layout.segments, recomputed }
}

/// Runs one group's lanes in lockstep: the warm-up steps, then the output steps.
fn lockstep<R, const S: usize, const N: usize, const L: usize>(
    recurrence: &R,
    layout: &Layout,
    init: [f64; S],
    lanes: &mut Lanes<'_, S, N, L>,
) where
    R: Recurrence<S, N>,
{
    let w = layout.warmup;
    let exact_first = lanes.exact_first;
    // Lane `l`'s first `w` steps: a warm-up ending at `begin[l]`, except for
    // an exact lane 0, whose first `w` steps are its first outputs.
    let skip: [usize; L] = std::array::from_fn(|l| if exact_first && l == 0 { 0 } else { w });
    let warm: [R::Window<'_>; L] = std::array::from_fn(|l| recurrence.window(lanes.begin[l] - skip[l], w));
    let starts: [[f64; S]; L] = std::array::from_fn(|l| if skip[l] == 0 { init } else { recurrence.guess(warm[l]) });
    let mut state: [Pack<L>; S] = std::array::from_fn(|f| Pack::from_fn(|l| starts[l][f]));
    let (first_out, rest) = lanes.out.split_at_mut(1);
    let first_out = &mut first_out[0];
    for t in 0..w {
        let rows = recurrence.step(&mut state, &warm, t);
        if exact_first {
            put(first_out, t, &rows, 0);
        }
    }
    lanes.begin_state = std::array::from_fn(|l| lane(&state, l));
    // The lockstep output steps: every lane computes `m` outputs.
    let m = layout.steps - w;
    let main: [R::Window<'_>; L] = std::array::from_fn(|l| recurrence.window(lanes.begin[l] + w - skip[l], m));
    let mut out: [[&mut [f64]; N]; L] = std::array::from_fn(|_| std::array::from_fn(|_| <&mut [f64]>::default()));
    for (l, cells) in std::iter::once(first_out).chain(rest).enumerate() {
        let at = w - skip[l];
        for (dst, column) in out[l].iter_mut().zip(cells.iter_mut()) {
            *dst = &mut column[at..at + m];
        }
    }
    for t in 0..m {
        let rows = recurrence.step(&mut state, &main, t);
        for (l, out) in out.iter_mut().enumerate() {
            put(out, t, &rows, l);
        }
    }
    // The last segment's few extra outputs (none elsewhere).
    let mut end: [[f64; S]; L] = std::array::from_fn(|l| lane(&state, l));
    for (l, end) in end.iter_mut().enumerate() {
        let done = layout.steps - skip[l];
        let len = lanes.out[l].first().map_or(0, |c| c.len());
        if len > done {
            let mut tail: [&mut [f64]; N] = std::array::from_fn(|_| <&mut [f64]>::default());
            for (dst, column) in tail.iter_mut().zip(lanes.out[l].iter_mut()) {
                *dst = &mut column[done..];
            }
            sequential(recurrence, end, lanes.begin[l] + done, &mut tail);
        }
    }
    lanes.end_state = end;
}

/// The plain loop: positions `first..first + len` from `state`, outputs into
/// `out` (each column `len` long); leaves the end state in `state`.
fn sequential<R, const S: usize, const N: usize>(
    recurrence: &R,
    state: &mut [f64; S],
    first: usize,
    out: &mut [&mut [f64]; N],
) where
    R: Recurrence<S, N>,
{
    let len = out.first().map_or(0, |c| c.len());
    let window = [recurrence.window(first, len)];
    let mut out: [&mut [f64]; N] = out.each_mut().map(|c| &mut c[..len]);
    let mut packed: [Pack<1>; S] = state.map(|v| Pack([v]));
    for t in 0..len {
        let rows = recurrence.step(&mut packed, &window, t);
        put(&mut out, t, &rows, 0);
    }
    *state = lane(&packed, 0);
}

/// Lane `l` of each pack.
#[inline(always)]
fn lane<const S: usize, const L: usize>(packs: &[Pack<L>; S], l: usize) -> [f64; S] {
    packs.map(|p| p.0[l])
}

/// Writes lane `l` of each output to `out[..][at]`.
#[inline(always)]
fn put<const N: usize, const L: usize>(out: &mut [&mut [f64]; N], at: usize, rows: &[Pack<L>; N], l: usize) {
    for (column, row) in out.iter_mut().zip(rows) {
        column[at] = row.0[l];
    }
}

fn same_bits<const S: usize>(a: &[f64; S], b: &[f64; S]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An EMA-like recurrence with two state fields and two outputs, over a
    /// slice: the test subject for the machinery.
    struct Pair<'a> {
        x: &'a [f64],
        keep: f64,
        add: f64,
    }

    impl Recurrence<2, 2> for Pair<'_> {
        type Window<'w>
            = &'w [f64]
        where
            Self: 'w;

        fn window(&self, from: usize, len: usize) -> &[f64] {
            &self.x[from - 1..from + len]
        }

        fn step<const L: usize>(&self, s: &mut [Pack<L>; 2], x: &[&[f64]; L], t: usize) -> [Pack<L>; 2] {
            let (now, before) = (Pack::from_fn(|l| x[l][t + 1]), Pack::from_fn(|l| x[l][t]));
            let (keep, add) = (Pack::from(self.keep), Pack::from(self.add));
            s[0] = s[0] * keep + now * add;
            s[1] = s[1] * keep + (now - before).abs() * add;
            [s[0], s[0] / s[1]]
        }

        fn guess(&self, x: &[f64]) -> [f64; 2] {
            [x[0], 0.0]
        }
    }

    /// The outputs of `run` with `L` lanes.
    fn run_lanes<const L: usize>(pair: &Pair<'_>, warmup: Option<usize>) -> (Stats, [Vec<f64>; 2]) {
        let n = pair.x.len() - 1;
        let (mut a0, mut a1) = (vec![0.0; n], vec![0.0; n]);
        let stats = run::<_, 2, 2, L>(pair, warmup, [pair.x[0], 1.0], 1, [&mut a0, &mut a1]);
        (stats, [a0, a1])
    }

    /// `run` with 1, 3 and 4 lanes against a plain scalar loop, bit for bit;
    /// returns what the 4-lane run did.
    fn check(x: &[f64], keep: f64, warmup: Option<usize>) -> Stats {
        let pair = Pair { x, keep, add: 1.0 - keep };
        let (mut s0, mut s1) = (x[0], 1.0);
        let (mut want0, mut want1) = (Vec::new(), Vec::new());
        for pair in x.windows(2) {
            s0 = s0 * keep + pair[1] * (1.0 - keep);
            s1 = s1 * keep + (pair[1] - pair[0]).abs() * (1.0 - keep);
            want0.push(s0);
            want1.push(s0 / s1);
        }
        let (stats, got4) = run_lanes::<4>(&pair, warmup);
        for got in [run_lanes::<1>(&pair, warmup).1, run_lanes::<3>(&pair, warmup).1, got4] {
            for (got, want) in got.iter().zip([&want0, &want1]) {
                for (i, (g, w)) in got.iter().zip(want).enumerate() {
                    assert_eq!(g.to_bits(), w.to_bits(), "position {i}: {g} vs {w}");
                }
            }
        }
        stats
    }

    /// xorshift64 in [0, 1).
    fn uniform(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed.max(1);
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn walk(seed: u64, n: usize) -> Vec<f64> {
        let mut u = uniform(seed);
        let mut p = 100.0;
        (0..n)
            .map(|_| {
                p *= 1.0 + 0.02 * (u() - 0.5);
                p
            })
            .collect()
    }

    const N: usize = 150_000;

    #[test]
    fn random_walks_are_segmented_and_exact() {
        for (seed, keep) in [(1, 0.9), (2, 13.0 / 14.0), (3, 0.5), (4, 0.97), (5, 0.0)] {
            let stats = check(&walk(seed, N), keep, warmup_for(keep));
            assert!(stats.segments > 1, "{stats:?}");
            assert_eq!(stats.recomputed, 0, "keep {keep}: {stats:?}");
        }
    }

    #[test]
    fn adversarial_inputs_stay_exact() {
        let keep = 0.9;
        let w = warmup_for(keep);
        let mut u = uniform(9);
        // Jumps between magnitudes, with runs of constants.
        let mut wild: Vec<f64> = (0..N)
            .map(|i| {
                let e = ((u() * 600.0) as i32) - 300;
                let v = (1.0 + u()) * 2f64.powi(e);
                if (i / 5_000) % 3 == 1 { 7.25 } else { v }
            })
            .collect();
        check(&wild, keep, w);
        // A constant series: rounding may settle anywhere in a band of fixed points.
        check(&std::iter::repeat_n(0.1, N).collect::<Vec<_>>(), keep, w);
        check(&std::iter::repeat_n(1e300, N).collect::<Vec<_>>(), 0.999, warmup_for(0.999));
        // NaN and infinities in the middle poison every later state.
        wild[N / 3] = f64::NAN;
        let stats = check(&wild, keep, w);
        assert!(stats.recomputed > 0, "{stats:?}");
        let mut x = walk(7, N);
        x[N / 2] = f64::INFINITY;
        check(&x, keep, w);
        x[N / 2] = -0.0;
        x[N / 2 + 1] = 0.0;
        check(&x, keep, w);
        // Huge jumps: the state has to forget 1e200 within the warm-up.
        let mut y = walk(8, N);
        for v in y.iter_mut().step_by(10_007) {
            *v *= 1e200;
        }
        check(&y, keep, w);
    }

    #[test]
    fn failed_speculation_falls_back_to_the_exact_state() {
        let x = walk(11, N);
        for warmup in [0, 1, 3] {
            let stats = check(&x, 0.99, Some(warmup));
            assert!(stats.segments > 1 && stats.recomputed > 0, "warm-up {warmup}: {stats:?}");
        }
    }

    #[test]
    fn short_inputs_and_long_warm_ups_run_sequentially() {
        assert_eq!(check(&walk(3, 1_000), 0.9, warmup_for(0.9)).segments, 1);
        assert_eq!(check(&walk(3, N), 0.9999, warmup_for(0.9999)).segments, 1);
        assert_eq!(check(&walk(3, N), 0.9, None).segments, 1);
        assert_eq!(warmup_for(1.0), None);
        assert_eq!(warmup_for(f64::NAN), None);
        assert_eq!(warmup_for(0.0), Some(MERGE_MARGIN));
    }

    #[test]
    fn packs_compute_what_f64_computes_in_every_lane() {
        let specials = [0.0, -0.0, 1.5, -2.25, 1e-310, 1e308, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 3.0];
        for &a in &specials {
            for &b in &specials {
                // Lane 1 of each pack holds (a, b); the other lanes differ.
                let (pa, pb) = (Pack([7.0, a, -1.0]), Pack([0.5, b, f64::NAN]));
                let lane1 = |p: Pack<3>| p.0[1].to_bits();
                assert_eq!(lane1(pa + pb), (a + b).to_bits());
                assert_eq!(lane1(pa - pb), (a - b).to_bits());
                assert_eq!(lane1(pa * pb), (a * b).to_bits());
                assert_eq!(lane1(pa / pb), (a / b).to_bits());
                assert_eq!(lane1(-pa), (-a).to_bits());
                assert_eq!(lane1(Real::abs(pa)), a.abs().to_bits());
                let masks = [(pa.less(pb), a.less(b)), (pa.greater(pb), a.greater(b)), (pa.equals(pb), a.equals(b))];
                let (yes, no) = (Pack([1.0, a, 2.0]), Pack([3.0, b, 4.0]));
                for (packed, scalar) in masks {
                    for (packed, scalar) in [(packed, scalar), (!packed, !scalar), (packed & !packed, false)] {
                        assert_eq!(lane1(Pack::select(packed, yes, no)), f64::select(scalar, a, b).to_bits());
                    }
                }
            }
        }
    }

    #[test]
    fn layouts_cover_the_outputs_exactly() {
        for n in [MIN_LEN, 100_003, 1_000_000, 10_000_019] {
            for (w, lanes, groups) in [(0, 4, 1), (671, 8, 4), (5_000, 4, 3), (64, 2, 64)] {
                let Some(layout) = Layout::new(n, w, lanes, groups) else { continue };
                let mut at = 0;
                for k in 0..layout.segments {
                    assert_eq!(layout.begin(k), at);
                    assert!(k == 0 || layout.begin(k) >= w);
                    assert!(layout.len(k) + w >= MIN_SEGMENT.max(OUTPUTS_PER_WARMUP_STEP * w));
                    at += layout.len(k);
                }
                assert_eq!(at, n, "{layout:?}");
                assert!(layout.extra < layout.segments);
            }
        }
    }
}
