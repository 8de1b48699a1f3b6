//! [`BufferKind`]: what a buffer's `state_dict` name says about its values and its
//! type in a file.
//!
//! A checkpoint's names are PyTorch's, and PyTorch's norm layers give their buffers
//! fixed names that every layer with running statistics shares (`BatchNorm1d/2d/3d`,
//! `InstanceNorm` with `track_running_stats`, and scratchnet's
//! [`BatchNorm2d`](scratchnet_layers::BatchNorm2d)): `running_var` holds variances,
//! `num_batches_tracked` a count that PyTorch stores as `int64`. PyTorch itself finds
//! `num_batches_tracked` by its name when it loads a `state_dict`; so does this module,
//! for the last component of the name (`layer1.0.bn1.running_var` → `running_var`).

/// A buffer's kind, by the last component of its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BufferKind {
    /// `running_var`: a running variance, finite and ≥ 0 (a negative one makes the
    /// norm layer divide by the square root of a negative number).
    RunningVariance,
    /// `num_batches_tracked`: a count of batches, stored as I64 as PyTorch does
    /// (F32 is read too: files of scratchnet before it saved I64).
    BatchCount,
    /// Any other buffer (`running_mean`): finite values, F32.
    Values,
}

impl BufferKind {
    /// The kind of the buffer named `name` (a full `state_dict` name).
    pub(crate) fn of(name: &str) -> Self {
        match name.rsplit('.').next() {
            Some("running_var") => Self::RunningVariance,
            Some("num_batches_tracked") => Self::BatchCount,
            _ => Self::Values,
        }
    }

    /// Whether every value must be ≥ 0 (besides finite).
    pub(crate) fn non_negative(self) -> bool {
        matches!(self, Self::RunningVariance | Self::BatchCount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_last_name_component() {
        assert_eq!(
            BufferKind::of("layer1.0.bn1.running_var"),
            BufferKind::RunningVariance
        );
        assert_eq!(BufferKind::of("running_var"), BufferKind::RunningVariance);
        assert_eq!(
            BufferKind::of("bn.num_batches_tracked"),
            BufferKind::BatchCount
        );
        assert_eq!(BufferKind::of("bn.running_mean"), BufferKind::Values);
        assert_eq!(BufferKind::of("bn.my_running_var"), BufferKind::Values);
    }
}
