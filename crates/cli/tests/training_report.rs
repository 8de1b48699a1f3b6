//! The `--report` HTML page of a whole run, parsed with an HTML parser: self-contained,
//! every picture decodes, its numbers are the metrics JSON's, and it stops reloading at
//! the end. The data are generated CIFAR-10 batch files (a few records each).

use base64::Engine as _;
use ndarray_rand::rand::rngs::StdRng;
use scraper::{Html, Selector};
use scratchnet_cli::{
    run, DataSource, MetricsReport, ModelInput, ModelSpec, RunConfig, TrainingReport,
};
use scratchnet_data::{CIFAR10_FILES, CIFAR10_RECORD_LEN};
use scratchnet_layers::{Conv2d, Conv2dConfig, Dense, GlobalAvgPool2d, ReLU, Sequential};
use scratchnet_train::{DiagnosticsLog, History, ProgressMode};
use std::path::Path;

/// One 3×3 convolution, global average pooling, a linear layer.
fn tiny(rng: &mut StdRng, input: &ModelInput) -> Sequential {
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
        .unwrap()
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
    let tmp = tempfile::tempdir().unwrap();
    // 31 test images: accuracies like 7/31 that no rounding keeps.
    write_cifar10(tmp.path(), 31);
    let (report, metrics) = (tmp.path().join("r.html"), tmp.path().join("m.json"));
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
        ..RunConfig::default()
    })
    .unwrap();
    let page = Html::parse_document(&std::fs::read_to_string(&report).unwrap());

    // Every picture decodes: PNG data URIs.
    let images = select(&page, "img");
    assert!(!images.is_empty(), "no <img> (the conv1 filters)");
    for img in &images {
        let src = img.value().attr("src").unwrap();
        let data = src.strip_prefix("data:image/png;base64,").unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        let decoded = image::load_from_memory(&png).unwrap();
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
    let metrics: MetricsReport =
        serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
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
    let running = Html::parse_document(&report.html(&history, &log, None, true));
    assert!(has_refresh(&running));
    let finished = Html::parse_document(&report.html(&history, &log, None, false));
    assert!(!has_refresh(&finished));
}
