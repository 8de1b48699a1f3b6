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
    let step = [1.0, 2.0, 5.0, 10.0]
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
        let labels: Vec<String> = ticks(-4.2, -0.5, true, true)
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(labels, ["1e-4", "1e-3", "1e-2", "1e-1"]);
    }
}
