// The guide's text is docs/extending.md and docs/extending/part-2.md, with the code
// of its layer, src/guide/prelu.rs, shown between them: the layer is written once,
// compiled as `guide::prelu`, and the guide's later blocks import it.
#![doc = include_str!("../docs/extending.md")]
#![doc = concat!("```rust\n", include_str!("guide/prelu.rs"), "```\n")]
#![doc = include_str!("../docs/extending/part-2.md")]

/// The layer the guide writes: [`PReLU`](prelu::PReLU), a parametric ReLU with one
/// learnable slope per channel. Its code is shown in full in the [guide](self).
pub mod prelu;
