//! The element-wise sum of two tensors, `total += addend`: a residual connection's
//! `body(x) + shortcut(x)`, and the sum of the two gradients its backward returns.
//!
//! Parallel over fixed chunks of [`ELEMENT_CHUNK`] elements (each element is one
//! IEEE addition whoever computes it, so the bits never depend on the thread
//! count); on the reference tier ([`crate::kernels`]) it runs its plain
//! [`reference`](mod@reference) counterpart.

use crate::activation::worth_threads;
use crate::kernels::use_reference;
use crate::parallel::{for_each_chunk, ELEMENT_CHUNK};
use crate::reference;
use ndarray::{ArrayD, ArrayViewD};

/// `total[i] += addend[i]` for every element `i`.
///
/// # Shapes
/// `total` and `addend` have one shape (any).
///
/// # Panics
/// If the two differ in shape.
#[track_caller]
pub fn add_assign(total: &mut ArrayD<f32>, addend: ArrayViewD<f32>) {
    assert_eq!(total.shape(), addend.shape(), "add_assign: shapes differ");
    if use_reference() || !total.is_standard_layout() {
        return reference::add_assign(total.view_mut(), addend);
    }
    let addend = addend.as_standard_layout();
    let addend = addend.as_slice().expect("standard layout");
    let total = total.as_slice_mut().expect("checked: standard layout");
    let parallel = worth_threads(total.len());
    let chunks: Vec<_> = total
        .chunks_mut(ELEMENT_CHUNK)
        .zip(addend.chunks(ELEMENT_CHUNK))
        .collect();
    let add = |(t, a): (&mut [f32], &[f32])| {
        for (t, &a) in t.iter_mut().zip(a) {
            *t += a;
        }
    };
    if parallel {
        for_each_chunk(chunks, add);
    } else {
        chunks.into_iter().for_each(add);
    }
}
