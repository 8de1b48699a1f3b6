//! Line charts as inline SVG text, for the HTML training report: axes, ticks, a
//! legend, a linear or logarithmic y axis. No fonts or scripts are referenced.

use std::fmt::Write;

/// One line of a chart.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    pub name: String,
    /// `(x, y)` points in order of x; non-finite points (and, on a log axis,
    /// points ≤ 0) are left out.
    pub points: Vec<(f64, f64)>,
}

/// How to draw a chart.
#[derive(Clone, Debug)]
pub(crate) struct Chart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub log_y: bool,
}

/// Colours of successive series (Tableau 10).
const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 40.0;

/// The SVG of `series` drawn as `chart` says.
pub(crate) fn line_chart(chart: &Chart, series: &[Series]) -> String {
    let transform = |y: f64| if chart.log_y { y.log10() } else { y };
    let visible: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!chart.log_y || *y > 0.0))
                .map(|&(x, y)| (x, transform(y)))
                .collect()
        })
        .collect();
    let all = visible.iter().flatten();
    let frame = Frame {
        x: padded(all.clone().map(|p| p.0)),
        y: padded(all.map(|p| p.1)),
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    axes(&mut svg, chart, &frame);
    for (i, (s, points)) in series.iter().zip(&visible).enumerate() {
        draw_series(&mut svg, i, &s.name, points, &frame);
    }
    svg.push_str("</svg>");
    svg
}

/// The data ranges shown, and where they land in the plot area.
struct Frame {
    /// The x range, `(lo, hi)`.
    x: (f64, f64),
    /// The y range (of log10 values on a log scale).
    y: (f64, f64),
}

const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const PLOT_H: f64 = HEIGHT - TOP - BOTTOM;

impl Frame {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0) * PLOT_W
    }

    fn py(&self, y: f64) -> f64 {
        TOP + (1.0 - (y - self.y.0) / (self.y.1 - self.y.0)) * PLOT_H
    }
}

/// The title, the plot's box, the ticks with their grid lines, and the axis labels.
fn axes(svg: &mut String, chart: &Chart, frame: &Frame) {
    let _ = write!(
        svg,
        r#"<text x="{}" y="16" font-size="13" font-weight="bold">{}</text>"#,
        LEFT,
        escape(chart.title)
    );
    let _ = write!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}" fill="none" stroke="#888"/>"##
    );
    for (value, label) in ticks(frame.y.0, frame.y.1, chart.log_y, chart.log_y) {
        let y = frame.py(value);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{label}</text>"##,
            LEFT + PLOT_W,
            LEFT - 4.0,
            y + 4.0
        );
    }
    // The x axis counts epochs or steps: whole ticks.
    for (value, label) in ticks(frame.x.0, frame.x.1, false, true) {
        let x = frame.px(value);
        let _ = write!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            TOP + PLOT_H + 14.0
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        LEFT + PLOT_W / 2.0,
        HEIGHT - 6.0,
        escape(chart.x_label)
    );
    let _ = write!(
        svg,
        r#"<text x="14" y="{:.1}" text-anchor="middle" transform="rotate(-90 14 {:.1})">{}{}</text>"#,
        TOP + PLOT_H / 2.0,
        TOP + PLOT_H / 2.0,
        escape(chart.y_label),
        if chart.log_y { " (log scale)" } else { "" }
    );
}

/// Series `i`, `name`: its line (dots too when it has at most 30 points) and its legend
/// entry.
fn draw_series(svg: &mut String, i: usize, name: &str, points: &[(f64, f64)], frame: &Frame) {
    let colour = PALETTE[i % PALETTE.len()];
    let path: Vec<String> = points
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", frame.px(x), frame.py(y)))
        .collect();
    if path.len() > 1 {
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
            path.join(" ")
        );
    }
    if points.len() <= 30 {
        for &(x, y) in points {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{colour}"/>"#,
                frame.px(x),
                frame.py(y)
            );
        }
    }
    let ly = TOP + 6.0 + 14.0 * i as f64;
    let lx = LEFT + PLOT_W + 10.0;
    let _ = write!(
        svg,
        r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
        lx + 16.0,
        lx + 20.0,
        ly + 4.0,
        escape(name)
    );
}

/// The range of `values` with a margin (a unit range around a single value).
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let margin = (hi - lo) * 0.05;
    (lo - margin, hi + margin)
}

