//! What the golden tests share (`golden.rs`, `golden_more.rs`, `golden_modern.rs`):
//! reading a directory of PyTorch fixtures, one test per fixture, and the check
//! that no fixture on disk is left without its test.

use ndarray::{ArrayD, IxDyn};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::PathBuf;

/// A tensor of a fixture, in row-major order, in float64.
#[derive(Deserialize)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Tensor {
    /// As `f32`, checking every value is exactly representable (the generators'
    /// promise for inputs, parameters and `grad_output`); `what` names it.
    pub fn to_f32_exact(&self, what: &str) -> ArrayD<f32> {
        for (i, &v) in self.data.iter().enumerate() {
            assert_eq!(
                f64::from(v as f32),
                v,
                "{what}[{i}] = {v} is not exactly representable in f32: regenerate the fixtures"
            );
        }
        let data = self.data.iter().map(|&v| v as f32).collect();
        ArrayD::from_shape_vec(IxDyn(&self.shape), data).expect("shape matches data")
    }
}

/// A directory of fixtures, `<dir>/<case>.json`, and the script that writes them.
pub struct FixtureSet {
    /// Relative to the crate's directory, e.g. `tests/fixtures_more`.
    pub dir: &'static str,
    /// Relative to the repository's root, e.g. `tools/golden/generate_more.py`.
    pub generator: &'static str,
}

impl FixtureSet {
    fn path(&self) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(self.dir)
    }

    /// The fixture of `case`, checking that it says it is that case.
    pub fn load<F: DeserializeOwned>(&self, case: &str) -> F {
        let path = self.path().join(format!("{case}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (regenerate with {})",
                path.display(),
                self.generator
            )
        });
        let value: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        assert_eq!(value["case"], case, "{}: wrong case name", path.display());
        serde_json::from_value(value)
            .unwrap_or_else(|e| panic!("{}: not a golden fixture: {e}", path.display()))
    }

    /// Panics unless the fixtures on disk are exactly `cases`: a fixture
    /// without a test fails, and so does a test without a fixture.
    pub fn assert_every_fixture_has_a_case(&self, cases: &[&str]) {
        let mut on_disk: Vec<String> = std::fs::read_dir(self.path())
            .unwrap_or_else(|e| panic!("{}: {e}; run {}", self.dir, self.generator))
            .filter_map(|entry| {
                let path = entry.expect("readable").path();
                (path.extension()? == "json")
                    .then(|| path.file_stem()?.to_str().map(String::from))?
            })
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = cases.iter().map(|c| c.to_string()).collect();
        listed.sort();
        assert_eq!(
            on_disk, listed,
            "fixtures in {} vs cases in golden_cases!",
            self.dir
        );
    }
}

/// `golden_cases!(run; a, b, …)`: a test `a` that calls `run("a")`, …, and
/// `CASES`, every case by fixture name.
macro_rules! golden_cases {
    ($run:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $run(stringify!($case));
            }
        )*
        /// Every case with a test, by fixture name.
        const CASES: &[&str] = &[$(stringify!($case)),*];
    };
}
pub(crate) use golden_cases;
