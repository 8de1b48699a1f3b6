//! The `--report` HTML page of a whole run, parsed with an HTML parser: self-contained,
//! every picture decodes, its numbers are the metrics JSON's (per epoch and per few
//! batches), its mistakes are the final model's most confident ones (checked against
//! the `--predictions` file), and it stops reloading at the end. The data are
//! generated CIFAR-10 batch files (a few records each).

use base64::Engine as _;
use ndarray_rand::rand::rngs::StdRng;
use scraper::{Html, Selector};
use scratchnet_cli::{
    run, DataSource, MetricsReport, ModelInput, ModelSpec, RunConfig, RunStage, TrainingReport,
};
use scratchnet_data::{CIFAR10_CLASSES, CIFAR10_FILES, CIFAR10_RECORD_LEN};
use scratchnet_layers::{
    Conv2d, Conv2dConfig, Dense, GlobalAvgPool2d, LayerError, ReLU, Sequential,
};
use scratchnet_train::{DiagnosticsLog, History, ProgressMode};
use std::path::Path;

/// One 3×3 convolution, global average pooling, a linear layer.
fn tiny(rng: &mut StdRng, input: &ModelInput) -> Result<Sequential, LayerError> {
    let padded = Conv2dConfig {
        padding: [1, 1],
        ..Conv2dConfig::default()
    };
    Sequential::new()
        .add(
            "conv1",
            Conv2d::new(input.sample_shape[0], 4, [3, 3], padded, rng),
        )
        .add("relu1", ReLU::new())
        .add("gap", GlobalAvgPool2d::new())
        .add("fc", Dense::new(4, input.num_classes, rng))
        .build(&input.sample_shape)
}

/// The six CIFAR-10 batch files in `dir/cifar-10-batches-bin`, `n` records each.
fn write_cifar10(dir: &Path, n: usize) {
    let batches = dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&batches).unwrap();
    for (b, name) in CIFAR10_FILES.iter().enumerate() {
        let mut bytes = Vec::with_capacity(n * CIFAR10_RECORD_LEN);
        for i in 0..n {
            let label = (i + b) % 10;
            bytes.push(label as u8);
            let red = if label % 2 == 0 { 220 } else { 30 };
            bytes.extend(std::iter::repeat_n(red, 1024));
            bytes.extend((0..2048).map(|p| ((p * 7 + i) % 256) as u8));
        }
        std::fs::write(batches.join(name), bytes).unwrap();
    }
}

/// The files of a run of [`tiny`] on 31 generated CIFAR-10 records per file, 2 epochs.
struct ReportRun {
    _dir: tempfile::TempDir,
    page: Html,
    metrics: MetricsReport,
    predictions: std::path::PathBuf,
    data: std::path::PathBuf,
}

fn run_with_report() -> ReportRun {
    let tmp = tempfile::tempdir().unwrap();
    // 31 test images: accuracies like 7/31 that no rounding keeps.
    write_cifar10(tmp.path(), 31);
    let (report, metrics) = (tmp.path().join("r.html"), tmp.path().join("m.json"));
    let predictions = tmp.path().join("p.safetensors");
    run(&RunConfig {
        model: ModelSpec::for_input("tiny", tiny),
        dataset: DataSource::Cifar10,
        data_dir: Some(tmp.path().to_path_buf()),
        epochs: 2,
        batch_size: Some(4),
        threads: 2,
        progress: ProgressMode::Quiet,
        report: Some(report.clone()),
        metrics: Some(metrics.clone()),
        predictions: Some(predictions.clone()),
        ..RunConfig::default()
    })
    .unwrap();
    ReportRun {
        page: Html::parse_document(&std::fs::read_to_string(&report).unwrap()),
        metrics: serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap(),
        predictions,
        data: tmp.path().join("cifar-10-batches-bin"),
        _dir: tmp,
    }
}

/// A PNG data URI, decoded.
fn decode_png(src: &str) -> image::DynamicImage {
    let data = src.strip_prefix("data:image/png;base64,").unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    image::load_from_memory(&png).unwrap()
}

fn number(element: &scraper::ElementRef, attribute: &str) -> f64 {
    element.value().attr(attribute).unwrap().parse().unwrap()
}

fn select<'a>(page: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    page.select(&Selector::parse(css).unwrap()).collect()
}

fn has_refresh(page: &Html) -> bool {
    select(page, "meta").iter().any(|m| {
        m.value()
            .attr("http-equiv")
            .is_some_and(|v| v.eq_ignore_ascii_case("refresh"))
    })
}

