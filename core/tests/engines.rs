//! Every CPU engine gives transformers' numbers: the fast encoder with the AVX-512 packed
//! kernel (where the CPU has it), the fast encoder with the `gemm` crate, and candle's
//! tensor ops (`CLINFER_CPU_ENGINE=candle`); and in bf16 the AVX-512 BF16 kernel (where the
//! CPU has it), its emulation (`CLINFER_BF16_KERNEL=emulated`) and candle's bf16. The engine
//! is chosen when a model loads, from the environment, so this binary holds a single test
//! that sets the variables in turn.

mod common;

use candle_core::Tensor;
use clinfer_core::{BatchLayout, DType, Device, Model};
use common::{fixture_cases, max_abs_diff, Reference};

fn as_slices(rows: &[Vec<u32>]) -> Vec<&[u32]> {
    rows.iter().map(Vec::as_slice).collect()
}

fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn load(case: &std::path::Path, engine: Option<&str>, kernel: Option<&str>) -> Model {
    match engine {
        Some(e) => std::env::set_var("CLINFER_CPU_ENGINE", e),
        None => std::env::remove_var("CLINFER_CPU_ENGINE"),
    }
    match kernel {
        Some(k) => std::env::set_var("CLINFER_F32_KERNEL", k),
        None => std::env::remove_var("CLINFER_F32_KERNEL"),
    }
    let m = Model::from_dir(case, &Device::Cpu, DType::F32).unwrap();
    std::env::remove_var("CLINFER_CPU_ENGINE");
    std::env::remove_var("CLINFER_F32_KERNEL");
    m
}

/// One test, because the engine is chosen from process-wide environment variables.
#[test]
fn every_cpu_engine_and_kernel() {
    every_f32_engine_matches_transformers_and_each_other();
    every_bf16_kernel_stays_close_to_transformers();
}

fn every_f32_engine_matches_transformers_and_each_other() {
    let engines = [
        (Some("candle"), None, "candle-cpu", "candle"),
        (None, Some("gemm"), "gemm-f32", "fast"),
        (
            None,
            None,
            if avx512() { "avx512-f32" } else { "gemm-f32" },
            "fast",
        ),
    ];
    for case in fixture_cases() {
        let reference = Reference::load(&case);
        let rows = reference.rows();
        let mut masked: Vec<Vec<Vec<f32>>> = Vec::new();
        for (engine, kernel, name, which) in engines {
            let model = load(&case, engine, kernel);
            assert_eq!(model.kernel(), name, "{}", case.display());
            assert_eq!(model.network().engine(), which);
            for layout in [BatchLayout::Padded, BatchLayout::Packed] {
                let got = model.logits_in(&as_slices(&rows), layout).unwrap();
                let diff = max_abs_diff(&got, &reference.logits);
                assert!(diff <= 1e-4, "{} {name} {layout:?}: {diff}", case.display());
            }
            // a mask with holes and left padding goes through the masked-key path of the
            // fast encoder; candle's additive bias is the reference
            let ids = Tensor::new(&[[1u32, 9, 4, 7, 2], [0, 1, 12, 5, 2]], &Device::Cpu).unwrap();
            let mask = Tensor::new(&[[1u32, 1, 0, 1, 1], [0, 1, 1, 1, 1]], &Device::Cpu).unwrap();
            let logits: Vec<Vec<f32>> = model
                .network()
                .forward(&ids, Some(&mask))
                .unwrap()
                .to_vec2()
                .unwrap();
            masked.push(logits);
        }
        for other in &masked[1..] {
            let diff = max_abs_diff(other, &masked[0]);
            assert!(
                diff <= 1e-4,
                "{}: masked rows differ by {diff}",
                case.display()
            );
        }
    }
}

fn every_bf16_kernel_stays_close_to_transformers() {
    fn avx512_bf16() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
    let kernels = [
        (Some("candle"), None, "candle-cpu"),
        (None, Some("emulated"), "bf16-emulated"),
        (
            None,
            None,
            if avx512_bf16() {
                "avx512-bf16"
            } else {
                "bf16-emulated"
            },
        ),
    ];
    for case in fixture_cases() {
        let reference = Reference::load(&case);
        let rows = reference.rows();
        for (engine, kernel, name) in kernels {
            match engine {
                Some(e) => std::env::set_var("CLINFER_CPU_ENGINE", e),
                None => std::env::remove_var("CLINFER_CPU_ENGINE"),
            }
            match kernel {
                Some(k) => std::env::set_var("CLINFER_BF16_KERNEL", k),
                None => std::env::remove_var("CLINFER_BF16_KERNEL"),
            }
            let model = Model::from_dir(&case, &Device::Cpu, DType::BF16).unwrap();
            std::env::remove_var("CLINFER_CPU_ENGINE");
            std::env::remove_var("CLINFER_BF16_KERNEL");
            assert_eq!((model.mode(), model.kernel()), ("bf16", name));
            for layout in [BatchLayout::Padded, BatchLayout::Packed] {
                let got = model.logits_in(&as_slices(&rows), layout).unwrap();
                let diff = max_abs_diff(&got, &reference.logits);
                // candle's bf16 rounds between ops too; the fast encoder only at the products
                let bound = if engine.is_some() { 0.2 } else { 0.1 };
                println!("{} {name} {layout:?}: {diff}", case.display());
                assert!(
                    diff <= bound,
                    "{} {name} {layout:?}: {diff}",
                    case.display()
                );
            }
        }
    }
}
