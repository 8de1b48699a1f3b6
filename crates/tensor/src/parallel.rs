//! Deterministic data parallelism over fixed-size chunks of a batch.
//!
//! The batch kernels split their work into chunks of a fixed number of samples
//! (or elements), **never** into one piece per thread. Each chunk is computed
//! the same way whichever thread runs it, and per-chunk partial sums (a weight
//! gradient) are added in chunk order, so results are bit-identical with 1, 2
//! or 64 threads. Sums over samples use chunks of [`SAMPLE_CHUNK`], which fix
//! the bits; work computed sample by sample (outputs, input gradients), whose
//! bits no chunking changes, uses [`split_chunk`]: small pieces when threads
//! are available, so that an idle thread can take over part of a busy one's.
//! The threads are rayon's: the global pool (`RAYON_NUM_THREADS`) or whatever
//! pool the caller `install`s.
//!
//! A caller whose own parallelism already splits the work evenly (inference on
//! one model replica per thread) runs the kernels inside [`serial`]: the same
//! chunks, in the same order, on the calling thread, so no thread steals half
//! of another's activation and drags its cache lines across cores.

use rayon::prelude::*;
use std::cell::{Cell, RefCell};
use std::mem::MaybeUninit;
use std::sync::Once;

/// Samples per chunk of parallel work. A constant, so that results never
/// depend on the thread count; 16 gives a batch of 64 four chunks, which two
/// or four threads share evenly.
pub const SAMPLE_CHUNK: usize = 16;

/// Samples per chunk of work whose results do not depend on how the batch is
/// cut (outputs and input gradients, computed sample by sample) when kernels may
/// use threads: finer than [`SAMPLE_CHUNK`], so that a thread left without work
/// (a model replica that has run out of gradient shards) can take over part of
/// another's.
pub const SPLIT_CHUNK: usize = 4;

/// Samples per chunk of sample-by-sample work here: [`SPLIT_CHUNK`] where
/// kernels may use threads ([`use_threads`]), else [`SAMPLE_CHUNK`] (fewer,
/// larger pieces on one thread). Such results are the same for any chunking.
pub fn split_chunk() -> usize {
    if use_threads() {
        SPLIT_CHUNK
    } else {
        SAMPLE_CHUNK
    }
}

/// Elements per chunk for element-wise kernels (activations).
pub const ELEMENT_CHUNK: usize = 1 << 15;

/// Allocates `len` floats and fills them chunk by chunk in parallel:
/// chunk `i` (`chunk_len` floats, the last may be shorter) is zeroed, then
/// handed to `fill(i, chunk)`, whose results are returned in chunk order.
///
/// Zeroing inside the parallel region (rather than `vec![0.0; len]` up
/// front) keeps the whole allocation off the serial path.
///
/// # Panics
/// If `chunk_len` is 0 while `len` is not.
pub fn par_build<R, F>(len: usize, chunk_len: usize, fill: F) -> (Vec<f32>, Vec<R>)
where
    R: Send,
    F: Fn(usize, &mut [f32]) -> R + Sync,
{
    build(len, chunk_len, true, fill)
}

/// [`par_build`], or the same chunks in order on the calling thread when
/// `parallel` is false: for work too small to repay waking the pool (a few
/// microseconds per parallel region). The results are identical either way.
pub fn build<R, F>(len: usize, chunk_len: usize, parallel: bool, fill: F) -> (Vec<f32>, Vec<R>)
where
    R: Send,
    F: Fn(usize, &mut [f32]) -> R + Sync,
{
    let zeroed_fill = |i: usize, chunk: &mut [MaybeUninit<f32>]| {
        for x in chunk.iter_mut() {
            x.write(0.0);
        }
        // SAFETY: every element of `chunk` was initialised just above, and
        // `MaybeUninit<f32>` has the layout of `f32`.
        let chunk = unsafe { &mut *(chunk as *mut [MaybeUninit<f32>] as *mut [f32]) };
        fill(i, chunk)
    };
    // SAFETY: `zeroed_fill` initialises every element of its chunk.
    unsafe { build_uninit(len, chunk_len, parallel, zeroed_fill) }
}

