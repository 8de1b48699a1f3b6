//! Keeping rayon's idle threads awake between the parallel regions of a training loop.
//!
//! A training step is a chain of short parallel regions (every layer's kernels, forward
//! and backward) with a little serial work between them. A rayon thread that finds no
//! work spins for a few dozen microseconds and then sleeps; waking it again costs this
//! kind of virtual machine more than that (an idle vCPU halts, and the next region waits
//! for it): the modern CNN's 2-thread step switched threads 29 times (`perf stat -e
//! context-switches`, 100 steps). While a [`KeepAwake`] lives, every other thread of
//! the pool runs a loop that takes any pending rayon work and otherwise yields its CPU
//! to the operating system without going to sleep, as OpenMP's threads do between
//! regions: 1.2 switches per step. Trained weights do not change: which thread runs a
//! chunk never changes its bits ([`crate::parallel`]).
//!
//! Measured on a 2-vCPU Intel Xeon, alternating with the same code without it, one epoch
//! at 2 threads (images/s): the ResNet +6%, LeNet-5 +3%, the modern CNN +1% to +5%.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// While alive, the other threads of the current rayon pool wait for work awake
/// (see the module docs). Dropping it lets them sleep again. With one thread it
/// does nothing.
///
/// ```
/// let _awake = scratchnet_tensor::keep_awake::KeepAwake::start();
/// let total: u64 = rayon::join(|| 1u64, || 2u64).0;
/// assert_eq!(total, 1);
/// ```
#[derive(Debug)]
pub struct KeepAwake {
    stop: Arc<AtomicBool>,
    /// How many waiting loops it started.
    loops: usize,
}

impl KeepAwake {
    /// Starts one waiting loop for each thread of the current pool (the one whose
    /// worker calls this, else the global pool) but one: the calling thread's work
    /// needs a CPU too.
    pub fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let caller = rayon::current_thread_index();
        let loops = rayon::current_num_threads() - 1;
        for _ in 0..loops {
            let stop = Arc::clone(&stop);
            rayon::spawn(move || wait_awake(&stop, caller));
        }
        KeepAwake { stop, loops }
    }

    /// How many waiting loops it started: one fewer than the pool's threads.
    pub fn loops(&self) -> usize {
        self.loops
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs pending rayon work until `stop` is set, yielding the CPU when there is none.
///
/// A worker that calls [`KeepAwake::start`] pushes these loops onto its own queue, from
/// where an idle thread steals them; but the caller itself may pop one while it waits
/// for a job of its own, and a loop below that wait would never let it return. So a
/// loop that finds itself on the `caller`'s thread ends at once.
fn wait_awake(stop: &AtomicBool, caller: Option<usize>) {
    if caller.is_some() && rayon::current_thread_index() == caller {
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Waits until only `stop`'s holder is left (every loop has ended), at most `limit`.
    fn loops_end(stop: &Arc<AtomicBool>, limit: Duration) -> bool {
        let start = Instant::now();
        while Arc::strong_count(stop) > 1 {
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    #[test]
    fn the_loops_run_pending_work_and_end_when_dropped() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        // From inside the pool (a trainer under `install`: the loops take two of its
        // three threads) and from outside it (the loops go to the global pool).
        for inside in [true, false] {
            let awake = if inside {
                pool.install(KeepAwake::start)
            } else {
                pool.in_place_scope(|_| KeepAwake::start())
            };
            if inside {
                assert_eq!(awake.loops(), 2);
            }
            let stop = Arc::clone(&awake.stop);
            // The pool's work still runs, nested joins included.
            let sum: u64 = pool.install(|| {
                (0..1000u64)
                    .map(|i| rayon::join(|| i, || rayon::join(|| 1, || 1).0).0)
                    .sum()
            });
            assert_eq!(sum, 499_500);
            drop(awake);
            assert!(loops_end(&stop, Duration::from_secs(10)), "inside {inside}");
        }
    }

    #[test]
    fn a_loop_on_the_calling_thread_ends_at_once() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        // One thread: no loop at all.
        assert_eq!(pool.install(KeepAwake::start).loops(), 0);
        // A loop that lands on its caller's thread returns without `stop` being set.
        let stop = Arc::new(AtomicBool::new(false));
        let (done, returned) = std::sync::mpsc::channel();
        let flag = Arc::clone(&stop);
        std::thread::spawn(move || {
            pool.install(|| wait_awake(&flag, rayon::current_thread_index()));
            done.send(()).unwrap();
        });
        let result = returned.recv_timeout(Duration::from_secs(10));
        stop.store(true, Ordering::Relaxed);
        assert!(result.is_ok(), "the loop kept its caller's thread");
    }
}
