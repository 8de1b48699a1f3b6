//! [`StopFlag`]: a request to stop training, and who wins when a second one comes.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

// The state is a set of these bits; `FINISHING` and `ABANDONED` exclude each other.

/// A stop was asked for.
const RAISED: u8 = 1;
/// The program finishes on its own: the training loop writes the checkpoint of a stop,
/// or the run ended and the program reports. A second interruption no longer exits.
const FINISHING: u8 = 2;
/// A second interruption came before the stopping point: the process exits at once;
/// nothing more is written or reported.
const ABANDONED: u8 = 4;

/// A request to stop training, shared between the training loop and whoever asks
/// (a Ctrl-C handler, another thread, a test).
///
/// [`Trainer::fit`](crate::Trainer::fit) looks at it after every batch (and before every
/// epoch): once it is raised, the loop saves a checkpoint of exactly where it stands —
/// the epoch, the batches of it already trained, the running sums of its metrics, the
/// optimizer state, the history — and returns
/// [`TrainError::Interrupted`](crate::TrainError::Interrupted). Resuming from that
/// checkpoint continues with the next batch, bit for bit as if never stopped.
///
/// # Two interruptions
///
/// A signal handler calls [`interrupt`](Self::interrupt) for each signal; the flag is a
/// small state machine that decides, atomically, who wins when a second signal races
/// the checkpoint:
///
/// | state | [`interrupt`](Self::interrupt) | [`finish`](Self::finish) (loop or program) |
/// |---|---|---|
/// | running | → stopping, [`Interruption::Stop`] | → finishing, `true` |
/// | stopping | → abandoned, [`Interruption::ExitNow`] | → finishing, `true` |
/// | finishing | [`Interruption::Finishing`] (wait) | `true` |
/// | abandoned | [`Interruption::ExitNow`] | `false`: write and print nothing |
///
/// So either the second signal comes before the loop reached its stopping point — the
/// handler exits at once and the loop writes nothing — or after — the checkpoint is
/// written whole and reported, and the handler lets the program finish. What the
/// program says and what it does agree whichever comes first.
///
/// Clones share the same flag; two flags are equal when they are the same flag.
///
/// ```
/// use scratchnet_train::{Interruption, StopFlag};
/// let stop = StopFlag::new();
/// let handle = stop.clone(); // e.g. moved into a Ctrl-C handler
/// assert!(!stop.is_raised());
/// assert_eq!(handle.interrupt(), Interruption::Stop);
/// assert!(stop.is_raised());
/// assert!(stop.finish()); // the loop reached its stopping point first: it saves
/// assert_eq!(handle.interrupt(), Interruption::Finishing);
/// ```
#[derive(Clone, Debug, Default)]
pub struct StopFlag(Arc<AtomicU8>);

/// What a signal handler is to do with an interruption (see [`StopFlag::interrupt`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interruption {
    /// The first: training stops after the current batch, with a checkpoint.
    Stop,
    /// A second one before the loop reached its stopping point: exit at once. Nothing
    /// will be written or reported by the loop or the program after this.
    ExitNow,
    /// The program is already writing its checkpoint or reports and ends by itself in
    /// a moment; exiting now could leave them half done.
    Finishing,
}

impl StopFlag {
    /// A flag that is not raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the training loop to stop after the current batch (as a first
    /// [`interrupt`](Self::interrupt), without its second-signal rule).
    pub fn raise(&self) {
        self.0.fetch_or(RAISED, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst) & RAISED != 0
    }

    /// Whether a second interruption decided to exit at once: then nothing is to be
    /// written or printed.
    pub fn is_abandoned(&self) -> bool {
        self.0.load(Ordering::SeqCst) & ABANDONED != 0
    }

    /// One interruption (a Ctrl-C, a SIGTERM): what the handler is to do, decided
    /// atomically against [`finish`](Self::finish).
    pub fn interrupt(&self) -> Interruption {
        self.transition(|state| {
            if state & ABANDONED != 0 {
                (state, Interruption::ExitNow)
            } else if state & FINISHING != 0 {
                (state | RAISED, Interruption::Finishing)
            } else if state & RAISED == 0 {
                (state | RAISED, Interruption::Stop)
            } else {
                (state | ABANDONED, Interruption::ExitNow)
            }
        })
    }

    /// Claims the right to finish: called by the training loop before it writes the
    /// checkpoint of a stop, and by a program before it reports how a run ended.
    /// `false` when a second interruption already decided to exit at once: then write
    /// nothing and print nothing (the process is exiting). After a `true`, a further
    /// interruption gets [`Interruption::Finishing`].
    pub fn finish(&self) -> bool {
        self.transition(|state| {
            if state & ABANDONED != 0 {
                (state, false)
            } else {
                (state | FINISHING, true)
            }
        })
    }

    /// Moves the state by `step` (from the state to the next one and an answer),
    /// atomically, and returns the answer.
    fn transition<T>(&self, step: impl Fn(u8) -> (u8, T)) -> T {
        let mut state = self.0.load(Ordering::SeqCst);
        loop {
            let (next, answer) = step(state);
            match self
                .0
                .compare_exchange(state, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return answer,
                Err(now) => state = now,
            }
        }
    }
}

impl PartialEq for StopFlag {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_interruption_before_the_stopping_point_exits_and_nothing_is_written() {
        let stop = StopFlag::new();
        assert_eq!(stop.interrupt(), Interruption::Stop);
        assert_eq!(stop.interrupt(), Interruption::ExitNow);
        assert!(stop.is_abandoned());
        assert!(
            !stop.finish(),
            "the loop must not save after the handler exits"
        );
        assert_eq!(stop.interrupt(), Interruption::ExitNow);
    }

    #[test]
    fn a_second_interruption_after_the_stopping_point_waits_for_the_checkpoint() {
        let stop = StopFlag::new();
        assert_eq!(stop.interrupt(), Interruption::Stop);
        assert!(stop.finish());
        assert_eq!(stop.interrupt(), Interruption::Finishing);
        assert!(!stop.is_abandoned());
        assert!(stop.finish(), "the program reports after the loop saved");
    }

    #[test]
    fn a_run_that_ends_by_itself_is_not_abandoned_by_late_signals() {
        let stop = StopFlag::new();
        assert!(stop.finish());
        assert!(!stop.is_raised(), "finishing is not a stop request");
        assert_eq!(stop.interrupt(), Interruption::Finishing);
        assert_eq!(stop.interrupt(), Interruption::Finishing);
        assert!(stop.finish());
    }

    /// Whichever thread wins, exactly one of "the handler exits" and "the loop
    /// writes" happens.
    #[test]
    fn exit_and_finish_race_to_exactly_one_winner() {
        for _ in 0..2000 {
            let stop = StopFlag::new();
            stop.raise();
            let handler = stop.clone();
            let exits = std::thread::spawn(move || handler.interrupt() == Interruption::ExitNow);
            let finishes = stop.finish();
            let exits = exits.join().unwrap();
            assert!(exits != finishes, "exits {exits}, finishes {finishes}");
        }
    }
}