/// A new buffer of `len` floats made of consecutive pieces of `piece_len` floats
/// (the last may be shorter): piece `p`, at `range` in the buffer, holds the values
/// `values(p, range)` yields. Pieces go `pieces_per_chunk` to a chunk, and the chunks
/// run as in [`build`] (in parallel when `parallel`), but nothing is zeroed first:
/// each value is written once. For element-wise passes, where that zeroing cost as
/// much as the pass (the modern CNN's batch norm and ReLU layers: 5% of an epoch).
/// Each piece's loop is compiled for the CPU's widest vectors (`simd::widest`), which
/// changes its speed, not its values.
///
/// # Panics
/// If a piece's iterator yields fewer values than the piece holds, or
/// `piece_len` or `pieces_per_chunk` is 0 while `len` is not.
///
/// ```
/// use scratchnet_tensor::parallel::build_from_pieces;
/// let x = [1.0f32, -2.0, 3.0, -4.0, 5.0];
/// let doubled = build_from_pieces(x.len(), 2, 1, true, |_, range| x[range].iter().map(|v| 2.0 * v));
/// assert_eq!(doubled, [2.0, -4.0, 6.0, -8.0, 10.0]);
/// ```
pub fn build_from_pieces<I, F>(
    len: usize,
    piece_len: usize,
    pieces_per_chunk: usize,
    parallel: bool,
    values: F,
) -> Vec<f32>
where
    I: IntoIterator<Item = f32>,
    F: Fn(usize, std::ops::Range<usize>) -> I + Sync,
{
    assert!(
        len == 0 || piece_len * pieces_per_chunk > 0,
        "pieces and chunks must hold at least one value"
    );
    let chunk_len = piece_len * pieces_per_chunk;
    let fill = |i: usize, chunk: &mut [MaybeUninit<f32>]| {
        for (k, piece) in chunk.chunks_mut(piece_len).enumerate() {
            let start = i * chunk_len + k * piece_len;
            let piece_values = values(i * pieces_per_chunk + k, start..start + piece.len());
            let written = crate::simd::widest(
                #[inline(always)]
                || {
                    let mut written = 0;
                    for (slot, value) in piece.iter_mut().zip(piece_values) {
                        slot.write(value);
                        written += 1;
                    }
                    written
                },
            );
            assert_eq!(written, piece.len(), "piece {k} of chunk {i} ran short");
        }
    };
    // SAFETY: `fill` writes every element of its chunk, piece by piece, or panics.
    unsafe { build_uninit(len, chunk_len, parallel, fill).0 }
}