#[test]
fn the_report_is_self_contained_decodes_and_matches_the_metrics() {
    let ReportRun { page, metrics, .. } = run_with_report();

    // Every picture decodes: PNG data URIs, the filters' and the mistakes'.
    let images = select(&page, "img");
    let mistakes = select(&page, "#mistakes figure.mistake img").len();
    assert!(mistakes > 0, "no pictures of mistakes");
    let feature_maps = select(&page, ".feature-maps img").len();
    assert_eq!(
        images.len(),
        1 + mistakes + feature_maps,
        "the conv1 filters, the mistakes and the feature maps"
    );
    for img in &images {
        let decoded = decode_png(img.value().attr("src").unwrap());
        assert!(decoded.width() > 0 && decoded.height() > 0);
    }
    // Nothing outside the file: no scripts, no stylesheets or fonts, no reference to
    // anything but data: URIs and the page itself.
    assert!(select(&page, "script, link, iframe, object, embed").is_empty());
    for element in select(&page, "*") {
        for (name, value) in element.value().attrs() {
            let name = name.to_ascii_lowercase();
            if [
                "src",
                "href",
                "xlink:href",
                "action",
                "data",
                "poster",
                "srcset",
            ]
            .contains(&name.as_str())
            {
                assert!(
                    value.starts_with("data:") || value.starts_with('#'),
                    "<{} {name}={value:?}> references something outside the page",
                    element.value().name()
                );
            }
            assert!(!value.contains("url("), "{name}={value:?}");
        }
    }
    for style in select(&page, "style") {
        let css = style.text().collect::<String>();
        assert!(!css.contains("url(") && !css.contains("@import"), "{css}");
    }

    // The numbers are the metrics file's, exactly.
    let shown = |class: &str| -> Vec<f64> {
        select(&page, &format!("#epochs td.{class}"))
            .iter()
            .map(|td| td.value().attr("data-value").unwrap().parse().unwrap())
            .collect()
    };
    let expected: Vec<f64> = metrics.epochs.iter().map(|m| m.test_accuracy).collect();
    assert_eq!(expected.len(), 2);
    assert_eq!(shown("test-accuracy"), expected);
    let expected: Vec<f64> = metrics.epochs.iter().map(|m| m.train_loss).collect();
    assert_eq!(shown("train-loss"), expected);

    // The sections are there: gradient flow of every parameter tensor, activations of
    // every layer, the confusion matrix of every class.
    let legend = |text: &str| {
        select(&page, "svg text")
            .iter()
            .filter(|t| t.text().collect::<String>() == text)
            .count()
    };
    for parameter in ["conv1.weight", "conv1.bias", "fc.weight", "fc.bias"] {
        assert_eq!(legend(parameter), 2, "{parameter} in both gradient charts");
    }
    for layer in ["conv1", "relu1", "gap", "fc"] {
        assert_eq!(legend(layer), 3, "{layer} in the three activation charts");
    }
    assert_eq!(select(&page, "svg rect title").len(), 100);
    assert!(select(&page, "#summary")[0]
        .text()
        .collect::<String>()
        .contains("conv1"));
    // The run is over: the page no longer reloads.
    assert!(!has_refresh(&page));
}

#[test]
fn a_running_report_reloads_itself_and_a_finished_one_does_not() {
    let report = TrainingReport {
        epochs: 3,
        ..TrainingReport::default()
    };
    let (history, log) = (History::new(), DiagnosticsLog::default());
    let within = RunStage::InEpoch {
        epoch: 1,
        batch: 200,
        batches: 938,
    };
    for stage in [within, RunStage::BetweenEpochs] {
        let running = Html::parse_document(&report.html(&history, &log, None, stage));
        assert!(has_refresh(&running), "{stage:?}");
    }
    let running = Html::parse_document(&report.html(&history, &log, None, within));
    let status = select(&running, "#status")[0].text().collect::<String>();
    assert!(status.contains("epoch 1 at batch 200 of 938"), "{status}");
    let finished = Html::parse_document(&report.html(&history, &log, None, RunStage::Finished));
    assert!(!has_refresh(&finished));
}

