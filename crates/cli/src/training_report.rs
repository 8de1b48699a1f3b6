//! The HTML training report (`--report`): one self-contained page of a run's curves,
//! gradient flow, activations, filters, confusion matrix and most confident mistakes.

use crate::confusion_heat_map::confusion_heat_map;
use crate::filter_grid::filter_grid_png;
use crate::report_curves::curves_section;
use crate::report_feature_maps::feature_maps_section;
use crate::report_mistakes::mistakes_section;
use crate::svg_chart::{escape, line_chart, Chart, Series};
use scratchnet_train::{write_atomically, ConfusionMatrix, DiagnosticsLog, History, TrainError};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// What a report shows of a run besides what training records: written by
/// [`write`](Self::write) every few hundred batches, after every epoch and at the end.
#[derive(Clone, Debug, Default)]
pub struct TrainingReport {
    /// The model summary table, as printed at the start.
    pub summary: String,
    /// The run's settings (`optimizer`, `lr`, …), shown as a table.
    pub settings: BTreeMap<String, String>,
    /// The class names, by label.
    pub class_names: Vec<String>,
    /// The epochs the run goes to.
    pub epochs: usize,
}

/// How often the page of a running run reloads itself, in seconds.
pub const REFRESH_SECONDS: u32 = 10;

/// Where the run stands when its page is written: what the status line says, and
/// whether the page reloads itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStage<'a> {
    /// Batch `batch` of the `batches` of epoch `epoch` is done.
    InEpoch {
        /// The epoch, from 1.
        epoch: usize,
        /// Batches done, from 1.
        batch: usize,
        /// Batches of the epoch.
        batches: usize,
    },
    /// An epoch has just ended; training goes on.
    BetweenEpochs,
    /// The run is over, all its epochs trained: the page no longer reloads.
    Finished,
    /// The run ended before its last epoch — interrupted, diverged or failed — as
    /// `why` says (e.g. `Stopped: the model diverged in epoch 1 (…)`, `Interrupted
    /// after epoch 2`): the page no longer reloads.
    Stopped {
        /// The status line's first sentence: what stopped the run.
        why: &'a str,
    },
}

impl TrainingReport {
    /// Writes the page for `history` and `log` (with `confusion`, the latest test
    /// confusion matrix) to `path`, atomically. Until the run is
    /// [`Finished`](RunStage::Finished) the page reloads itself every
    /// [`REFRESH_SECONDS`].
    ///
    /// # Errors
    /// [`TrainError::Write`] if the file cannot be written.
    pub fn write(
        &self,
        path: &Path,
        history: &History,
        log: &DiagnosticsLog,
        confusion: Option<&ConfusionMatrix>,
        stage: RunStage,
    ) -> Result<(), TrainError> {
        let html = self.html(history, log, confusion, stage);
        write_atomically(path, html.as_bytes()).map_err(|source| TrainError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The page's HTML (see [`write`](Self::write)).
    pub fn html(
        &self,
        history: &History,
        log: &DiagnosticsLog,
        confusion: Option<&ConfusionMatrix>,
        stage: RunStage,
    ) -> String {
        let running = matches!(stage, RunStage::InEpoch { .. } | RunStage::BetweenEpochs);
        let mut page =
            String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        if running {
            let _ = writeln!(
                page,
                "<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">"
            );
        }
        page.push_str(crate::REPORT_MARK);
        page.push_str("\n<style>");
        page.push_str(STYLE);
        page.push_str("</style>\n</head>\n<body>\n<h1>scratchnet training report</h1>\n");
        let _ = writeln!(
            page,
            "<p id=\"status\">{}</p>",
            escape(&self.status(history, stage))
        );
        curves_section(&mut page, history, log);
        gradient_flow(&mut page, log);
        activations(&mut page, log);
        self.pictures(&mut page, log, confusion);
        feature_maps_section(&mut page, log.epochs.last());
        mistakes_section(&mut page, log.epochs.last(), &self.class_names);
        self.settings_section(&mut page);
        page.push_str("</body>\n</html>\n");
        page
    }

    /// The status line: how far the run is.
    fn status(&self, history: &History, stage: RunStage) -> String {
        let (done, of) = (history.completed_epochs(), self.epochs);
        let reloads = format!("This page reloads every {REFRESH_SECONDS} s until the run ends.");
        match stage {
            RunStage::InEpoch {
                epoch,
                batch,
                batches,
            } => format!(
                "Training: {done} of {of} epochs done, epoch {epoch} at batch {batch} of {batches}. {reloads}"
            ),
            RunStage::BetweenEpochs => format!("Training: {done} of {of} epochs done. {reloads}"),
            RunStage::Finished => format!("Finished: {done} of {of} epochs."),
            RunStage::Stopped { why } => format!("{why}. {done} of {of} epochs done."),
        }
    }

    /// The first convolution's filters and the confusion matrix.
    fn pictures(
        &self,
        page: &mut String,
        log: &DiagnosticsLog,
        confusion: Option<&ConfusionMatrix>,
    ) {
        page.push_str("<h2>Filters and confusion</h2>\n<div class=\"row\">");
        let filters = log.epochs.last().and_then(|e| e.filters.as_ref());
        match filters.and_then(|f| filter_grid_png(f.weight.view()).map(|uri| (f, uri))) {
            Some((f, uri)) => {
                let _ = write!(
                    page,
                    "<figure><img id=\"filters\" src=\"{uri}\" alt=\"{} as a grid\"><figcaption>{}: the filters of the first convolution, a tile per output channel (a row of tiles per output channel when it reads several input channels), each scaled from its smallest weight (black) to its largest (white)</figcaption></figure>",
                    escape(&f.name),
                    escape(&f.name)
                );
            }
            None => page.push_str("<p>No convolution filters (yet).</p>"),
        }
        if let Some(confusion) = confusion {
            let _ = write!(
                page,
                "<figure>{}<figcaption>Test confusion matrix (rows: true class; shade: share of the row)</figcaption></figure>",
                confusion_heat_map(confusion, &self.class_names)
            );
        }
        page.push_str("</div>\n");
    }

    /// The model summary and the settings.
    fn settings_section(&self, page: &mut String) {
        let _ = writeln!(
            page,
            "<h2>Model</h2>\n<pre id=\"summary\">{}</pre>\n<h2>Settings</h2>\n<table id=\"settings\">",
            escape(&self.summary)
        );
        for (key, value) in &self.settings {
            let _ = writeln!(
                page,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(key),
                escape(value)
            );
        }
        page.push_str("</table>\n");
    }
}

/// Gradient norm and update/weight ratio of every parameter tensor over the steps.
fn gradient_flow(page: &mut String, log: &DiagnosticsLog) {
    let names: Vec<&str> = log.gradients.first().map_or(Vec::new(), |g| {
        g.parameters.iter().map(|p| p.name.as_str()).collect()
    });
    let series = |value: fn(&scratchnet_train::ParameterFlow) -> f64| -> Vec<Series> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| Series {
                name: (*name).into(),
                points: log
                    .gradients
                    .iter()
                    .filter_map(|g| g.parameters.get(i).map(|p| (g.step as f64, value(p))))
                    .collect(),
            })
            .collect()
    };
    page.push_str("<h2>Gradient flow</h2>\n<p>For every parameter tensor, the norm of its gradient and the size of the optimizer's step relative to the weight (about 1e-3 is healthy; far below, the layer barely learns; near 1, it is blown about). Lines that fall towards the input layers are vanishing gradients; lines that climb are exploding ones.</p>\n<div class=\"row\">");
    page.push_str(&line_chart(
        &Chart {
            title: "Gradient norm ‖∂loss/∂w‖",
            x_label: "step",
            y_label: "gradient norm",
            log_y: true,
        },
        &series(|p| p.grad_norm),
    ));
    page.push_str(&line_chart(
        &Chart {
            title: "Update / weight ‖Δw‖ / ‖w‖",
            x_label: "step",
            y_label: "ratio",
            log_y: true,
        },
        &series(|p| p.update_ratio),
    ));
    page.push_str("</div>\n");
}