/// [`build_from_pieces`] for two buffers at once: piece `p` of each holds the first and
/// the second halves of the pairs `values(p, range)` yields. For passes with two
/// outputs (batch norm's `x̂` and `y`), which then read their input once.
///
/// # Panics
/// As [`build_from_pieces`].
///
/// ```
/// use scratchnet_tensor::parallel::build_two_from_pieces;
/// let x = [1.0f32, -2.0, 3.0];
/// let (doubled, negated) =
///     build_two_from_pieces(x.len(), 2, 1, true, |_, range| x[range].iter().map(|v| (2.0 * v, -v)));
/// assert_eq!(doubled, [2.0, -4.0, 6.0]);
/// assert_eq!(negated, [-1.0, 2.0, -3.0]);
/// ```
pub fn build_two_from_pieces<I, F>(
    len: usize,
    piece_len: usize,
    pieces_per_chunk: usize,
    parallel: bool,
    values: F,
) -> (Vec<f32>, Vec<f32>)
where
    I: IntoIterator<Item = (f32, f32)>,
    F: Fn(usize, std::ops::Range<usize>) -> I + Sync,
{
    assert!(
        len == 0 || piece_len * pieces_per_chunk > 0,
        "pieces and chunks must hold at least one value"
    );
    if len == 0 {
        return (Vec::new(), Vec::new());
    }
    keep_freed_memory();
    let chunk_len = piece_len * pieces_per_chunk;
    type Chunk<'a> = &'a mut [MaybeUninit<f32>];
    let fill = |(i, (first, second)): (usize, (Chunk, Chunk))| {
        let pieces = first
            .chunks_mut(piece_len)
            .zip(second.chunks_mut(piece_len));
        for (k, (first, second)) in pieces.enumerate() {
            let start = i * chunk_len + k * piece_len;
            let piece_values = values(i * pieces_per_chunk + k, start..start + first.len());
            let slots = first.iter_mut().zip(second.iter_mut());
            let written = crate::simd::widest(
                #[inline(always)]
                || {
                    let mut written = 0;
                    for ((a, b), (u, v)) in slots.zip(piece_values) {
                        a.write(u);
                        b.write(v);
                        written += 1;
                    }
                    written
                },
            );
            assert_eq!(written, first.len(), "piece {k} of chunk {i} ran short");
        }
    };
    let (mut first, mut second): (Vec<f32>, Vec<f32>) =
        (Vec::with_capacity(len), Vec::with_capacity(len));
    let (a, b) = (
        &mut first.spare_capacity_mut()[..len],
        &mut second.spare_capacity_mut()[..len],
    );
    if len <= chunk_len || !parallel || !use_threads() {
        let chunks = a.chunks_mut(chunk_len).zip(b.chunks_mut(chunk_len));
        chunks.enumerate().for_each(fill);
    } else {
        let chunks = a.par_chunks_mut(chunk_len).zip(b.par_chunks_mut(chunk_len));
        chunks.enumerate().for_each(fill);
    }
    // SAFETY: every chunk of the first `len` elements of both buffers was handed to
    // `fill`, which wrote each of its elements or panicked (and a panic never gets here).
    unsafe {
        first.set_len(len);
        second.set_len(len);
    }
    (first, second)
}

/// The chunked allocation under [`build`] and [`build_from_pieces`]: allocates
/// `len` floats and runs `fill(i, chunk)` on chunk `i` (`chunk_len` floats, the last
/// may be shorter), in parallel when `parallel` and threads may be used, returning
/// the results in chunk order.
///
/// # Safety
/// `fill` must initialise every element of the chunk it is handed (or panic).
///
/// # Panics
/// If `chunk_len` is 0 while `len` is not.
unsafe fn build_uninit<R, F>(
    len: usize,
    chunk_len: usize,
    parallel: bool,
    fill: F,
) -> (Vec<f32>, Vec<R>)
where
    R: Send,
    F: Fn(usize, &mut [MaybeUninit<f32>]) -> R + Sync,
{
    if len == 0 {
        return (Vec::new(), Vec::new());
    }
    assert!(chunk_len > 0, "chunk_len must be at least 1");
    keep_freed_memory();
    let mut data: Vec<f32> = Vec::with_capacity(len);
    let spare = &mut data.spare_capacity_mut()[..len];
    let run = |(i, chunk): (usize, &mut [MaybeUninit<f32>])| fill(i, chunk);
    let results: Vec<R> = if len <= chunk_len {
        vec![run((0, spare))]
    } else if !parallel || !use_threads() {
        // Same chunks, same order, without handing them to a pool thread.
        spare.chunks_mut(chunk_len).enumerate().map(run).collect()
    } else {
        spare
            .par_chunks_mut(chunk_len)
            .enumerate()
            .map(run)
            .collect()
    };
    // SAFETY: every chunk of the first `len` elements was handed to `fill`,
    // which initialised it (this function's contract); a panic in `fill`
    // never gets here.
    unsafe { data.set_len(len) };
    (data, results)
}

