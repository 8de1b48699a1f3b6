//! Loss and accuracy curves as an SVG file (`--plot`).

use plotters::prelude::*;
use scratchnet_train::{write_atomically, EpochMetrics, History, TrainError};
use std::path::Path;

/// Draws `history` to an SVG at `path`: on the left the train and test loss per
/// epoch, on the right the train and test accuracy (in %). Written atomically.
///
/// Its first line is [`PLOT_MARK`](crate::PLOT_MARK), by which a later run knows the file
/// as its own. The SVG is made by `plotters` without system fonts (text is left to the viewer's
/// sans-serif font).
///
/// # Errors
/// [`TrainError::Plot`] if the history is empty or drawing fails;
/// [`TrainError::Write`] if the file cannot be written.
pub fn plot_history(history: &History, path: &Path) -> Result<(), TrainError> {
    let svg = render_svg(history).map_err(|reason| TrainError::Plot {
        path: path.to_path_buf(),
        reason,
    })?;
    write_atomically(path, svg.as_bytes()).map_err(|source| TrainError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The SVG text of [`plot_history`].
fn render_svg(history: &History) -> Result<String, String> {
    if history.epochs.is_empty() {
        return Err("no epoch to plot".into());
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (left, right) = root.split_horizontally(500);
        let epochs = &history.epochs;
        let last = epochs.len() as f64;
        let x_range = if epochs.len() == 1 {
            0.5..1.5
        } else {
            1.0..last
        };

        let loss_max = epochs
            .iter()
            .flat_map(|e| [e.train_loss, e.test_loss])
            .fold(0.0f64, f64::max)
            .max(1e-3)
            * 1.1;
        let series = |f: fn(&EpochMetrics) -> f64| -> Vec<(f64, f64)> {
            epochs.iter().map(|e| (e.epoch as f64, f(e))).collect()
        };
        draw_panel(
            &left,
            "Loss per epoch",
            "loss",
            x_range.clone(),
            0.0..loss_max,
            [
                ("train loss", series(|e| e.train_loss)),
                ("test loss", series(|e| e.test_loss)),
            ],
        )?;

        let acc_min = epochs
            .iter()
            .flat_map(|e| [e.train_accuracy, e.test_accuracy])
            .fold(1.0f64, f64::min);
        let acc_low = ((acc_min * 100.0) - 1.0).clamp(0.0, 99.0).floor();
        draw_panel(
            &right,
            "Accuracy per epoch",
            "accuracy (%)",
            x_range,
            acc_low..100.0,
            [
                ("train accuracy", series(|e| 100.0 * e.train_accuracy)),
                ("test accuracy", series(|e| 100.0 * e.test_accuracy)),
            ],
        )?;
        root.present().map_err(|e| e.to_string())?;
    }
    // The mark that lets a later run replace this file without --overwrite.
    Ok(format!("{}\n{svg}", crate::PLOT_MARK))
}

/// One chart with a train (blue) and a test (red) line.
fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    x_range: std::ops::Range<f64>,
    y_range: std::ops::Range<f64>,
    lines: [(&str, Vec<(f64, f64)>); 2],
) -> Result<(), String> {
    // One tick per epoch (at most 10), on whole numbers.
    let x_labels = lines[0].1.len().clamp(1, 10);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, y_range)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_label)
        .x_labels(x_labels)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(|e| e.to_string())?;
    for ((label, points), color) in lines.into_iter().zip([BLUE, RED]) {
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::{ElementRef, Html, Selector};

    fn epoch(epoch: usize, test_accuracy: f64) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss: 0.3 / epoch as f64,
            train_accuracy: 0.9 + 0.02 * epoch as f64,
            test_loss: 0.1 / epoch as f64,
            test_accuracy,
            seconds: 5.0,
            samples_per_second: 12_000.0,
        }
    }

    #[test]
    fn draws_an_svg_with_both_panels() {
        let history = History {
            epochs: vec![epoch(1, 0.98), epoch(2, 0.988), epoch(3, 0.991)],
        };
        let svg = render_svg(&history).unwrap();
        let mark = format!("{}\n<svg", crate::PLOT_MARK);
        assert!(svg.starts_with(&mark), "{}", &svg[..200.min(svg.len())]);
        for text in [
            "Loss per epoch",
            "Accuracy per epoch",
            "test accuracy",
            "train loss",
        ] {
            assert!(svg.contains(text), "missing {text}");
        }
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn one_epoch_and_empty_histories() {
        assert!(render_svg(&History {
            epochs: vec![epoch(1, 0.98)]
        })
        .is_ok());
        assert!(render_svg(&History::new()).is_err());
    }

    /// The elements matching `css` that lie in the panel between `left` and `right`.
    fn in_panel<'a>(page: &'a Html, css: &str, (left, right): (f64, f64)) -> Vec<ElementRef<'a>> {
        let x = |e: &ElementRef| -> f64 {
            let x = e.value().attr("x").or(e.value().attr("points")).unwrap();
            x.split(',').next().unwrap().parse().unwrap()
        };
        page.select(&Selector::parse(css).unwrap())
            .filter(|e| (left..right).contains(&x(e)))
            .collect()
    }

    fn points(line: &ElementRef) -> Vec<(f64, f64)> {
        let points = line.value().attr("points").unwrap();
        points
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn each_point_is_where_the_axes_say_and_the_loss_axis_has_a_tenth_to_spare() {
        let history = History {
            epochs: vec![epoch(1, 0.98), epoch(2, 0.988), epoch(3, 0.991)],
        };
        let page = Html::parse_fragment(&render_svg(&history).unwrap());
        let panels = [
            // Loss from 0 to 1.1 × the largest; accuracy (%) from 1 below the lowest
            // (rounded down) to 100.
            (
                (0.0, 500.0),
                (0.0, 0.33),
                [[0.3, 0.15, 0.1], [0.1, 0.05, 0.1 / 3.0]],
            ),
            (
                (500.0, 1000.0),
                (91.0, 100.0),
                [[92.0, 94.0, 96.0], [98.0, 98.8, 99.1]],
            ),
        ];
        for (panel, (bottom, top), lines) in panels {
            let number = |e: &ElementRef| e.text().collect::<String>().trim().parse::<f64>();
            let ticks = |anchor: &str, at: &str| -> Vec<(f64, f64)> {
                in_panel(&page, &format!(r#"text[text-anchor="{anchor}"]"#), panel)
                    .iter()
                    .filter_map(|t| Some((number(t).ok()?, t.value().attr(at)?.parse().ok()?)))
                    .collect()
            };
            // Pixel y to value, through the y axis's first and last tick.
            let y_ticks = ticks("end", "y");
            let (a, b) = (y_ticks[0], y_ticks[y_ticks.len() - 1]);
            let value_at = |y: f64| a.0 + (y - a.1) * (b.0 - a.0) / (b.1 - a.1);
            let tolerance = (top - bottom) / 200.0;
            // The y axis: the panel's first black vertical line.
            let axis = in_panel(&page, r##"polyline[stroke="#000000"]"##, panel)
                .iter()
                .map(points)
                .find(|p| p.len() == 2 && p[0].0 == p[1].0)
                .unwrap();
            assert!(
                (value_at(axis[1].1) - bottom).abs() <= tolerance,
                "{panel:?}"
            );
            assert!((value_at(axis[0].1) - top).abs() <= tolerance, "{panel:?}");
            // Train in blue, test in red; epoch k at the x tick labelled k.
            let x_ticks = ticks("middle", "x");
            for (colour, values) in ["#0000FF", "#FF0000"].into_iter().zip(lines) {
                let drawn: Vec<Vec<(f64, f64)>> =
                    in_panel(&page, &format!(r#"polyline[stroke="{colour}"]"#), panel)
                        .iter()
                        .map(points)
                        .filter(|p| p.len() == 3)
                        .collect();
                assert_eq!(drawn.len(), 1, "{colour} in {panel:?}");
                for (k, ((x, y), value)) in drawn[0].iter().zip(values).enumerate() {
                    let tick = x_ticks.iter().find(|t| t.0 == (k + 1) as f64).unwrap();
                    assert_eq!(*x, tick.1);
                    assert!((value_at(*y) - value).abs() <= tolerance, "{value} at {y}");
                }
            }
        }
    }
}
