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

/// What a signal (Ctrl-C's SIGINT, SIGTERM or SIGHUP: `ctrlc` runs one handler for the
/// three, without saying which) does: before training (`phase`), it quits at once —
/// nothing was trained, so nothing is saved; in training, the first stops after the
/// current batch with a checkpoint and a second one quits at once, unless the
/// checkpoint is being written (see [`StopFlag::interrupt`]).
pub(crate) fn on_signal(phase: &RunPhase, stop: &StopFlag) -> SignalAction {
    if !phase.is_training() {
        return SignalAction::ExitNow(
            "interrupted before training started, while the data or the model was being prepared: quitting now (nothing was trained, nothing is saved)".to_string(),
        );
    }
    match stop.interrupt() {
        Interruption::Stop => SignalAction::Say(
            "interrupted: stopping after the current batch and saving a checkpoint (a second Ctrl-C, SIGTERM or SIGHUP quits at once)".to_string(),
        ),
        Interruption::ExitNow => SignalAction::ExitNow(
            "interrupted again: exiting without saving (an earlier checkpoint stays as it was)"
                .to_string(),
        ),
        Interruption::Finishing => SignalAction::Say(
            "interrupted again: the checkpoint or reports are being written; exiting when they are complete".to_string(),
        ),
    }
}

/// Installs the handler of Ctrl-C (SIGINT), SIGTERM and SIGHUP for a run in `phase`
/// stopped by `stop` ([`on_signal`]); a warning if it cannot.
pub(crate) fn handle_signals(phase: &RunPhase, stop: &StopFlag) {
    let (phase, stop) = (phase.clone(), stop.clone());
    let installed = ctrlc::set_handler(move || match on_signal(&phase, &stop) {
        SignalAction::Say(line) => eprintln!("{line}"),
        SignalAction::ExitNow(line) => {
            eprintln!("{line}");
            std::process::exit(130);
        }
    });
    if let Err(e) = installed {
        eprintln!("warning: cannot handle Ctrl-C: {e}");
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
        let action = on_signal(&phase, &stop);
        let SignalAction::ExitNow(line) = action else {
            panic!("{action:?}")
        };
        assert!(
            line.starts_with("interrupted before training started"),
            "{line}"
        );
        assert!(!line.contains("current batch"), "{line}");
    }

    /// QA: SIGTERM and SIGHUP said "(Ctrl-C again to quit at once)".
    #[test]
    fn in_training_the_words_fit_every_signal() {
        let (phase, stop) = (RunPhase::new(), StopFlag::new());
        phase.start_training();
        assert_eq!(
            on_signal(&phase, &stop),
            SignalAction::Say(
                "interrupted: stopping after the current batch and saving a checkpoint (a second Ctrl-C, SIGTERM or SIGHUP quits at once)".into()
            )
        );
        let SignalAction::ExitNow(line) = on_signal(&phase, &stop) else {
            panic!("a second signal exits")
        };
        assert!(line.starts_with("interrupted again: exiting without saving"));
    }
}
