//! The training examples' handling of Ctrl-C (SIGINT), SIGTERM and SIGHUP: what each
//! signal does at each stage of a run, and the words that say so.

use crate::RunPhase;
use scratchnet_train::{Interruption, StopFlag};

/// What the handler does with a signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SignalAction {
    /// Print the line, and let the run go on to its stopping point.
    Say(String),
    /// Print the line and exit at once with code 130.
    ExitNow(String),
}

/// What a `signal` (`"SIGINT"`, `"SIGTERM"`, `"SIGHUP"`) does: before training
/// (`phase`), it quits at once — nothing was trained, so nothing is saved; in training,
/// the first stops after the current batch with a checkpoint and a second one quits at
/// once, unless the checkpoint is being written (see [`StopFlag::interrupt`]).
pub(crate) fn on_signal(signal: &str, phase: &RunPhase, stop: &StopFlag) -> SignalAction {
    if !phase.is_training() {
        return SignalAction::ExitNow(format!(
            "interrupted ({signal}) before training started, while the data or the model was being prepared: quitting now (nothing was trained, nothing is saved)"
        ));
    }
    let again = if signal == "SIGINT" {
        "Ctrl-C again".to_string()
    } else {
        format!("send {signal} again")
    };
    match stop.interrupt() {
        Interruption::Stop => SignalAction::Say(format!(
            "interrupted ({signal}): stopping after the current batch and saving a checkpoint ({again} to quit at once)"
        )),
        Interruption::ExitNow => SignalAction::ExitNow(format!(
            "interrupted again ({signal}): exiting without saving (an earlier checkpoint stays as it was)"
        )),
        Interruption::Finishing => SignalAction::Say(format!(
            "interrupted again ({signal}): the checkpoint or reports are being written; exiting when they are complete"
        )),
    }
}

/// Installs the handler of SIGINT, SIGTERM and SIGHUP for a run in `phase` stopped by
/// `stop` ([`on_signal`]); a warning if it cannot.
pub(crate) fn handle_signals(phase: &RunPhase, stop: &StopFlag) {
    let (phase, stop) = (phase.clone(), stop.clone());
    let installed =
        ctrlc::set_handler(
            move || match on_signal(which_signal::last(), &phase, &stop) {
                SignalAction::Say(line) => eprintln!("{line}"),
                SignalAction::ExitNow(line) => {
                    eprintln!("{line}");
                    std::process::exit(130);
                }
            },
        );
    match installed {
        Ok(()) => which_signal::record(),
        Err(e) => eprintln!("warning: cannot handle Ctrl-C: {e}"),
    }
}

/// Which signal came last: `ctrlc` runs one handler for the three without saying
/// which, so a handler of our own, put in front of its own, records the number first.
#[cfg(unix)]
mod which_signal {
    use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];
    static LAST: AtomicI32 = AtomicI32::new(libc::SIGINT);
    /// `ctrlc`'s handler of each of [`SIGNALS`], called after recording.
    static NEXT: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];

    /// The signal handler: async-signal-safe (an atomic store, then `ctrlc`'s handler,
    /// which posts a semaphore).
    extern "C" fn record_then_forward(signal: libc::c_int) {
        LAST.store(signal, Ordering::SeqCst);
        let Some(i) = SIGNALS.iter().position(|&s| s == signal) else {
            return;
        };
        let next = NEXT[i].load(Ordering::SeqCst);
        if next != libc::SIG_DFL && next != libc::SIG_IGN {
            // SAFETY: `next` is the plain (not SA_SIGINFO) handler that was installed
            // for this signal, checked in `record`.
            let next: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(next) };
            next(signal);
        }
    }

    /// Puts [`record_then_forward`] in front of the handlers installed for the three
    /// signals (`ctrlc`'s), keeping their flags and masks.
    pub(super) fn record() {
        for (i, &signal) in SIGNALS.iter().enumerate() {
            // SAFETY: `sigaction` with valid pointers; the handler installed is
            // async-signal-safe and forwards to the previous one.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, std::ptr::null(), &mut old) != 0
                    || old.sa_flags & libc::SA_SIGINFO != 0
                {
                    continue;
                }
                NEXT[i].store(old.sa_sigaction, Ordering::SeqCst);
                let mut new = old;
                let handler: extern "C" fn(libc::c_int) = record_then_forward;
                new.sa_sigaction = handler as libc::sighandler_t;
                libc::sigaction(signal, &new, std::ptr::null_mut());
            }
        }
    }

    /// The name of the last signal received (`SIGINT` before any).
    pub(super) fn last() -> &'static str {
        match LAST.load(Ordering::SeqCst) {
            libc::SIGTERM => "SIGTERM",
            libc::SIGHUP => "SIGHUP",
            _ => "SIGINT",
        }
    }
}

/// Elsewhere `ctrlc` handles Ctrl-C (and the console's close), reported as SIGINT.
#[cfg(not(unix))]
mod which_signal {
    pub(super) fn record() {}
    pub(super) fn last() -> &'static str {
        "SIGINT"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QA: a first Ctrl-C while the data downloaded said "stopping after the current
    /// batch and saving a checkpoint" and the download went on for minutes.
    #[test]
    fn before_training_a_signal_quits_at_once() {
        let (phase, stop) = (RunPhase::new(), StopFlag::new());
        let action = on_signal("SIGINT", &phase, &stop);
        let SignalAction::ExitNow(line) = action else {
            panic!("{action:?}")
        };
        assert!(
            line.starts_with("interrupted (SIGINT) before training started"),
            "{line}"
        );
        assert!(!line.contains("current batch"), "{line}");
    }

    /// QA: SIGTERM and SIGHUP said "(Ctrl-C again to quit at once)".
    #[test]
    fn in_training_the_words_fit_the_signal() {
        let (phase, stop) = (RunPhase::new(), StopFlag::new());
        phase.start_training();
        assert_eq!(
            on_signal("SIGTERM", &phase, &stop),
            SignalAction::Say(
                "interrupted (SIGTERM): stopping after the current batch and saving a checkpoint (send SIGTERM again to quit at once)".into()
            )
        );
        let SignalAction::ExitNow(line) = on_signal("SIGHUP", &phase, &stop) else {
            panic!("a second signal exits")
        };
        assert!(line.starts_with("interrupted again (SIGHUP): exiting without saving"));
        let (phase, stop) = (RunPhase::new(), StopFlag::new());
        phase.start_training();
        let SignalAction::Say(line) = on_signal("SIGINT", &phase, &stop) else {
            panic!("a first signal stops")
        };
        assert!(line.ends_with("(Ctrl-C again to quit at once)"), "{line}");
    }
}
