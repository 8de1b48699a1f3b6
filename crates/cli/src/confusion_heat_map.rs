//! The confusion matrix as an SVG heat map, for the HTML training report.

use crate::svg_chart::escape;
use scratchnet_train::ConfusionMatrix;
use std::fmt::Write;

const CELL: usize = 34;
const MARGIN: usize = 90;

/// An SVG table of `confusion` (rows: true class, columns: predicted), each cell
/// shaded by its share of its row and labelled with its count.
pub(crate) fn confusion_heat_map(confusion: &ConfusionMatrix, class_names: &[String]) -> String {
    let counts = confusion.counts();
    let n = counts.len();
    let size = MARGIN + n * CELL + 10;
    let name = |i: usize| escape(class_names.get(i).map_or(&i.to_string(), |s| s));
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg width="{size}" height="{size}" viewBox="0 0 {size} {size}" font-family="sans-serif" font-size="10">"#
    );
    let _ = write!(
        svg,
        r#"<text x="{MARGIN}" y="12">predicted →</text><text x="4" y="{}">true ↓</text>"#,
        MARGIN - 4
    );
    for (i, row) in counts.iter().enumerate() {
        let total = row.iter().sum::<u64>().max(1) as f64;
        let y = MARGIN + i * CELL;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            MARGIN - 4,
            y + CELL / 2 + 4,
            name(i)
        );
        for (j, &count) in row.iter().enumerate() {
            let x = MARGIN + j * CELL;
            let share = count as f64 / total;
            // Diagonal cells in blue, mistakes in red.
            let (r, g, b) = if i == j {
                (31, 119, 180)
            } else {
                (214, 39, 40)
            };
            let _ = write!(
                svg,
                r##"<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="rgb({r},{g},{b})" fill-opacity="{:.3}" stroke="#ddd"><title>true {} predicted {}: {count}</title></rect><text x="{}" y="{}" text-anchor="middle">{count}</text>"##,
                share.sqrt(),
                name(i),
                name(j),
                x + CELL / 2,
                y + CELL / 2 + 4
            );
        }
    }
    for j in 0..n {
        let x = MARGIN + j * CELL + CELL / 2;
        let _ = write!(
            svg,
            r#"<text x="{x}" y="{}" text-anchor="start" transform="rotate(-60 {x} {})">{}</text>"#,
            MARGIN - 4,
            MARGIN - 4,
            name(j)
        );
    }
    svg.push_str("</svg>");
    svg
}
