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

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::{ElementRef, Html, Selector};

    fn number(element: &ElementRef, attribute: &str) -> f64 {
        element.value().attr(attribute).unwrap().parse().unwrap()
    }

    #[test]
    fn each_cell_sits_at_its_row_and_column_shaded_by_its_share_of_the_row() {
        // Three classes, truth down, prediction across: row 0 is 3 right and 1 wrong
        // (as class 2), row 1 is empty, row 2 is 2 right.
        let mut confusion = ConfusionMatrix::new(3);
        for (truth, predicted) in [(0, 0), (0, 0), (0, 0), (0, 2), (2, 2), (2, 2)] {
            confusion.record(truth, predicted);
        }
        let names = ["zero", "one", "<two>"].map(String::from);
        let svg = Html::parse_fragment(&confusion_heat_map(&confusion, &names));
        let select =
            |css: &str| -> Vec<ElementRef> { svg.select(&Selector::parse(css).unwrap()).collect() };
        let size = number(&select("svg")[0], "width");
        let cells = select("rect");
        assert_eq!(cells.len(), 9);
        for (k, cell) in cells.iter().enumerate() {
            let (row, column) = (k / 3, k % 3);
            let (x, y) = (number(cell, "x"), number(cell, "y"));
            assert_eq!(
                (x, y),
                (
                    (MARGIN + column * CELL) as f64,
                    (MARGIN + row * CELL) as f64
                ),
                "cell ({row}, {column})"
            );
            assert!(x + CELL as f64 <= size && y + CELL as f64 <= size);
            let count = confusion.counts()[row][column];
            let title = cell.text().collect::<String>();
            let expected = format!("true {} predicted {}: {count}", names[row], names[column]);
            assert_eq!(title, expected);
            let colour = if row == column {
                "rgb(31,119,180)"
            } else {
                "rgb(214,39,40)"
            };
            assert_eq!(cell.value().attr("fill"), Some(colour));
        }
        // Shares of the row, on a square-root scale; an empty row is all clear.
        let opacity = |k: usize| number(&cells[k], "fill-opacity");
        assert_eq!((opacity(0), opacity(1), opacity(2)), (0.866, 0.0, 0.5));
        assert_eq!((opacity(3), opacity(4), opacity(8)), (0.0, 0.0, 1.0));
        // Each class name labels its row at the left and its column above, centred.
        let labels: Vec<(String, f64, f64)> = select("text")
            .iter()
            .map(|t| (t.text().collect(), number(t, "x"), number(t, "y")))
            .collect();
        for (i, name) in names.iter().enumerate() {
            let at: Vec<(f64, f64)> = labels
                .iter()
                .filter(|(text, ..)| text == name)
                .map(|&(_, x, y)| (x, y))
                .collect();
            let centre = (MARGIN + i * CELL + CELL / 2) as f64;
            let edge = (MARGIN - 4) as f64;
            assert_eq!(at, [(edge, centre + 4.0), (centre, edge)], "{name}");
        }
    }
}