/// Runs `f(0)..f(count − 1)` on rayon's pool (inline when it has one
/// thread) and returns the results in index order.
pub fn par_map<R, F>(count: usize, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(usize) -> R + Sync,
{
    if count <= 1 || !use_threads() {
        (0..count).map(f).collect()
    } else {
        (0..count).into_par_iter().map(&f).collect()
    }
}

thread_local! {
    /// Whether this thread is inside [`serial`].
    static SERIAL: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every kernel it calls on the calling thread (the same chunks in
/// the same order, so the same bits), for callers whose own parallelism already
/// keeps the pool busy. Nests; the previous setting is restored when `f` returns
/// or panics.
///
/// ```
/// use scratchnet_tensor::parallel::{serial, use_threads};
/// serial(|| assert!(!use_threads()));
/// ```
pub fn serial<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SERIAL.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SERIAL.with(|s| s.replace(true)));
    f()
}

/// Whether kernels called here may split their chunks across threads: the rayon pool
/// has more than one thread and we are not inside [`serial`].
pub fn use_threads() -> bool {
    !SERIAL.with(Cell::get) && rayon::current_num_threads() > 1
}

thread_local! {
    /// Scratch buffers of this thread, reused by [`with_scratch`].
    static SCRATCH: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a zeroed scratch buffer of `len` floats that belongs to the
/// current thread and is reused by later calls (nested calls get distinct buffers),
/// so the hot loops allocate nothing once warm.
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    scratch_buffer(len, |buf| {
        buf.fill(0.0);
        f(buf)
    })
}

/// [`with_scratch`] for a buffer that `f` writes in full before it reads any of it:
/// the buffer holds whatever an earlier use left there, so nothing is zeroed that
/// is about to be overwritten (zeroing the convolutions' scratch was about 3% of a
/// ResNet training step's `perf` samples). In builds with debug assertions (the
/// tests) it holds NaN instead, so that a caller which reads what it did not write
/// shows it in its results.
pub fn with_scratch_to_overwrite<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    scratch_buffer(len, |buf| {
        if cfg!(debug_assertions) {
            buf.fill(f32::NAN);
        }
        f(buf)
    })
}

/// Runs `f` on the first `len` floats of this thread's next free scratch buffer.
/// A buffer only ever grows: one that is shortened for a small layer would have
/// to be zeroed again up to the next large one's length.
fn scratch_buffer<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut buf = SCRATCH.with(|s| s.borrow_mut().pop()).unwrap_or_default();
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let result = f(&mut buf[..len]);
    SCRATCH.with(|s| s.borrow_mut().push(buf));
    result
}

/// Stops glibc's allocator from handing the memory of freed batch tensors
/// back to the kernel after every step, which made each step page-fault its
/// tensors back in.
///
/// glibc serves blocks above `M_MMAP_THRESHOLD` with a fresh `mmap` (unmapped again
/// when freed) and returns the top of its heap to the kernel once more than
/// `M_TRIM_THRESHOLD` is free there; both start small and grow only to 32 MiB. A
/// training step allocates and frees tens of megabytes of activations, and an
/// evaluation batch of 1,000 images (the default then) through a ResNet's first stage 50 MiB per
/// tensor: every one of those pages was faulted in (and zeroed by the kernel) again
/// at every step. Raising both thresholds to 1 GiB keeps freed memory for reuse:
/// one epoch of `fashion_resnet` on 1,280 images (and its evaluation) went from
/// 1,989,158 page faults and 24.7 s of CPU to 257,262 and 17.9 s, for a peak RSS 5%
/// higher (1,034 MB against 982 MB). Other allocators and platforms are left alone.
fn keep_freed_memory() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            const KEEP: libc::c_int = 1 << 30;
            // SAFETY: `mallopt` only sets parameters of glibc's allocator, under the
            // allocator's own lock; it may be called from any thread at any time, and
            // a value it refuses changes nothing (it then returns 0).
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, KEEP);
                libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP);
            }
        }
    });
}

