//! The line a run ends with when its last epoch is not its best: `--save` holds the last
//! epoch (what `--resume` continues), and the user should know that an earlier one
//! tested better, and where (or how) the best one is kept.

use scratchnet_train::{Checkpoint, History};
use std::path::Path;

/// `None` when the last epoch has the lowest test loss of `history` (or there is
/// none); else a note naming the better epoch, that `save` holds the last one, and what
/// `save_best` holds — or that `--save-best` would keep the best one.
pub(crate) fn best_epoch_note(
    history: &History,
    save: &Path,
    save_best: Option<&Path>,
) -> Option<String> {
    let last = history.last()?;
    let best = (history.epochs.iter())
        .filter(|e| e.test_loss.is_finite())
        .min_by(|a, b| a.test_loss.total_cmp(&b.test_loss))?;
    if best.test_loss >= last.test_loss {
        return None;
    }
    let kept = match save_best {
        Some(path) => match Checkpoint::load(path).ok().and_then(|c| c.training) {
            Some(t) => format!("{} holds the best, epoch {}'s", path.display(), t.epoch),
            None => format!("{} was not written", path.display()),
        },
        None => "--save-best PATH keeps the best epoch's checkpoint".to_string(),
    };
    Some(format!(
        "note: epoch {} tested better (loss {:.4}, accuracy {:.2}%) than the last, epoch {} ({:.4}, {:.2}%); {} holds the last (what --resume continues), {kept}",
        best.epoch,
        best.test_loss,
        100.0 * best.test_accuracy,
        last.epoch,
        last.test_loss,
        100.0 * last.test_accuracy,
        save.display(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scratchnet_train::EpochMetrics;

    fn history(losses: &[f64]) -> History {
        let epochs = (losses.iter().enumerate())
            .map(|(i, &test_loss)| EpochMetrics {
                epoch: i + 1,
                train_loss: 1.0,
                train_accuracy: 0.5,
                test_loss,
                test_accuracy: 1.0 - test_loss,
                seconds: 1.0,
                samples_per_second: 1.0,
            })
            .collect();
        History { epochs }
    }

    #[test]
    fn a_last_epoch_worse_than_an_earlier_one_is_said() {
        let save = Path::new("w.st");
        assert_eq!(
            best_epoch_note(&history(&[0.5, 0.3, 0.2]), save, None),
            None
        );
        assert_eq!(
            best_epoch_note(&history(&[0.5, 0.2, 0.2]), save, None),
            None
        );
        assert_eq!(best_epoch_note(&History::new(), save, None), None);
        let note = best_epoch_note(&history(&[0.5, 0.2, 0.3]), save, None).unwrap();
        assert_eq!(
            note,
            "note: epoch 2 tested better (loss 0.2000, accuracy 80.00%) than the last, epoch 3 (0.3000, 70.00%); w.st holds the last (what --resume continues), --save-best PATH keeps the best epoch's checkpoint"
        );
        let note = best_epoch_note(&history(&[0.2, 0.3]), save, Some(Path::new("/no/b.st")));
        assert!(note.unwrap().ends_with("/no/b.st was not written"));
    }
}
