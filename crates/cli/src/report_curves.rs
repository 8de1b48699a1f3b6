//! The training report's loss and accuracy curves: every few batches and every
//! epoch, with the learning rate, and the numbers behind them as tables.

use crate::svg_chart::{line_chart, Chart, Series};
use scratchnet_train::{BatchWindow, DiagnosticsLog, EpochMetrics, History};
use std::fmt::Write;

/// Appends the section: the loss and accuracy charts (x in epochs), the learning
/// rate, the table of every epoch and, folded, the table of every window of batches.
pub(crate) fn curves_section(page: &mut String, history: &History, log: &DiagnosticsLog) {
    let epochs = &history.epochs;
    let per_epoch = |name: &str, value: fn(&EpochMetrics) -> f64| Series {
        name: name.into(),
        points: epochs.iter().map(|m| (m.epoch as f64, value(m))).collect(),
    };
    let width = log
        .batches
        .iter()
        .map(|w| (w.last_batch + 1).saturating_sub(w.first_batch))
        .max()
        .unwrap_or(1);
    let per_batches = |value: fn(&BatchWindow) -> f64| Series {
        name: format!(
            "train, per {width} batch{}",
            if width == 1 { "" } else { "es" }
        ),
        points: log
            .batches
            .iter()
            .map(|w| (w.position(), value(w)))
            .collect(),
    };
    page.push_str("<h2>Loss and accuracy</h2>\n<p>The training loss and accuracy averaged over every few batches, as the weights change, and over each whole epoch; the test set's after each epoch.</p>\n<div class=\"row\">");
    page.push_str(&line_chart(
        &Chart {
            title: "Loss",
            x_label: "epoch",
            y_label: "cross-entropy",
            log_y: true,
        },
        &[
            per_batches(BatchWindow::loss),
            per_epoch("train, epoch", |m| m.train_loss),
            per_epoch("test", |m| m.test_loss),
        ],
    ));
    page.push_str(&line_chart(
        &Chart {
            title: "Accuracy",
            x_label: "epoch",
            y_label: "accuracy (%)",
            log_y: false,
        },
        &[
            per_batches(|w| 100.0 * w.accuracy()),
            per_epoch("train, epoch", |m| 100.0 * m.train_accuracy),
            per_epoch("test", |m| 100.0 * m.test_accuracy),
        ],
    ));
    learning_rate_chart(page, log);
    page.push_str("</div>\n");
    epochs_table(page, epochs);
    batches_table(page, &log.batches);
}

/// The learning rate at every recorded gradient step.
fn learning_rate_chart(page: &mut String, log: &DiagnosticsLog) {
    let rate: Vec<(f64, f64)> = log
        .gradients
        .iter()
        .map(|g| (g.step as f64, f64::from(g.learning_rate)))
        .collect();
    page.push_str(&line_chart(
        &Chart {
            title: "Learning rate",
            x_label: "step",
            y_label: "learning rate",
            log_y: false,
        },
        &[Series {
            name: "lr".into(),
            points: rate,
        }],
    ));
}

/// Every epoch's numbers; each carries its exact value in `data-value`, for tools
/// and tests.
fn epochs_table(page: &mut String, epochs: &[EpochMetrics]) {
    page.push_str("<table id=\"epochs\"><tr><th>epoch</th><th>train loss</th><th>train accuracy</th><th>test loss</th><th>test accuracy</th><th>seconds</th></tr>\n");
    for m in epochs {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td class=\"train-loss\" data-value=\"{}\">{:.4}</td><td class=\"train-accuracy\" data-value=\"{}\">{:.2}%</td><td class=\"test-loss\" data-value=\"{}\">{:.4}</td><td class=\"test-accuracy\" data-value=\"{}\">{:.2}%</td><td>{:.1}</td></tr>",
            m.epoch,
            m.train_loss,
            m.train_loss,
            m.train_accuracy,
            100.0 * m.train_accuracy,
            m.test_loss,
            m.test_loss,
            m.test_accuracy,
            100.0 * m.test_accuracy,
            m.seconds
        );
    }
    page.push_str("</table>\n");
}

/// Every window of batches, folded away under a `<details>`; exact values in
/// `data-value`.
fn batches_table(page: &mut String, windows: &[BatchWindow]) {
    if windows.is_empty() {
        return;
    }
    let _ = writeln!(
        page,
        "<details><summary>The numbers behind the per-batch curves ({} points)</summary>\n<table id=\"batches\"><tr><th>epoch</th><th>batches</th><th>samples</th><th>train loss</th><th>train accuracy</th></tr>",
        windows.len()
    );
    for w in windows {
        let _ = writeln!(
            page,
            "<tr><td class=\"epoch\">{}</td><td>{}–{} of {}</td><td class=\"samples\">{}</td><td class=\"train-loss\" data-value=\"{}\">{:.4}</td><td class=\"train-accuracy\" data-value=\"{}\">{:.2}%</td></tr>",
            w.epoch,
            w.first_batch,
            w.last_batch,
            w.batches,
            w.samples,
            w.loss(),
            w.loss(),
            w.accuracy(),
            100.0 * w.accuracy()
        );
    }
    page.push_str("</table>\n</details>\n");
}
