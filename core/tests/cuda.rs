//! GPU parity: the fixtures on a CUDA device (feature `cuda`). Skipped, with the reason printed,
//! when no GPU answers, which is the case in CI.
#![cfg(feature = "cuda")]

mod common;

use clinfer_core::{DType, DeviceSpec, Model};
use common::{fixture_cases, max_abs_diff, Reference};

fn gpu() -> Option<clinfer_core::Device> {
    match DeviceSpec::Cuda(0).resolve() {
        Ok(device) => Some(device),
        Err(e) => {
            eprintln!("skipping CUDA parity: {e}");
            None
        }
    }
}

#[test]
fn auto_falls_back_to_the_cpu_without_a_gpu() {
    let device = DeviceSpec::Auto.resolve().expect("auto never fails");
    if gpu().is_none() {
        assert!(device.is_cpu());
    }
}

#[test]
fn cuda_parity_f32_and_f16() {
    let Some(device) = gpu() else {
        return;
    };
    for case in fixture_cases() {
        let reference = Reference::load(&case);
        let rows = reference.rows();
        let rows: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
        let scale = reference
            .logits
            .iter()
            .flatten()
            .fold(1.0f32, |m, x| m.max(x.abs()));
        for (dtype, tolerance, relative) in [
            (DType::F32, 1e-4f32, false),
            (DType::F16, 2e-2, true),
            (DType::BF16, 0.2, true),
        ] {
            let model = Model::from_dir(&case, &device, dtype).unwrap();
            let got = model.logits(&rows).unwrap();
            let mut diff = max_abs_diff(&got, &reference.logits);
            if relative {
                diff /= scale;
            }
            eprintln!("{} {dtype:?}: {diff:.2e}", case.display());
            assert!(diff <= tolerance, "{} {dtype:?}: {diff}", case.display());
        }
    }
}
