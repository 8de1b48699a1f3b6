//! [`train`]: what a training example's `main` does with its flags — the thread pool,
//! the kernels, Ctrl-C, the run, and the exit code.

use crate::signal_handler::handle_signals;
use crate::RunPhase;
use crate::{
    resume_command, run, use_kernels, DataSource, Dataset, ModelSpec, Optim, OptimizerKind,
    RunConfig, Schedule, ScheduleKind, TrainFlags,
};
use scratchnet_data::{DatasetKind, FolderOptions};
use scratchnet_train::{ProgressMode, StopFlag, TrainError};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// What an example trains, beyond the common flags.
#[derive(Clone, Debug)]
pub struct Job {
    /// The model.
    pub model: ModelSpec,
    /// Total epochs (`--epochs`).
    pub epochs: usize,
    /// Where checkpoints go (`--save`).
    pub save: PathBuf,
    /// Whether training images are shifted at random.
    pub augment: bool,
    /// The dataset when `--dataset` is not given.
    pub default_dataset: Dataset,
}

/// Chooses the kernels, sets up the thread pool and Ctrl-C, trains, and maps the
/// outcome to an exit code: 0 when done, 130 when interrupted (after printing how to
/// resume), 1 on an error, 2 for an invalid `SCRATCHNET_KERNELS`.
///
/// Before training starts (while the data loads or downloads), a Ctrl-C, SIGTERM or
/// SIGHUP quits at once (130): nothing was trained. In training, the first stops after
/// the current batch with a checkpoint that resumes exactly there; a second exits at
/// once without writing (the last checkpoint stays intact), unless that checkpoint is
/// already being written: then it is finished and reported as after one signal.
pub fn train(flags: TrainFlags, job: Job) -> ExitCode {
    let dataset = flags.dataset.unwrap_or(job.default_dataset);
    if let Some(flag) = flags
        .folder_only_flag()
        .filter(|_| dataset != Dataset::Folder)
    {
        eprintln!("error: {flag} applies to --dataset folder only; leave it out, or train on an image folder");
        return ExitCode::from(2);
    }
    let kernels = match use_kernels(flags.kernels) {
        Ok(kernels) => kernels,
        Err(code) => return code,
    };
    let threads = flags
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads > crate::max_threads() {
        eprintln!(
            "error: --threads {threads} is more than this machine can use: at most {} (4 per core, and at least 8)",
            crate::max_threads()
        );
        return ExitCode::from(2);
    }
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
    {
        eprintln!("error: cannot start {threads} threads: {e}");
        return ExitCode::FAILURE;
    }
    let (phase, stop) = (RunPhase::new(), StopFlag::new());
    handle_signals(&phase, &stop);
    let source = data_source(dataset, &flags);
    let config = RunConfig {
        model: job.model,
        augment: job.augment,
        data_dir: flags.data_dir,
        dataset: source,
        epochs: job.epochs,
        batch_size: flags.batch_size,
        optimizer: flags.optimizer.map(|o| match o {
            Optim::Adam => OptimizerKind::Adam,
            Optim::Sgd => OptimizerKind::Sgd,
        }),
        lr: flags.lr,
        schedule: flags.schedule.map(|s| match s {
            Schedule::Constant => ScheduleKind::Constant,
            Schedule::Step => ScheduleKind::Step,
            Schedule::Cosine => ScheduleKind::Cosine,
        }),
        threads,
        kernels: Some(kernels),
        seed: flags.seed,
        val_fraction: flags.val_fraction,
        limit_train: flags.limit_train,
        save: Some(job.save),
        resume: flags.resume,
        init_weights: flags.init_weights,
        overwrite: flags.overwrite,
        save_best: flags.save_best,
        metrics: flags.metrics,
        plot: flags.plot,
        report: flags.report,
        predictions: flags.predictions,
        progress: ProgressMode::Auto,
        stop: stop.clone(),
        phase,
    };
    exit_code(run(&config).map(|_| ()), &stop)
}

/// Where the run's images come from: `dataset` as `flags` describe it.
fn data_source(dataset: Dataset, flags: &TrainFlags) -> DataSource {
    match dataset {
        Dataset::Mnist => DataSource::Idx(DatasetKind::Mnist),
        Dataset::Fashion => DataSource::Idx(DatasetKind::FashionMnist),
        Dataset::Cifar10 => DataSource::Cifar10,
        Dataset::Folder => DataSource::Folder(FolderOptions {
            channels: flags.channels,
            image_size: flags.image_size,
            // The run holds out its test set with the resolved seed and fraction
            // (the checkpoint's when resuming): this is the default.
            val_fraction: FolderOptions::default().val_fraction,
            seed: 0,
            max_memory: flags.max_memory.unwrap_or(4 << 30),
            skip_bad_images: flags.skip_bad_images,
            show_progress: true,
        }),
    }
}

/// What a run that finished says if a signal came after its last batch (while it
/// evaluated or wrote its reports): it did not stop, for there was nothing left to
/// train, and it is complete.
fn finished_despite_stop(stop: &StopFlag) -> Option<&'static str> {
    stop.is_raised().then_some(
        "the interruption came after the last batch: the run finished as a complete run, its \
         evaluation and files written (nothing is left to resume)",
    )
}

/// 0 for success (with [`finished_despite_stop`]'s note after a late signal); 130 for an interruption, after printing the command that resumes
/// it; 1 for an error, after printing it. Prints nothing, and waits for the exit, when
/// a second Ctrl-C already chose to exit without saving.
fn exit_code(outcome: Result<(), TrainError>, stop: &StopFlag) -> ExitCode {
    if !stop.finish() {
        // The Ctrl-C handler is exiting the process with code 130 after saying that
        // nothing was saved: nothing may be printed after that.
        loop {
            std::thread::park();
        }
    }
    match outcome {
        Ok(()) => {
            if let Some(note) = finished_despite_stop(stop) {
                eprintln!("{note}");
            }
            ExitCode::SUCCESS
        }
        Err(e @ TrainError::Interrupted { .. }) => {
            eprintln!("{e}");
            if let TrainError::Interrupted {
                checkpoint: Some(path),
                ..
            } = &e
            {
                let args: Vec<OsString> = std::env::args_os().collect();
                eprintln!("resume with: {}", resume_command(&args, path));
            }
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QA: a Ctrl-C during the last epoch's evaluation said "stopping after the current
    /// batch" and the run then finished with code 0 without a word: it now says why.
    #[test]
    fn a_run_that_finished_after_a_signal_says_so() {
        let stop = StopFlag::new();
        assert_eq!(finished_despite_stop(&stop), None);
        stop.raise();
        let note = finished_despite_stop(&stop).unwrap();
        assert!(
            note.contains("after the last batch") && note.contains("complete"),
            "{note}"
        );
    }
}
