//! Which kernels run: the plain [`reference`](crate::reference) loops, or the fast ones.
//!
//! Every operation a layer uses exists twice. The **reference** tier is a few
//! plain loops per function that read like the formula (no threads, no SIMD,
//! no `unsafe`): the definition, and what a learner steps through in a debugger.
//! The **fast** tier (im2col and direct convolution on a blocked GEMM, AVX2 when
//! the CPU has it, chunks on rayon's pool) is what trains by default; property
//! tests hold it to the reference.
//!
//! The choice is the program's, made once, before training:
//!
//! - in code, [`set_kernels`]`(Kernels::Reference)`;
//! - from the environment, `SCRATCHNET_KERNELS=reference` (or `fast`), read the
//!   first time a kernel asks and `set_kernels` has not been called;
//! - in the examples, `--kernels reference|fast`.
//!
//! A second, independent switch turns the hand-vectorised AVX2 paths of the fast
//! tier off, so that its portable paths run even on a CPU that has AVX2:
//! [`set_simd`]`(false)` or `SCRATCHNET_SIMD=off`. CI runs the tensor tests both ways.
//!
//! ```
//! use scratchnet_tensor::kernels::{kernels, Kernels};
//! assert_eq!("reference".parse::<Kernels>(), Ok(Kernels::Reference));
//! assert!(matches!(kernels(), Kernels::Reference | Kernels::Fast));
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that chooses the kernels: `reference` or `fast`.
pub const KERNELS_ENV: &str = "SCRATCHNET_KERNELS";

/// The environment variable that turns the AVX2 paths off: `off` (or `0`, `false`, `portable`).
pub const SIMD_ENV: &str = "SCRATCHNET_SIMD";

/// Which implementation of the numeric kernels runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Kernels {
    /// The plain loops of [`reference`](crate::reference): slow, single-threaded, obvious.
    Reference,
    /// The optimised kernels (blocked GEMM, AVX2, rayon). The default.
    #[default]
    Fast,
}

impl Kernels {
    /// The name used by the flag and the environment variable.
    pub fn as_str(self) -> &'static str {
        match self {
            Kernels::Reference => "reference",
            Kernels::Fast => "fast",
        }
    }

    /// The choice in [`KERNELS_ENV`], `None` if it is unset or empty.
    ///
    /// # Errors
    /// A message naming the variable and the accepted values if it holds anything else.
    pub fn from_env() -> Result<Option<Kernels>, String> {
        match std::env::var(KERNELS_ENV) {
            Ok(value) if value.trim().is_empty() => Ok(None),
            Ok(value) => value
                .parse()
                .map(Some)
                .map_err(|e| format!("{KERNELS_ENV}: {e}")),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!(
                "{KERNELS_ENV} is not valid UTF-8; set it to `reference` or `fast`"
            )),
        }
    }
}

impl fmt::Display for Kernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kernels {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "reference" | "ref" => Ok(Kernels::Reference),
            "fast" => Ok(Kernels::Fast),
            _ => Err(format!(
                "unknown kernels `{s}`: use `reference` (plain loops) or `fast`"
            )),
        }
    }
}

const UNSET: u8 = 0;
const REFERENCE: u8 = 1;
const FAST: u8 = 2;

static KERNELS: AtomicU8 = AtomicU8::new(UNSET);

/// Chooses the kernels for the whole program, from now on.
///
/// Switching between batches is safe, and so is switching between a forward
/// and its backward: a forward that keeps something in its tier's own layout
/// (the convolution's [`Conv2dCache`](crate::conv::Conv2dCache), max pooling's
/// [`MaxPoolIndices`](crate::pool::MaxPoolIndices), the loss layer's logits) records its tier, and its
/// backward runs on that tier; the other backwards compute the same function
/// from the same saved tensors on whichever tier is chosen when they run.
pub fn set_kernels(choice: Kernels) {
    KERNELS.store(encode(choice), Ordering::Relaxed);
}

