//! `cfg(rustc_1_89)` when the compiler has the AVX-512 intrinsics (stable since Rust
//! 1.89): the AVX-512 GEMM (`src/gemm/avx512.rs`) is compiled only then, so the crate
//! still builds on the workspace's minimum Rust, 1.86, with its AVX2 and portable paths.

fn main() {
    autocfg::new().emit_rustc_version(1, 89);
    autocfg::rerun_path("build.rs");
}
