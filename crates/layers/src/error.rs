//! The one error type of this crate.

/// What went wrong in a layer: always names the layer and what it needed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayerError {
    /// The input's shape does not fit the layer.
    #[error("{layer}: expects input of shape {expected} per sample, but got {got:?}")]
    Shape {
        /// The layer (its name in the model and its type, e.g. "fc1 (Dense)").
        layer: String,
        /// What the layer accepts, with the hyper-parameter that decides it.
        expected: String,
        /// The per-sample shape it was given.
        got: Vec<usize>,
    },
    /// A hyper-parameter is invalid (a zero kernel, a stride of 0, …).
    #[error("{layer}: invalid configuration: {reason}")]
    Config {
        /// The layer.
        layer: String,
        /// Which hyper-parameter and why.
        reason: String,
    },
    /// `backward` was called without a training-mode `forward` before it.
    #[error("{layer}: backward called without a forward in Mode::Train before it")]
    NoForwardCache {
        /// The layer.
        layer: String,
    },
    /// Invalid input values, e.g. a class label out of range, or a gradient for another
    /// batch size than its forward's.
    #[error("{layer}: {reason}")]
    Input {
        /// The layer or loss.
        layer: String,
        /// What is wrong with the values.
        reason: String,
    },
    /// The layer's own code broke the [`Layer`](crate::Layer) contract: its two state
    /// visitors disagree, a parameter's gradient has another shape than its value, or
    /// its output is not the shape `output_shape` promised. A bug in that layer.
    #[error("{layer} breaks the Layer contract: {reason}")]
    Contract {
        /// The layer.
        layer: String,
        /// What it did.
        reason: String,
    },
}

impl LayerError {
    /// A [`LayerError::Shape`].
    pub fn shape(layer: &str, expected: impl Into<String>, got: &[usize]) -> Self {
        Self::Shape {
            layer: layer.to_string(),
            expected: expected.into(),
            got: got.to_vec(),
        }
    }

    /// A [`LayerError::Config`].
    pub fn config(layer: &str, reason: impl Into<String>) -> Self {
        Self::Config {
            layer: layer.to_string(),
            reason: reason.into(),
        }
    }

    /// A [`LayerError::Input`].
    pub fn input(layer: &str, reason: impl Into<String>) -> Self {
        Self::Input {
            layer: layer.to_string(),
            reason: reason.into(),
        }
    }

    /// A [`LayerError::Contract`].
    pub fn contract(layer: &str, reason: impl Into<String>) -> Self {
        Self::Contract {
            layer: layer.to_string(),
            reason: reason.into(),
        }
    }

    /// A [`LayerError::NoForwardCache`].
    pub fn no_forward_cache(layer: &str) -> Self {
        Self::NoForwardCache {
            layer: layer.to_string(),
        }
    }

    /// The same error, with the layer named by its place in a model:
    /// `"Dense"` inside `fc1` becomes `"fc1 (Dense)"`, and `"fc1 (Dense)"`
    /// inside `head` becomes `"head.fc1 (Dense)"`.
    pub fn within(self, path: &str) -> Self {
        let rename = |layer: String| {
            if layer.contains(" (") {
                format!("{path}.{layer}")
            } else {
                format!("{path} ({layer})")
            }
        };
        match self {
            Self::Shape {
                layer,
                expected,
                got,
            } => Self::Shape {
                layer: rename(layer),
                expected,
                got,
            },
            Self::Config { layer, reason } => Self::Config {
                layer: rename(layer),
                reason,
            },
            Self::NoForwardCache { layer } => Self::NoForwardCache {
                layer: rename(layer),
            },
            Self::Input { layer, reason } => Self::Input {
                layer: rename(layer),
                reason,
            },
            Self::Contract { layer, reason } => Self::Contract {
                layer: rename(layer),
                reason,
            },
        }
    }
}
