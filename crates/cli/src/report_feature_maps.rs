//! The report's feature maps: what every convolution and pooling layer makes of a few
//! fixed test images, after the latest epoch.

use crate::feature_maps::{tile_grid, TileGridConfig};
use crate::png_data_uri::png_data_uri;
use crate::svg_chart::escape;
use image::{ExtendedColorType, GrayImage};
use scratchnet_train::EpochDiagnostics;
use std::fmt::Write;

/// Appends the feature-maps section for the latest epoch, `last`: one block per probe
/// image, one row per layer (its name, description and shape, then its channels as tiles).
pub(crate) fn feature_maps_section(page: &mut String, last: Option<&EpochDiagnostics>) {
    page.push_str("<h2>Feature maps</h2>\n");
    let Some(last) = last.filter(|e| !e.feature_maps.is_empty()) else {
        page.push_str(
            "<p>No feature maps (yet): they are drawn after the first epoch, for a model with a convolution or pooling layer.</p>\n",
        );
        return;
    };
    let _ = writeln!(
        page,
        "<p>The same test images through the network after epoch {}: the input, then every convolution and pooling layer's output, one tile per channel, each tile scaled from its smallest value (black) to its largest (white). Early layers find strokes and edges; later ones, coarser and more channels, respond to parts of the digit.</p>",
        last.epoch
    );
    let config = TileGridConfig {
        tile_side: 56,
        max_columns: 16,
        ..TileGridConfig::default()
    };
    for (i, image) in last.feature_maps.iter().enumerate() {
        let _ = write!(
            page,
            "<div class=\"feature-maps\" id=\"feature-maps-{i}\"><table>"
        );
        feature_row(page, "input", "", &tile_grid(image.input.view(), &config));
        for layer in &image.layers {
            let shape = layer.maps.shape();
            let about = format!(
                "{} → {}×{}×{}",
                layer.description, shape[0], shape[1], shape[2]
            );
            feature_row(
                page,
                &layer.layer,
                &about,
                &tile_grid(layer.maps.view(), &config),
            );
        }
        page.push_str("</table></div>\n");
    }
}

/// One row of a feature-map table: the layer's name and what it is, then its tiles.
fn feature_row(page: &mut String, name: &str, about: &str, tiles: &GrayImage) {
    let (width, height) = tiles.dimensions();
    let Some(uri) = png_data_uri(
        tiles.as_raw(),
        width as usize,
        height as usize,
        ExtendedColorType::L8,
    ) else {
        return;
    };
    let _ = write!(
        page,
        "<tr><th>{}<br><small>{}</small></th><td><img src=\"{uri}\" alt=\"{} feature maps\"></td></tr>",
        escape(name),
        escape(about),
        escape(name)
    );
}