/// Mean, standard deviation and fraction of zeros of every layer's output on the probe
/// images, over the epochs.
fn activations(page: &mut String, log: &DiagnosticsLog) {
    let layers: Vec<&str> = log.epochs.first().map_or(Vec::new(), |e| {
        e.activations.iter().map(|a| a.layer.as_str()).collect()
    });
    let series = |value: fn(&scratchnet_train::LayerActivation) -> f64| -> Vec<Series> {
        layers
            .iter()
            .enumerate()
            .map(|(i, layer)| Series {
                name: (*layer).into(),
                points: log
                    .epochs
                    .iter()
                    .filter_map(|e| e.activations.get(i).map(|a| (e.epoch as f64, value(a))))
                    .collect(),
            })
            .collect()
    };
    page.push_str("<h2>Activations</h2>\n<p>Every layer's output on the same test images after each epoch. A fraction of exact zeros near 1 after a ReLU means dead units.</p>\n<div class=\"row\">");
    for (title, y_label, value) in [
        (
            "Mean",
            "mean",
            (|a: &scratchnet_train::LayerActivation| a.mean) as fn(&_) -> f64,
        ),
        ("Standard deviation", "std", |a| a.std),
        ("Fraction of exact zeros", "fraction", |a| a.zero_fraction),
    ] {
        page.push_str(&line_chart(
            &Chart {
                title,
                x_label: "epoch",
                y_label,
                log_y: false,
            },
            &series(value),
        ));
    }
    page.push_str("</div>\n");
    if let Some(last) = log.epochs.last() {
        let _ = writeln!(
            page,
            "<table id=\"activations\"><tr><th>layer (epoch {})</th><th>mean</th><th>std</th><th>zeros</th></tr>",
            last.epoch
        );
        for a in &last.activations {
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.1}%</td></tr>",
                escape(&a.layer),
                a.mean,
                a.std,
                100.0 * a.zero_fraction
            );
        }
        page.push_str("</table>\n");
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1400px}\
h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.5em}\
.row{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.2em .6em;text-align:right}\
th{background:#f4f4f4}pre{background:#f8f8f8;padding:.6em;overflow-x:auto}\
figure{margin:0}img{image-rendering:pixelated;border:1px solid #ccc}\
figcaption{max-width:26em}#mistakes{gap:.6em}.mistake{width:100px;font-size:13px}.mistake img{display:block}\
.mistake ol{margin:.2em 0 0;padding-left:1.3em}.mistake li span{color:#666}\
details{margin:.5em 0}summary{cursor:pointer;color:#555}\
.feature-maps table td,.feature-maps table th{text-align:left;vertical-align:middle;border:none}\
.feature-maps th{background:none;font-weight:normal;width:14em}.feature-maps small{color:#666}\
.feature-maps{display:inline-block;margin:0 1.5em 1em 0;border-top:1px solid #eee}";