/// Issue 18: the per-batch curves' numbers add up to the metrics JSON's epochs: each
/// epoch's windows hold all its samples, their mean loss is the epoch's train loss and
/// their right answers its train accuracy.
#[test]
fn the_per_batch_numbers_add_up_to_the_metrics_of_each_epoch() {
    let ReportRun { page, metrics, .. } = run_with_report();
    let rows = select(&page, "#batches tr");
    fn cell<'a>(row: &scraper::ElementRef<'a>, class: &str) -> scraper::ElementRef<'a> {
        row.select(&Selector::parse(&format!("td.{class}")).unwrap())
            .next()
            .unwrap()
    }
    // (epoch, samples, loss × samples, accuracy × samples) of every window.
    let windows: Vec<(usize, f64, f64, f64)> = rows
        .iter()
        .skip(1)
        .map(|row| {
            let epoch = cell(row, "epoch").text().collect::<String>();
            let samples: f64 = cell(row, "samples")
                .text()
                .collect::<String>()
                .parse()
                .unwrap();
            let loss = number(&cell(row, "train-loss"), "data-value");
            let accuracy = number(&cell(row, "train-accuracy"), "data-value");
            (
                epoch.parse().unwrap(),
                samples,
                loss * samples,
                accuracy * samples,
            )
        })
        .collect();
    // 5 × 31 training images in batches of 4: 39 batches, windows of 10.
    assert_eq!(windows.len(), 2 * 4, "{windows:?}");
    for m in &metrics.epochs {
        let epoch: Vec<_> = windows.iter().filter(|w| w.0 == m.epoch).collect();
        let samples: f64 = epoch.iter().map(|w| w.1).sum();
        assert_eq!(samples, 155.0);
        let loss: f64 = epoch.iter().map(|w| w.2).sum::<f64>() / samples;
        assert!((loss - m.train_loss).abs() < 1e-9, "{loss} against {m:?}");
        let correct: f64 = epoch.iter().map(|w| w.3.round()).sum();
        assert_eq!(correct / samples, m.train_accuracy);
    }
    // The curves are drawn with the epochs'.
    let legend: Vec<String> = select(&page, "svg text")
        .iter()
        .map(|t| t.text().collect())
        .collect();
    assert_eq!(
        legend
            .iter()
            .filter(|t| *t == "train, per 10 batches")
            .count(),
        2,
        "in the loss and the accuracy chart"
    );
}

