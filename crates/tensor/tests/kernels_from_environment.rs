//! The kernels a program gets when it does not choose: `SCRATCHNET_KERNELS`, read on
//! the first call of `kernels()`, else the fast tier. One test alone in its binary, so
//! that nothing has chosen before it.

use scratchnet_tensor::kernels::{kernels, set_kernels, Kernels, KERNELS_ENV};

#[test]
fn the_environment_chooses_the_kernels_until_the_program_does() {
    // No other thread of this binary reads the environment.
    std::env::set_var(KERNELS_ENV, "reference");
    assert_eq!(kernels(), Kernels::Reference);
    // Read once: a later change of the environment does not switch tiers mid-run.
    std::env::set_var(KERNELS_ENV, "fast");
    assert_eq!(kernels(), Kernels::Reference);
    set_kernels(Kernels::Fast);
    assert_eq!(kernels(), Kernels::Fast);
}
