//! The side outputs of a training run (`--metrics`, `--plot`, `--report`,
//! `--predictions`), and how a run recognises a file one of them wrote.
//!
//! **The rule** (that of `predict --explain`, see
//! [`written_by_explain`](crate::written_by_explain)): each output carries a mark of
//! scratchnet in its content, and an existing file at an output is replaced only if it
//! carries that output's mark — the same output of an earlier run, which a re-run with
//! the same flags rewrites — or is empty. Any other file (a user's source file, picture,
//! notes) is refused before training, naming the flag and the fix, unless `--overwrite`
//! says a replacement is wanted. The marks, read from the first 4 KiB only:
//!
//! | output | mark |
//! |---|---|
//! | `--metrics` | a JSON object whose first key is `"parameters"`, with a `"dataset"` ([`MetricsReport`](crate::MetricsReport)) |
//! | `--plot` | [`PLOT_MARK`], the SVG's first line |
//! | `--report` | [`REPORT_MARK`], the page's title |
//! | `--predictions` | safetensors metadata `format` = `np` ([`write_predictions`](crate::write_predictions)) |

use scratchnet_train::TrainError;
use std::io::Read;
use std::path::Path;

/// The comment that opens a `--plot` SVG ([`plot_history`](crate::plot_history)).
pub const PLOT_MARK: &str = "<!-- scratchnet: the loss and accuracy curves of a training run -->";

/// The title of a `--report` page ([`TrainingReport`](crate::TrainingReport)).
pub const REPORT_MARK: &str = "<title>scratchnet training report</title>";

/// How many bytes of a file are read for its mark.
const MARK_WITHIN: u64 = 4096;

/// A side output of a training run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideOutput {
    /// `--metrics`, a JSON file.
    Metrics,
    /// `--plot`, an SVG picture.
    Plot,
    /// `--report`, an HTML page.
    Report,
    /// `--predictions`, a safetensors file.
    Predictions,
}

impl SideOutput {
    /// The side output of `flag` (`--metrics`, …), or `None` (`--save` and others).
    pub fn of_flag(flag: &str) -> Option<Self> {
        match flag {
            "--metrics" => Some(Self::Metrics),
            "--plot" => Some(Self::Plot),
            "--report" => Some(Self::Report),
            "--predictions" => Some(Self::Predictions),
            _ => None,
        }
    }

    /// The flag, e.g. `--metrics`.
    pub fn flag(self) -> &'static str {
        match self {
            Self::Metrics => "--metrics",
            Self::Plot => "--plot",
            Self::Report => "--report",
            Self::Predictions => "--predictions",
        }
    }

    /// What the output is, for messages: "a metrics JSON", ….
    fn what(self) -> &'static str {
        match self {
            Self::Metrics => "a metrics JSON",
            Self::Plot => "a plot SVG",
            Self::Report => "a report page",
            Self::Predictions => "a predictions file",
        }
    }

    /// Whether the file at `path` carries this output's mark (see the module's table).
    pub fn wrote(self, path: &Path) -> bool {
        if self == Self::Predictions {
            return scratchnet_train::read_metadata(path)
                .is_ok_and(|metadata| metadata.get("format").map(String::as_str) == Some("np"));
        }
        let mut head = Vec::new();
        let read = std::fs::File::open(path)
            .and_then(|file| file.take(MARK_WITHIN).read_to_end(&mut head));
        if read.is_err() {
            return false;
        }
        let head = String::from_utf8_lossy(&head);
        match self {
            Self::Metrics => {
                let body = head.trim_start().strip_prefix('{').unwrap_or("");
                body.trim_start().starts_with("\"parameters\":") && body.contains("\"dataset\":")
            }
            Self::Plot => head.starts_with(PLOT_MARK),
            Self::Report => head.contains(REPORT_MARK),
            Self::Predictions => false, // read above
        }
    }

    /// Refuses to replace the existing file at `path` unless it is empty, carries this
    /// output's mark ([`wrote`](Self::wrote)), or `overwrite` is given.
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the flag, the file and the fix.
    pub fn check_replaceable(self, path: &Path, overwrite: bool) -> Result<(), TrainError> {
        let empty = std::fs::metadata(path).is_ok_and(|m| m.len() == 0);
        if overwrite || empty || !path.exists() || self.wrote(path) {
            return Ok(());
        }
        let (flag, shown) = (self.flag(), path.display());
        Err(TrainError::config(format!(
            "{flag} {shown}: the file exists and is not {} a scratchnet run wrote, so it is not replaced; give {flag} another path, or --overwrite replaces it",
            self.what()
        )))
    }

    /// Refuses a name a viewer would not open as this output: a `--report` must end in
    /// `.html` or `.htm`, a `--plot` in `.svg` (any case).
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the flag and a name that would do.
    pub fn check_name(self, path: &Path) -> Result<(), TrainError> {
        let (extensions, what): (&[&str], _) = match self {
            Self::Report => (&["html", "htm"], "the report is an HTML page"),
            Self::Plot => (&["svg"], "the plot is an SVG picture"),
            Self::Metrics | Self::Predictions => return Ok(()),
        };
        let extension = path.extension().and_then(|e| e.to_str());
        if extension.is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x))) {
            return Ok(());
        }
        let names = extensions
            .iter()
            .map(|x| format!(".{x}"))
            .collect::<Vec<_>>();
        Err(TrainError::config(format!(
            "{} {}: {what}, so its name must end in {}; give e.g. {} {}",
            self.flag(),
            path.display(),
            names.join(" or "),
            self.flag(),
            path.with_extension(extensions[0]).display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `output` takes a file holding `text` for one it wrote.
    fn takes_for_its_own(output: SideOutput, text: &str) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        std::fs::write(&path, text).unwrap();
        output.wrote(&path)
    }

    #[test]
    fn a_metrics_json_needs_both_of_its_marks() {
        let metrics = SideOutput::Metrics;
        assert!(takes_for_its_own(
            metrics,
            "{\n  \"parameters\": 61706,\n  \"dataset\": \"mnist\"\n}"
        ));
        // A user's JSON with one of the two marks is a user's file.
        assert!(!takes_for_its_own(
            metrics,
            "{\"parameters\": {\"lr\": 0.1}}"
        ));
        assert!(!takes_for_its_own(
            metrics,
            "{\"dataset\": \"mine\", \"parameters\": 3}"
        ));
        assert!(!takes_for_its_own(metrics, "[\"parameters\", \"dataset\"]"));
    }

    #[test]
    fn the_plot_s_mark_opens_it_and_the_report_s_is_in_its_first_4_kib() {
        let plot = format!("{PLOT_MARK}\n<svg></svg>");
        assert!(takes_for_its_own(SideOutput::Plot, &plot));
        assert!(!takes_for_its_own(SideOutput::Plot, &format!(" {plot}")));
        let page = |before: usize| format!("<html>{}{REPORT_MARK}", " ".repeat(before));
        assert!(takes_for_its_own(SideOutput::Report, &page(4000)));
        assert!(!takes_for_its_own(SideOutput::Report, &page(4096)));
    }
}