/// Issue 18: the mistakes shown are the final model's most confident wrong answers,
/// most confident first, each with its true class, its top 3 and its picture in its
/// own colours (checked against the `--predictions` file and the data).
#[test]
fn the_mistakes_shown_are_the_most_confident_wrong_answers_in_order() {
    let run = run_with_report();
    let bytes = std::fs::read(&run.predictions).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let read = |name: &str| tensors.tensor(name).unwrap().data().to_vec();
    let logits: Vec<f32> = read("logits")
        .chunks(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let int = |name: &str| -> Vec<usize> {
        read(name)
            .chunks(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as usize)
            .collect()
    };
    let (labels, predictions) = (int("labels"), int("predictions"));
    // The probability the model gives its (wrong) choice, for every wrong answer.
    let confidence = |i: usize| {
        let row = &logits[i * 10..(i + 1) * 10];
        1.0 / row
            .iter()
            .map(|l| (l - row[predictions[i]]).exp())
            .sum::<f32>()
    };
    let wrong: Vec<usize> = (0..labels.len())
        .filter(|&i| predictions[i] != labels[i])
        .collect();

    let figures = select(&run.page, "#mistakes figure.mistake");
    assert_eq!(figures.len(), wrong.len().min(12));
    let mut shown = Vec::new();
    for figure in &figures {
        let index = number(figure, "data-index") as usize;
        let label = number(figure, "data-label") as usize;
        assert_eq!(label, labels[index], "test image {index}'s true class");
        let top = figure
            .select(&Selector::parse("ol.top li").unwrap())
            .collect::<Vec<_>>();
        assert_eq!(top.len(), 3);
        let first = number(&top[0], "data-class") as usize;
        assert_eq!(first, predictions[index], "test image {index}'s top 1");
        assert_ne!(first, label, "test image {index} is no mistake");
        let p: Vec<f64> = top
            .iter()
            .map(|li| number(li, "data-probability"))
            .collect();
        assert!(p[0] >= p[1] && p[1] >= p[2], "{p:?}");
        assert!((p[0] - f64::from(confidence(index))).abs() < 1e-5);
        let truth = figure
            .select(&Selector::parse(".truth").unwrap())
            .next()
            .unwrap();
        assert_eq!(
            truth.text().collect::<String>(),
            format!("true: {}", CIFAR10_CLASSES[label])
        );
        // The picture: 32×32 enlarged 3 times, in colour, its red plane as generated.
        let img = figure
            .select(&Selector::parse("img").unwrap())
            .next()
            .unwrap();
        let picture = decode_png(img.value().attr("src").unwrap()).to_rgb8();
        assert_eq!(picture.dimensions(), (96, 96));
        let record = std::fs::read(run.data.join("test_batch.bin")).unwrap();
        let record = &record[index * CIFAR10_RECORD_LEN..(index + 1) * CIFAR10_RECORD_LEN];
        assert_eq!(usize::from(record[0]), label);
        for (x, y, pixel) in picture.enumerate_pixels() {
            let at = (y as usize / 3) * 32 + x as usize / 3;
            let expected = [record[1 + at], record[1 + 1024 + at], record[1 + 2048 + at]];
            assert_eq!(pixel.0, expected, "test image {index} at ({x}, {y})");
        }
        shown.push((p[0], index));
    }
    // Most confident first, and no wrong answer left out was more confident.
    for pair in shown.windows(2) {
        assert!(pair[0].0 >= pair[1].0, "{shown:?}");
    }
    let least = shown.last().unwrap().0;
    for &i in wrong.iter().filter(|i| !shown.iter().any(|s| s.1 == **i)) {
        assert!(
            f64::from(confidence(i)) <= least + 1e-6,
            "test image {i} left out"
        );
    }
}

/// The feature maps: the first three test images, each with its input and the output of
/// the one convolution (the global pooling's `[N, C]` output has no maps), each row a
/// grid of one tile per channel.
#[test]
fn the_feature_maps_show_every_channel_of_the_convolution_for_three_test_images() {
    let ReportRun { page, .. } = run_with_report();
    let blocks = select(&page, ".feature-maps");
    assert_eq!(blocks.len(), 3, "three probe images");
    for block in &blocks {
        let rows: Vec<String> = block
            .select(&Selector::parse("tr th").unwrap())
            .map(|th| th.text().next().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(rows, ["input", "conv1"]);
        let widths: Vec<u32> = block
            .select(&Selector::parse("img").unwrap())
            .map(|img| decode_png(img.value().attr("src").unwrap()).width())
            .collect();
        // 32×32 maps are enlarged twice (to at least 56 px): 2 px gaps, 64 px tiles.
        let grid_width = |channels: u32| 2 + channels * (64 + 2);
        assert_eq!(
            widths,
            [grid_width(3), grid_width(4)],
            "3 input channels, 4 filters"
        );
    }
}

/// The status line of the page of a run that ended early: `(page, error)` of a run of
/// [`tiny`] on generated CIFAR-10 records with `config`'s changes.
fn stopped_run(change: impl FnOnce(RunConfig) -> RunConfig) -> (Html, String) {
    let tmp = tempfile::tempdir().unwrap();
    write_cifar10(tmp.path(), 8);
    let report = tmp.path().join("r.html");
    let config = change(RunConfig {
        model: ModelSpec::for_input("tiny", tiny),
        dataset: DataSource::Cifar10,
        data_dir: Some(tmp.path().to_path_buf()),
        epochs: 2,
        batch_size: Some(4),
        progress: ProgressMode::Quiet,
        report: Some(report.clone()),
        save: Some(tmp.path().join("s.st")),
        ..RunConfig::default()
    });
    let err = run(&config).unwrap_err().to_string();
    // Training began (a first Ctrl-C would no longer quit at once).
    assert!(config.phase.is_training());
    let page = Html::parse_document(&std::fs::read_to_string(&report).unwrap());
    (page, err)
}

fn status(page: &Html) -> String {
    select(page, "#status")[0].text().collect()
}

/// QA: a diverged run's page said "Finished: 0 of 2 epochs." and nothing of why it
/// stopped. It says what stopped the run, and no longer reloads.
#[test]
fn the_page_of_a_diverged_run_says_it_diverged() {
    let (page, err) = stopped_run(|c| RunConfig {
        lr: Some(1e30),
        schedule: Some(scratchnet_cli::ScheduleKind::Constant),
        ..c
    });
    let status = status(&page);
    assert!(
        status.starts_with("Stopped: ") && status.contains("epoch 1"),
        "{status} ({err})"
    );
    assert!(status.ends_with("0 of 2 epochs done."), "{status}");
    assert!(!status.contains("Finished"), "{status}");
    assert!(!has_refresh(&page));
}

/// QA: an interrupted run's page said "Finished: …"; it says where the run stopped.
#[test]
fn the_page_of_an_interrupted_run_says_it_was_interrupted() {
    let (page, err) = stopped_run(|c| {
        c.stop.raise();
        c
    });
    assert!(err.contains("interrupted"), "{err}");
    let status = status(&page);
    assert!(
        status.starts_with("Interrupted before the first epoch (no checkpoint was saved)"),
        "{status}"
    );
    assert!(!has_refresh(&page));
}
