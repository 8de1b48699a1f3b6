//! Which numeric kernels a program runs: `--kernels reference|fast`, else
//! `SCRATCHNET_KERNELS`, else fast (see [`scratchnet_tensor::kernels`]).

use scratchnet_tensor::kernels::{
    avx2_fma_available, avx512_available, direct_3x3_for_16_channels, Kernels,
};

/// The kernels to run: `flag` (`--kernels`) if given, else the choice in
/// `SCRATCHNET_KERNELS`, else [`Kernels::Fast`].
///
/// # Errors
/// A one-line message naming `SCRATCHNET_KERNELS` if the flag is absent and the
/// variable holds something other than `reference` or `fast`.
pub fn choose_kernels(flag: Option<Kernels>) -> Result<Kernels, String> {
    match flag {
        Some(choice) => Ok(choice),
        None => Ok(Kernels::from_env()?.unwrap_or_default()),
    }
}

/// The kernels as the run's summary names them: `reference (plain loops)`,
/// `fast (AVX-512 and AVX2)`, `fast (AVX2)` or `fast (portable)`; on a CPU where
/// 16-channel 3×3 convolutions take the direct kernel, whose rounding differs from
/// Winograd's ([`direct_3x3_for_16_channels`]), `fast (AVX-512 and AVX2; direct 3×3
/// at 16 channels)`.
///
/// ```
/// use scratchnet_tensor::kernels::Kernels;
/// assert_eq!(scratchnet_cli::describe_kernels(Kernels::Reference), "reference (plain loops)");
/// assert!(scratchnet_cli::describe_kernels(Kernels::Fast).starts_with("fast ("));
/// ```
pub fn describe_kernels(kernels: Kernels) -> String {
    let how = match kernels {
        Kernels::Reference => "plain loops",
        Kernels::Fast if direct_3x3_for_16_channels() => {
            "AVX-512 and AVX2; direct 3×3 at 16 channels"
        }
        Kernels::Fast if avx512_available() => "AVX-512 and AVX2",
        Kernels::Fast if avx2_fma_available() => "AVX2",
        Kernels::Fast => "portable",
    };
    format!("{kernels} ({how})")
}

/// Parses a `--kernels` value (a clap value parser).
///
/// # Errors
/// The accepted values, for anything but `reference` or `fast`.
pub fn kernels_flag(value: &str) -> Result<Kernels, String> {
    value.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_kernels_are_described_by_what_this_cpu_runs() {
        let described = describe_kernels(Kernels::Fast);
        let says = |what: &str| described.contains(what);
        assert_eq!(says("AVX-512"), avx512_available(), "{described}");
        assert_eq!(says("AVX2"), avx2_fma_available(), "{described}");
        assert_eq!(
            says("direct 3×3"),
            direct_3x3_for_16_channels(),
            "{described}"
        );
        assert_eq!(says("portable"), !avx2_fma_available(), "{described}");
    }
}