/// Runs `work` on every item of `items`: on rayon's pool when there are several
/// items and kernels may use threads ([`use_threads`]), else in order on the calling
/// thread. For work items whose results do not depend on who computes them (disjoint
/// chunks of an element-wise update), so the bits are the same either way.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let total = AtomicUsize::new(0);
/// scratchnet_tensor::parallel::for_each_chunk(vec![1, 2, 3], |x| {
///     total.fetch_add(x, Ordering::Relaxed);
/// });
/// assert_eq!(total.into_inner(), 6);
/// ```
pub fn for_each_chunk<T, F>(items: Vec<T>, work: F)
where
    T: Send,
    F: Fn(T) + Sync + Send,
{
    if items.len() > 1 && use_threads() {
        items.into_par_iter().for_each(work);
    } else {
        items.into_iter().for_each(work);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_build_fills_every_chunk_in_order() {
        let (data, sums) = par_build(10, 4, |i, chunk| {
            for (j, x) in chunk.iter_mut().enumerate() {
                *x = (i * 4 + j) as f32;
            }
            chunk.len()
        });
        assert_eq!(data, (0..10).map(|x| x as f32).collect::<Vec<_>>());
        assert_eq!(sums, vec![4, 4, 2]);
        assert!(par_build(0, 0, |_, _| ()).0.is_empty());
    }

    #[test]
    fn pieces_are_written_in_place_and_a_short_one_is_refused() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let seen = pool.install(|| {
            build_from_pieces(11, 3, 2, true, |p, range| {
                range.map(move |j| (100 * p + j) as f32)
            })
        });
        let want = [0, 1, 2, 103, 104, 105, 206, 207, 208, 309, 310];
        assert_eq!(seen, want.map(|x| x as f32));
        let short = std::panic::catch_unwind(|| {
            build_from_pieces(8, 4, 1, false, |p, range| {
                range.take(3 + p).map(|j| j as f32)
            })
        });
        assert!(short.is_err(), "a piece one value short must panic");
    }

    #[test]
    fn pairs_are_written_to_both_buffers_and_a_short_piece_is_refused() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let (first, second) = pool.install(|| {
            build_two_from_pieces(11, 3, 2, true, |p, range| {
                range.map(move |j| ((100 * p + j) as f32, -(j as f32)))
            })
        });
        let want = [0, 1, 2, 103, 104, 105, 206, 207, 208, 309, 310];
        assert_eq!(first, want.map(|x| x as f32));
        assert_eq!(second, (0..11).map(|j| -(j as f32)).collect::<Vec<_>>());
        for parallel in [false, true] {
            let short = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool.install(|| {
                    build_two_from_pieces(8 << 15, 1 << 15, 1, parallel, |p, range| {
                        range.take((1 << 15) - p).map(|j| (j as f32, 0.0))
                    })
                })
            }));
            assert!(short.is_err(), "a piece one value short must panic");
        }
    }

    #[test]
    fn scratch_is_zeroed_and_nested_buffers_are_distinct() {
        with_scratch(5, |a| {
            a.fill(7.0);
            with_scratch(3, |b| {
                assert_eq!(b, &[0.0; 3]);
                b.fill(1.0);
            });
            assert_eq!(a, &[7.0; 5]);
        });
        with_scratch(4, |a| assert_eq!(a, &[0.0; 4]));
        with_scratch_to_overwrite(6, |a| {
            assert_eq!(a.len(), 6);
            if cfg!(debug_assertions) {
                assert!(a.iter().all(|v| v.is_nan()), "unwritten scratch must show");
            }
        });
        assert_eq!(par_map(5, |i| i * i), vec![0, 1, 4, 9, 16]);
    }

    #[test]
    fn serial_keeps_every_chunk_on_the_calling_thread_and_restores() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            assert!(use_threads());
            let me = std::thread::current().id();
            let threads = serial(|| {
                serial(|| ());
                assert!(!use_threads(), "the inner serial restored too much");
                par_map(64, |_| std::thread::current().id())
            });
            assert!(threads.iter().all(|&t| t == me));
            assert!(use_threads());
            let caught = std::panic::catch_unwind(|| serial(|| panic!("boom")));
            assert!(caught.is_err());
            assert!(use_threads(), "a panic inside serial left it on");
        });
    }
}
