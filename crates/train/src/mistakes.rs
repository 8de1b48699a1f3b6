//! The test images a model gets most confidently wrong, from an evaluation's logits.

use crate::Evaluation;
use scratchnet_data::Split;
use scratchnet_tensor::softmax::softmax;

/// A sample the model classified wrong, with what it believed and the picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Mistake {
    /// Its index in the split.
    pub index: usize,
    /// Its true class.
    pub label: usize,
    /// The class the model chose (its largest logit).
    pub predicted: usize,
    /// The softmax probability of each class, by class.
    pub probabilities: Vec<f32>,
    /// Its pixels as the split stores them, before the normalisation the model sees:
    /// `C` planes of `H` rows of `W` bytes.
    pub pixels: Vec<u8>,
    /// `[C, H, W]`.
    pub shape: [usize; 3],
}

impl Mistake {
    /// The probability the model gave its (wrong) choice.
    pub fn confidence(&self) -> f32 {
        self.probabilities[self.predicted]
    }

    /// The `k` most probable classes with their probabilities, most probable first
    /// (ties: the lower class first).
    pub fn top(&self, k: usize) -> Vec<(usize, f32)> {
        let mut ranked: Vec<(usize, f32)> =
            self.probabilities.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(k);
        ranked
    }
}

/// The at most `count` samples of `split` that `evaluation` (of that split, in its
/// order) classified wrong with the highest probability, most confident first (ties:
/// the lower index first). Computed from the evaluation's logits: no second pass.
pub fn confident_mistakes(evaluation: &Evaluation, split: &Split, count: usize) -> Vec<Mistake> {
    if count == 0 || evaluation.logits.nrows() != split.len() {
        return Vec::new();
    }
    let probabilities = softmax(evaluation.logits.view());
    let mut wrong: Vec<(f32, usize)> = evaluation
        .predictions
        .iter()
        .zip(split.labels())
        .enumerate()
        .filter(|(_, (&predicted, &label))| predicted != usize::from(label))
        .map(|(i, (&predicted, _))| (probabilities[[i, predicted]], i))
        .collect();
    wrong.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    wrong.truncate(count);
    wrong
        .into_iter()
        .map(|(_, i)| Mistake {
            index: i,
            label: usize::from(split.labels()[i]),
            predicted: evaluation.predictions[i],
            probabilities: probabilities.row(i).to_vec(),
            pixels: split.image(i).to_vec(),
            shape: split.sample_shape(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConfusionMatrix;
    use ndarray::array;
    use scratchnet_data::Normalization;

    #[test]
    fn the_most_confident_wrong_predictions_come_first() {
        // Labels 0, 1, 2, 3; predictions 0 (right), 0 (wrong, a little sure), 0 (wrong,
        // very sure), 3 (right, sure).
        let images: Vec<u8> = (0..4u8).flat_map(|i| [i; 784]).collect();
        let split = Split::new(images, vec![0, 1, 2, 3], Normalization::UNIT);
        let logits = array![
            [5.0f32, 0.0, 0.0, 0.0],
            [1.0, 0.5, 0.0, 0.0],
            [9.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 9.0]
        ];
        let evaluation = Evaluation {
            loss: 0.0,
            accuracy: 0.5,
            confusion: ConfusionMatrix::new(4),
            predictions: vec![0, 0, 0, 3],
            logits,
        };
        let mistakes = confident_mistakes(&evaluation, &split, 12);
        let shown: Vec<(usize, usize, usize)> = mistakes
            .iter()
            .map(|m| (m.index, m.label, m.predicted))
            .collect();
        assert_eq!(shown, [(2, 2, 0), (1, 1, 0)]);
        assert!(mistakes[0].confidence() > mistakes[1].confidence());
        assert_eq!(mistakes[0].pixels, vec![2; 784]);
        assert_eq!(mistakes[0].shape, [1, 28, 28]);
        let top: Vec<usize> = mistakes[0].top(3).iter().map(|t| t.0).collect();
        assert_eq!(top, [0, 2, 1]);
        assert_eq!(confident_mistakes(&evaluation, &split, 1).len(), 1);
    }
}
