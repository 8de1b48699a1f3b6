//! [`RunPhase`]: whether a run has begun training, for a signal handler to decide what
//! a first Ctrl-C does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Whether a run is still preparing — loading or downloading the data, building the
/// model — or training. [`run`](crate::run) marks it training just before the first
/// batch; until then nothing is worth a checkpoint, so a first Ctrl-C may quit at once.
///
/// Clones share the same phase; two phases are equal when they are the same one.
#[derive(Clone, Debug, Default)]
pub struct RunPhase(Arc<AtomicBool>);

impl RunPhase {
    /// A run that has not begun training.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the run as training (its first batch is next).
    pub fn start_training(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether training has begun.
    pub fn is_training(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl PartialEq for RunPhase {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
