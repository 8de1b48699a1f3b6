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
//! A second, independent switch limits the hand-vectorised paths of the fast
//! tier (AVX-512, AVX2), so that its narrower paths run even on a CPU that has
//! the wider ones: [`set_simd_limit`] or `SCRATCHNET_SIMD=off` (portable loops
//! only) and `SCRATCHNET_SIMD=avx2` (no AVX-512). CI runs the tensor tests all three ways.
//!
//! One choice of the fast tier depends on the CPU beyond its instruction sets: a 3×3
//! stride-1 convolution of 16 input channels runs a direct AVX-512 kernel on Intel CPUs
//! (two full-width 512-bit FMA units per core, where it is faster) and Winograd's
//! `F(2×2, 3×3)` elsewhere (AMD's Zen 4 splits a 512-bit FMA in two, and Winograd's
//! fewer multiply-adds win). The two round differently, so such a network's weights are
//! bit-identical across thread counts on one machine, not across the two kinds of CPU.
//! `SCRATCHNET_DIRECT3X3=1` (or `0`) forces the choice on any AVX-512 CPU, for measuring
//! one strategy against the other.
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

/// The environment variable that limits the hand-vectorised paths: `off` (or `0`,
/// `false`, `portable`) turns them off, `avx2` keeps AVX-512 off (see [`SimdLimit`]).
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

/// How wide the fast tier's hand-vectorised paths may go: each path runs only
/// when the CPU has its instructions *and* this limit allows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdLimit {
    /// No hand-vectorised path: the portable loops (`SCRATCHNET_SIMD=off`).
    Portable,
    /// AVX2 + FMA at most, even on a CPU with AVX-512 (`SCRATCHNET_SIMD=avx2`).
    Avx2,
    /// The widest the CPU has: AVX-512, else AVX2 + FMA, else portable. The default.
    #[default]
    Widest,
}

impl SimdLimit {
    /// The limit named by a [`SIMD_ENV`] value: `off`, `0`, `false` or `portable`
    /// give [`SimdLimit::Portable`], `avx2` [`SimdLimit::Avx2`], anything else
    /// [`SimdLimit::Widest`].
    pub fn from_env_value(value: &str) -> SimdLimit {
        match value.trim().to_ascii_lowercase().as_str() {
            "off" | "0" | "false" | "portable" => SimdLimit::Portable,
            "avx2" => SimdLimit::Avx2,
            _ => SimdLimit::Widest,
        }
    }

    fn encode(self) -> u8 {
        match self {
            SimdLimit::Portable => 1,
            SimdLimit::Avx2 => 2,
            SimdLimit::Widest => 3,
        }
    }
}

/// [`set_simd_limit`]'s choice ([`SimdLimit::encode`]), or [`UNSET`] to read [`SIMD_ENV`].
static SIMD: AtomicU8 = AtomicU8::new(UNSET);

const SIMD_ON: u8 = 1;
const SIMD_OFF: u8 = 2;

/// [`avx2_fma_available`]'s answer once known ([`SIMD_ON`] or [`SIMD_OFF`]): the fast
/// kernels ask it for every product, so it is one load once decided.
static AVX2_FMA: AtomicU8 = AtomicU8::new(UNSET);

/// [`avx512_available`]'s answer once known, as for [`AVX2_FMA`].
static AVX512: AtomicU8 = AtomicU8::new(UNSET);

/// Allows (`true`, the default: [`SimdLimit::Widest`]) or forbids
/// ([`SimdLimit::Portable`]) the fast tier's hand-vectorised paths; forbidden,
/// the portable paths run instead. Results agree to rounding.
pub fn set_simd(enabled: bool) {
    set_simd_limit(if enabled {
        SimdLimit::Widest
    } else {
        SimdLimit::Portable
    });
}

