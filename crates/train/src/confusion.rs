//! The confusion matrix and the per-class accuracy it gives.

use std::fmt;

/// Counts of (true class, predicted class) pairs: `counts[t][p]` samples of class `t`
/// were predicted as `p`.
///
/// ```
/// use scratchnet_train::ConfusionMatrix;
/// let mut m = ConfusionMatrix::new(3);
/// for (truth, predicted) in [(0, 0), (1, 1), (1, 2), (2, 2)] {
///     m.record(truth, predicted);
/// }
/// assert_eq!(m.accuracy(), 0.75);
/// assert_eq!(m.per_class_accuracy(), vec![Some(1.0), Some(0.5), Some(1.0)]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    counts: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// An all-zero matrix for `classes` classes.
    pub fn new(classes: usize) -> Self {
        Self {
            counts: vec![vec![0; classes]; classes],
        }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.counts.len()
    }

    /// Counts one sample of class `truth` predicted as `predicted`.
    ///
    /// **Panics** if either is not below [`classes`](Self::classes).
    #[track_caller]
    pub fn record(&mut self, truth: usize, predicted: usize) {
        self.counts[truth][predicted] += 1;
    }

    /// The counts, `[truth][predicted]`.
    pub fn counts(&self) -> &[Vec<u64>] {
        &self.counts
    }

    /// Number of samples recorded.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Number of samples predicted right (the diagonal).
    pub fn correct(&self) -> u64 {
        (0..self.classes()).map(|c| self.counts[c][c]).sum()
    }

    /// Fraction predicted right (0 if empty).
    pub fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.total().max(1) as f64
    }

    /// For each class, the fraction of its samples predicted right (its recall), or
    /// `None` for a class with no samples.
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        self.counts
            .iter()
            .enumerate()
            .map(|(c, row)| {
                let n: u64 = row.iter().sum();
                (n > 0).then(|| row[c] as f64 / n as f64)
            })
            .collect()
    }
}

impl fmt::Display for ConfusionMatrix {
    /// A table with one row per true class, one column per prediction, and each
    /// class's accuracy at the end of its row.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .counts
            .iter()
            .flatten()
            .map(|n| n.to_string().len())
            .max()
            .unwrap_or(1)
            .max(self.classes().saturating_sub(1).to_string().len());
        write!(f, "true\\pred")?;
        for p in 0..self.classes() {
            write!(f, " {p:>width$}")?;
        }
        writeln!(f, "  accuracy")?;
        for (t, (row, acc)) in self
            .counts
            .iter()
            .zip(self.per_class_accuracy())
            .enumerate()
        {
            write!(f, "{t:>9}")?;
            for n in row {
                write!(f, " {n:>width$}")?;
            }
            match acc {
                Some(a) => write!(f, "  {:>7.2}%", 100.0 * a)?,
                None => write!(f, "        —")?,
            }
            if t + 1 < self.classes() {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_a_table_with_accuracies() {
        let mut m = ConfusionMatrix::new(3);
        for (t, p) in [(0, 0), (0, 0), (1, 2), (2, 2)] {
            m.record(t, p);
        }
        let expected = "\
true\\pred 0 1 2  accuracy
        0 2 0 0   100.00%
        1 0 0 1     0.00%
        2 0 0 1   100.00%";
        assert_eq!(m.to_string(), expected);
        assert_eq!(
            ConfusionMatrix::new(2).per_class_accuracy(),
            vec![None, None]
        );
        assert_eq!(ConfusionMatrix::new(2).accuracy(), 0.0);
    }
}
