//! # scratchnet-cli
//!
//! The command-line recipe of scratchnet's examples: their flags, the whole training
//! run with its reports and plots, and the image input and top-k output of `predict`.
//! Application code, kept out of the library crates: it names flags in its messages,
//! draws SVGs with `plotters` and decodes photos with `image`.
//!
//! | item | what it is | file |
//! |---|---|---|
//! | [`TrainFlags`], [`Dataset`], [`Optim`], [`Schedule`], [`at_least_one`], [`parse_args`], [`use_kernels`] | the training examples' common flags | `flags.rs` |
//! | [`train`], [`Job`] | a training example's `main`: threads, kernels, Ctrl-C, exit codes | `train_command.rs` |
//! | [`choose_kernels`], [`describe_kernels`], [`kernels_flag`] | `--kernels reference\|fast`, else `SCRATCHNET_KERNELS` | `kernels_choice.rs` |
//! | [`run()`], [`RunReport`], [`is_data_file`] | the `mnist_lenet` example's whole run | `run.rs` |
//! | [`RunConfig`] | everything a run needs | `run_config.rs` |
//! | (crate-private) the note that the last epoch is not the best, and where the best is | — | `best_epoch_note.rs` |
//! | [`RunPhase`] | whether a run is still preparing or training (what a first Ctrl-C does) | `run_phase.rs` |
//! | (crate-private) what Ctrl-C, SIGTERM and SIGHUP do at each stage, in words fitting the signal | — | `signal_handler.rs` |
//! | [`RunSettings`], [`dataset_flag`] | a run's settings after defaults and resume | `run_settings.rs` |
//! | [`ModelSpec`], [`ModelInput`] | the model a run trains, for the data's shape and classes | `model_spec.rs` |
//! | [`DataSource`] | `--dataset`: which data, and loading it | `data_source.rs` |
//! | [`OptimizerKind`] | `--optimizer adam\|sgd` | `optimizer_kind.rs` |
//! | [`ScheduleKind`] | `--schedule constant\|step\|cosine` | `schedule_kind.rs` |
//! | [`resume_command`] | the command line that resumes an interrupted run | `resume_command.rs` |
//! | [`MetricsReport`] | the `--metrics` JSON | `metrics_report.rs` |
//! | [`plot_history`] | the `--plot` SVG, `matplotlib` curves | `plot.rs` |
//! | [`TrainingReport`], [`RunStage`], [`REFRESH_SECONDS`] | the `--report` HTML page: curves, gradient flow, activations, filters, confusion, mistakes | `training_report.rs` |
//! | (crate-private) the report of a run being trained, rewritten as it goes | — | `live_report.rs` |
//! | (crate-private) the report's loss and accuracy curves, per batch and per epoch | — | `report_curves.rs` |
//! | (crate-private) the report's most confident mistakes | — | `report_mistakes.rs` |
//! | (crate-private) line charts as inline SVG | — | `svg_chart.rs` |
//! | (crate-private) the memory of a training step, checked against the memory available | — | `step_memory.rs` |
//! | (crate-private) the confusion matrix as an SVG heat map | — | `confusion_heat_map.rs` |
//! | (crate-private) a convolution's filters as a PNG data URI | — | `filter_grid.rs` |
//! | (crate-private) pixels as a PNG data URI | — | `png_data_uri.rs` |
//! | [`predict_batch_size`], [`PredictBatch`] | `predict`'s batch, lowered to what fits in memory | `predict_memory.rs` |
//! | [`write_predictions`] | the `--predictions` safetensors file | `predictions_file.rs` |
//! | [`SideOutput`], [`PLOT_MARK`], [`REPORT_MARK`] | a run's side outputs, never over a file a run did not write | `side_output.rs` |
//! | [`load_digit`], [`digit_pixels`], [`normalized_batch`] | `torchvision.transforms` for a photo of a digit | `image_input.rs` |
//! | [`top_k`] | `torch.topk(softmax(x))` | `top_k.rs` |
//! | [`saliency()`], [`Saliency`], [`class_score_gradient`], [`saliency_map`] | which input pixels the predicted class's score is most sensitive to (vanilla gradient) | `saliency.rs` |
//! | [`feature_maps()`], [`FeatureMaps`], [`tile_grid`], [`feature_maps_image`], [`TileGridConfig`] | every convolution's and pooling's output for one image, as grey tile grids | `feature_maps.rs` |
//! | [`explain_picture`], [`hot_colour`] | `predict --explain`'s picture: input, saliency, overlay, feature maps | `explain_picture.rs` |
//! | [`ExplainOutputs`], [`explain_path`], [`write_explain_png`], [`written_by_explain`] | where `--explain` writes, never over a file it did not write | `explain_output.rs` |
//! | [`SavedData`], [`load_image`], [`normalized_chw_batch`] | a checkpoint's input shape, classes and normalisation; a picture read that way | `saved_data.rs` |
//! | [`small_cnn`] | the `cifar10_cnn` example's model, for any `C×H×W` and classes | `small_cnn.rs` |

#![warn(missing_docs)]

mod best_epoch_note;
mod confusion_heat_map;
mod data_source;
mod explain_output;
mod explain_picture;
mod feature_maps;
mod filter_grid;
mod flags;
mod image_input;
mod kernels_choice;
mod live_report;
mod metrics_report;
mod model_spec;
mod optimizer_kind;
mod plot;
mod png_data_uri;
mod predict_memory;
mod predictions_file;
mod report_curves;
mod report_feature_maps;
mod report_mistakes;
mod resume_command;
mod run;
mod run_config;
mod run_phase;
mod run_settings;
mod saliency;
mod saved_data;
mod schedule_kind;
mod side_output;
mod signal_handler;
mod small_cnn;
mod step_memory;
mod svg_chart;
mod top_k;
mod train_command;
mod training_report;

pub use data_source::DataSource;
pub use explain_output::{
    explain_path, explain_png, write_explain_png, written_by_explain, ExplainOutputs, EXPLAIN_MARK,
};
pub use explain_picture::{explain_picture, hot_colour};
pub use feature_maps::{
    feature_maps, feature_maps_image, shades, stack_vertically, tile_grid, zoom_for, FeatureMaps,
    TileGridConfig,
};
pub use flags::{at_least_one, parse_args, use_kernels, Dataset, Optim, Schedule, TrainFlags};
pub use image_input::{
    digit_pixels, load_digit, normalized_batch, IMAGE_SIDE, MAX_IMAGE_ALLOC, MAX_IMAGE_SIDE,
};
pub use kernels_choice::{choose_kernels, describe_kernels, kernels_flag};
pub use metrics_report::MetricsReport;
pub use model_spec::{ModelInput, ModelSpec};
pub use optimizer_kind::OptimizerKind;
pub use plot::plot_history;
pub use predict_memory::{predict_batch_size, PredictBatch};
pub use predictions_file::write_predictions;
pub use resume_command::resume_command;
pub use run::{is_data_file, max_threads, run, RunReport};
pub use run_config::RunConfig;
pub use run_phase::RunPhase;
pub use run_settings::{dataset_flag, RunSettings};
pub use saliency::{class_score_gradient, saliency, saliency_map, Saliency};
pub use saved_data::{load_image, normalized_chw_batch, SavedData};
pub use schedule_kind::ScheduleKind;
pub use side_output::{SideOutput, PLOT_MARK, REPORT_MARK};
pub use small_cnn::small_cnn;
pub use top_k::top_k;
pub use train_command::{train, Job};
pub use training_report::{RunStage, TrainingReport, REFRESH_SECONDS};
