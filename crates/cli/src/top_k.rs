//! Class probabilities and the most likely classes of a model's outputs.

use ndarray::Array2;
use scratchnet_tensor::softmax::softmax;

/// For each row of `logits` (`[N, K]`), the `k` most probable classes with their
/// softmax probabilities, most probable first (ties: the lower class first).
///
/// ```
/// use ndarray::array;
/// let top = scratchnet_cli::top_k(&array![[0.0f32, 2.0, 1.0]], 2);
/// assert_eq!(top[0][0].0, 1);
/// assert_eq!(top[0][1].0, 2);
/// assert!((top[0].iter().map(|t| t.1).sum::<f32>() - 0.91).abs() < 0.01);
/// ```
pub fn top_k(logits: &Array2<f32>, k: usize) -> Vec<Vec<(usize, f32)>> {
    let probabilities = softmax(logits.view());
    probabilities
        .rows()
        .into_iter()
        .map(|row| {
            let mut ranked: Vec<(usize, f32)> = row.iter().copied().enumerate().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            ranked.truncate(k);
            ranked
        })
        .collect()
}