/// Limits the hand-vectorised paths to `limit` from now on (see [`SimdLimit`]).
///
/// Switching between a forward and its backward is safe, as for [`set_kernels`]: a
/// convolution's [`Conv2dCache`](crate::conv::Conv2dCache) records how its forward
/// laid the input out (which depends on the limit: the direct 3×3 kernel needs
/// AVX-512), and the backward reads it that way under the new limit.
pub fn set_simd_limit(limit: SimdLimit) {
    SIMD.store(limit.encode(), Ordering::Relaxed);
    AVX2_FMA.store(UNSET, Ordering::Relaxed);
    AVX512.store(UNSET, Ordering::Relaxed);
}

/// The limit in force: [`set_simd_limit`] (or [`set_simd`]), else [`SIMD_ENV`]
/// ([`SimdLimit::from_env_value`]), else [`SimdLimit::Widest`].
pub fn simd_limit() -> SimdLimit {
    let decoded = |code| match code {
        1 => Some(SimdLimit::Portable),
        2 => Some(SimdLimit::Avx2),
        3 => Some(SimdLimit::Widest),
        _ => None,
    };
    if let Some(limit) = decoded(SIMD.load(Ordering::Relaxed)) {
        return limit;
    }
    let from_env =
        std::env::var(SIMD_ENV).map_or(SimdLimit::Widest, |v| SimdLimit::from_env_value(&v));
    // Another thread may have decided first: keep its answer.
    let _ = SIMD.compare_exchange(
        UNSET,
        from_env.encode(),
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    decoded(SIMD.load(Ordering::Relaxed)).unwrap_or(from_env)
}

/// Whether any hand-vectorised path is allowed: [`simd_limit`] is not [`SimdLimit::Portable`].
pub fn simd_enabled() -> bool {
    simd_limit() != SimdLimit::Portable
}

/// True if the AVX2 + FMA paths may run: the CPU has both and [`simd_enabled`].
#[inline]
pub fn avx2_fma_available() -> bool {
    match AVX2_FMA.load(Ordering::Relaxed) {
        SIMD_ON => true,
        SIMD_OFF => false,
        _ => decide(&AVX2_FMA, cpu_has_avx2_fma() && simd_enabled()),
    }
}

/// True if the AVX-512 paths may run: the CPU has AVX-512F besides AVX2 and
/// FMA, and [`simd_limit`] is [`SimdLimit::Widest`].
#[inline]
pub fn avx512_available() -> bool {
    match AVX512.load(Ordering::Relaxed) {
        SIMD_ON => true,
        SIMD_OFF => false,
        _ => decide(
            &AVX512,
            cpu_has_avx512f() && avx2_fma_available() && simd_limit() == SimdLimit::Widest,
        ),
    }
}

/// True if the fast tier's 3×3 stride-1 convolutions of 16 input channels run the
/// direct AVX-512 kernel here rather than Winograd's (see the module docs): AVX-512
/// may run, and the CPU is an Intel one (unless `SCRATCHNET_DIRECT3X3` says otherwise).
pub fn direct_3x3_for_16_channels() -> bool {
    crate::direct3x3::runs(16, 16)
}

/// Records the first answer of [`avx2_fma_available`] or [`avx512_available`]
/// (or the first after [`set_simd_limit`]).
#[cold]
fn decide(cache: &AtomicU8, available: bool) -> bool {
    cache.store(
        if available { SIMD_ON } else { SIMD_OFF },
        Ordering::Relaxed,
    );
    available
}

fn cpu_has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    let cpu = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    let cpu = false;
    cpu
}

fn cpu_has_avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    let cpu = std::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    let cpu = false;
    cpu
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

    #[test]
    fn simd_environment_values_name_their_limits() {
        for off in ["off", "0", "false", " Portable "] {
            assert_eq!(SimdLimit::from_env_value(off), SimdLimit::Portable, "{off}");
        }
        assert_eq!(SimdLimit::from_env_value("AVX2"), SimdLimit::Avx2);
        assert_eq!(SimdLimit::from_env_value(""), SimdLimit::Widest);
        assert!(SimdLimit::Portable < SimdLimit::Avx2 && SimdLimit::Avx2 < SimdLimit::Widest);
    }
}