/// About five round tick values within `[lo, hi]` and their labels, whole numbers if
/// `whole` (on a log axis the values are exponents, labelled as powers of ten).
fn ticks(lo: f64, hi: f64, log: bool, whole: bool) -> Vec<(f64, String)> {
    let raw = (hi - lo) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let step = if whole { step.max(1.0).round() } else { step };
    let mut out = Vec::new();
    let mut value = (lo / step).ceil() * step;
    while value <= hi && out.len() < 20 {
        let label = if log {
            format!("1e{}", value.round() as i64)
        } else {
            let label = format!("{value:.6}");
            let label = label.trim_end_matches('0').trim_end_matches('.');
            if label == "-0" {
                "0".into()
            } else {
                label.to_owned()
            }
        };
        out.push((value, label));
        value += step;
    }
    out
}

/// `text` with `&`, `<`, `>` and quotes escaped, for HTML and SVG.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::{ElementRef, Html, Selector};

    fn select<'a>(page: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
        page.select(&Selector::parse(css).unwrap()).collect()
    }

    fn number(element: &ElementRef, attribute: &str) -> f64 {
        element.value().attr(attribute).unwrap().parse().unwrap()
    }

    fn text(element: &ElementRef) -> String {
        element.text().collect()
    }

    /// The y of each y tick's grid line, by its label.
    fn y_ticks(page: &Html) -> Vec<(String, f64)> {
        let lines = select(page, r##"line[stroke="#eee"]"##);
        let labels = select(page, r#"text[text-anchor="end"]"#);
        assert_eq!(lines.len(), labels.len());
        labels
            .iter()
            .map(text)
            .zip(lines.iter().map(|l| number(l, "y1")))
            .collect()
    }

    /// The x of each x tick's label, by its label.
    fn x_ticks(page: &Html) -> Vec<(String, f64)> {
        select(page, r#"text[text-anchor="middle"]"#)
            .iter()
            .filter(|t| text(t).parse::<f64>().is_ok())
            .map(|t| (text(t), number(t, "x")))
            .collect()
    }

    fn at(ticks: &[(String, f64)], label: &str) -> f64 {
        ticks.iter().find(|(l, _)| l == label).unwrap().1
    }

    fn circles(page: &Html, colour: &str) -> Vec<(f64, f64)> {
        select(page, &format!(r#"circle[fill="{colour}"]"#))
            .iter()
            .map(|c| (number(c, "cx"), number(c, "cy")))
            .collect()
    }

    #[test]
    fn each_point_is_drawn_where_the_ticks_say_inside_the_plot() {
        let chart = Chart {
            title: "loss & <accuracy>",
            x_label: "epoch",
            y_label: "loss",
            log_y: false,
        };
        let series = [
            Series {
                name: "train".into(),
                points: vec![(1.0, 0.0), (2.0, 0.5), (3.0, 1.0), (4.0, f64::NAN)],
            },
            Series {
                name: "test".into(),
                points: vec![(3.0, 0.5)],
            },
        ];
        let page = Html::parse_fragment(&line_chart(&chart, &series));
        let (x, y) = (x_ticks(&page), y_ticks(&page));
        let labels =
            |ticks: &[(String, f64)]| ticks.iter().map(|t| t.0.clone()).collect::<Vec<_>>();
        assert_eq!(labels(&x), ["1", "2", "3"]);
        assert_eq!(labels(&y), ["0", "0.5", "1"]);
        let middle = at(&y, "0.5");
        assert!((middle - (at(&y, "0") + at(&y, "1")) / 2.0).abs() <= 0.1);
        let train = circles(&page, PALETTE[0]);
        let expected = [
            (at(&x, "1"), at(&y, "0")),
            (at(&x, "2"), middle),
            (at(&x, "3"), at(&y, "1")),
        ];
        assert_eq!(train.len(), 3, "the NaN point is left out");
        for (drawn, expected) in train.iter().zip(expected) {
            assert!((drawn.0 - expected.0).abs() <= 0.1 && (drawn.1 - expected.1).abs() <= 0.1);
        }
        // Higher values higher up (SVG's y grows downwards), later x further right.
        assert!(at(&y, "1") < at(&y, "0") && at(&x, "1") < at(&x, "3"));
        let test = circles(&page, PALETTE[1]);
        assert_eq!(test, [(train[2].0, train[1].1)]);
        // A line through the train points; none for a single point.
        let lines = select(&page, "polyline");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].value().attr("stroke"), Some(PALETTE[0]));
        let path: Vec<String> = train
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        assert_eq!(
            lines[0].value().attr("points"),
            Some(path.join(" ").as_str())
        );
        // Everything inside the plot's box; the legend to its right, in the series' colours.
        let plot = &select(&page, "rect")[0];
        let (left, top) = (number(plot, "x"), number(plot, "y"));
        let (right, bottom) = (left + number(plot, "width"), top + number(plot, "height"));
        for (cx, cy) in train.iter().chain(&test) {
            assert!((left..=right).contains(cx) && (top..=bottom).contains(cy));
        }
        for (_, tick) in &x {
            assert!((left..=right).contains(tick));
        }
        for (_, tick) in &y {
            assert!((top..=bottom).contains(tick));
        }
        let svg = &select(&page, "svg")[0];
        assert!(right <= number(svg, "width") && bottom <= number(svg, "height"));
        for (i, name) in ["train", "test"].iter().enumerate() {
            let entry = select(&page, "text")
                .into_iter()
                .find(|t| text(t) == *name)
                .unwrap();
            // Right of the plot, with room for a name of about 20 characters.
            assert!(number(&entry, "x") > right);
            assert!(number(&entry, "x") + 120.0 <= number(svg, "width"));
            let key = &select(&page, &format!(r#"line[stroke="{}"]"#, PALETTE[i]))[0];
            assert_eq!(number(key, "y1"), number(&entry, "y") - 4.0);
            assert!(number(key, "x1") > right && number(key, "x2") < number(&entry, "x"));
        }
        let texts: Vec<String> = select(&page, "text").iter().map(text).collect();
        for label in ["loss & <accuracy>", "epoch", "loss"] {
            assert!(texts.iter().any(|t| t == label), "{label}");
        }
    }

    #[test]
    fn a_log_axis_drops_points_at_or_below_zero_and_spaces_decades_evenly() {
        let chart = Chart {
            title: "gradient norm",
            x_label: "step",
            y_label: "norm",
            log_y: true,
        };
        let points = vec![(0.0, 0.01), (1.0, 0.1), (2.0, 1.0), (3.0, 0.0), (4.0, -1.0)];
        let series = [Series {
            name: "conv1.weight".into(),
            points,
        }];
        let page = Html::parse_fragment(&line_chart(&chart, &series));
        let y = y_ticks(&page);
        let drawn = circles(&page, PALETTE[0]);
        assert_eq!(drawn.len(), 3);
        for ((_, cy), label) in drawn.iter().zip(["1e-2", "1e-1", "1e0"]) {
            assert!((cy - at(&y, label)).abs() <= 0.1, "{label}");
        }
        let texts: Vec<String> = select(&page, "text").iter().map(text).collect();
        assert!(texts.contains(&"norm (log scale)".to_owned()));
    }

    #[test]
    fn a_lone_point_is_drawn_in_the_middle_and_long_series_without_dots() {
        let lone = |points| {
            let chart = Chart {
                title: "",
                x_label: "",
                y_label: "",
                log_y: false,
            };
            let series = [Series {
                name: "s".into(),
                points,
            }];
            Html::parse_fragment(&line_chart(&chart, &series))
        };
        let page = lone(vec![(7.0, 0.25)]);
        assert_eq!(
            circles(&page, PALETTE[0]),
            [(LEFT + PLOT_W / 2.0, TOP + PLOT_H / 2.0)]
        );
        let page = lone(vec![]);
        assert!(circles(&page, PALETTE[0]).is_empty() && select(&page, "polyline").is_empty());
        // Dots up to 30 points, the line alone beyond.
        let series = |n: usize| (0..n).map(|i| (i as f64, (i * i) as f64)).collect();
        assert_eq!(circles(&lone(series(30)), PALETTE[0]).len(), 30);
        let page = lone(series(31));
        assert!(circles(&page, PALETTE[0]).is_empty());
        let path = select(&page, "polyline")[0].value().attr("points").unwrap();
        assert_eq!(path.split(' ').count(), 31);
    }

    #[test]
    fn ticks_are_round_and_log_ticks_are_powers_of_ten() {
        let labels: Vec<String> = ticks(0.0, 1.0, false, false)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
        let labels: Vec<String> = ticks(0.9, 2.1, false, true)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(labels, ["1", "2"]);
        // Steps of 1, 2, 5 or 10 times a power of ten.
        let labels: Vec<String> = ticks(0.0, 3.5, false, false)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(labels, ["0", "1", "2", "3"]);
        let labels: Vec<String> = ticks(-0.1, 0.1, false, false)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(labels, ["-0.1", "-0.05", "0", "0.05", "0.1"]);
        let labels: Vec<String> = ticks(-4.2, -0.5, true, true)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(labels, ["1e-4", "1e-3", "1e-2", "1e-1"]);
    }
}