/// The kernels in use: those of [`set_kernels`], else those of [`KERNELS_ENV`], else
/// [`Kernels::Fast`]. An invalid value in the environment is reported once on
/// stderr and ignored (programs that want it to be an error check
/// [`Kernels::from_env`] themselves, as the examples do).
#[inline]
pub fn kernels() -> Kernels {
    match KERNELS.load(Ordering::Relaxed) {
        REFERENCE => Kernels::Reference,
        FAST => Kernels::Fast,
        _ => kernels_from_env(),
    }
}

/// The first call of [`kernels`] without [`set_kernels`]: decides from the environment.
#[cold]
fn kernels_from_env() -> Kernels {
    let choice = Kernels::from_env().unwrap_or_else(|message| {
        eprintln!("warning: {message}; using the fast kernels");
        None
    });
    let choice = choice.unwrap_or_default();
    // Another thread may have decided first: keep its answer.
    match KERNELS.compare_exchange(UNSET, encode(choice), Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => choice,
        Err(_) => kernels(),
    }
}

/// Whether the reference kernels are in use: `kernels() == Kernels::Reference`.
#[inline]
pub fn use_reference() -> bool {
    kernels() == Kernels::Reference
}

fn encode(choice: Kernels) -> u8 {
    match choice {
        Kernels::Reference => REFERENCE,
        Kernels::Fast => FAST,
    }
}

const SIMD_ON: u8 = 1;
const SIMD_OFF: u8 = 2;

/// [`set_simd`]'s choice, or [`UNSET`] to read [`SIMD_ENV`].
static SIMD: AtomicU8 = AtomicU8::new(UNSET);

/// [`avx2_fma_available`]'s answer once known ([`SIMD_ON`] or [`SIMD_OFF`]): the fast
/// kernels ask it for every product, so it is one load once decided.
static AVX2_FMA: AtomicU8 = AtomicU8::new(UNSET);

/// Allows (`true`, the default) or forbids the fast tier's hand-vectorised AVX2
/// paths; forbidden, the portable paths run instead. Results agree to rounding.
pub fn set_simd(enabled: bool) {
    SIMD.store(if enabled { SIMD_ON } else { SIMD_OFF }, Ordering::Relaxed);
    AVX2_FMA.store(UNSET, Ordering::Relaxed);
}

/// Whether the AVX2 paths are allowed: [`set_simd`], else [`SIMD_ENV`] (`off`, `0`,
/// `false` or `portable` forbid them), else allowed.
pub fn simd_enabled() -> bool {
    match SIMD.load(Ordering::Relaxed) {
        SIMD_ON => true,
        SIMD_OFF => false,
        _ => {
            let off = std::env::var(SIMD_ENV).is_ok_and(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "off" | "0" | "false" | "portable"
                )
            });
            let _ = SIMD.compare_exchange(
                UNSET,
                if off { SIMD_OFF } else { SIMD_ON },
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            SIMD.load(Ordering::Relaxed) == SIMD_ON
        }
    }
}

/// True if the AVX2 + FMA paths may run: the CPU has both and [`simd_enabled`].
#[inline]
pub fn avx2_fma_available() -> bool {
    match AVX2_FMA.load(Ordering::Relaxed) {
        SIMD_ON => true,
        SIMD_OFF => false,
        _ => decide_avx2_fma(),
    }
}

/// The first call of [`avx2_fma_available`] (or the first after [`set_simd`]).
#[cold]
fn decide_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    let cpu = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    let cpu = false;
    let available = cpu && simd_enabled();
    AVX2_FMA.store(
        if available { SIMD_ON } else { SIMD_OFF },
        Ordering::Relaxed,
    );
    available
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_explained() {
        for k in [Kernels::Reference, Kernels::Fast] {
            assert_eq!(k.as_str().parse::<Kernels>(), Ok(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!(" Fast ".parse::<Kernels>(), Ok(Kernels::Fast));
        let err = "turbo".parse::<Kernels>().unwrap_err();
        assert!(err.contains("turbo") && err.contains("reference"), "{err}");
    }
}
