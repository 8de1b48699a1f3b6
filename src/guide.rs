// The guide's text is docs/extending.md and docs/extending/part-2.md, with the code
// of its layer, src/guide/prelu.rs, shown between them: the layer is written once,
// compiled as `guide::prelu`, and the guide's later blocks import it.
//
// docs/extending.md links to the layer's file and to part 2 by reference
// (`[…][prelu-file]`, `[…][part-2]`), defined at its end with paths relative to docs/
// for GitHub. In Markdown the first definition of a label wins, so the ones below,
// before the text, send rustdoc's links to the module and to part 2 on this page.
#![doc = "[prelu-file]: crate::guide::prelu\n[part-2]: #what-each-method-must-do\n"]
#![doc = include_str!("../docs/extending.md")]
#![doc = concat!("```rust\n", include_str!("guide/prelu.rs"), "```\n")]
#![doc = include_str!("../docs/extending/part-2.md")]

/// The layer the guide writes: [`PReLU`](prelu::PReLU), a parametric ReLU with one
/// learnable slope per channel. Its code is shown in full in the [guide](self).
pub mod prelu;
