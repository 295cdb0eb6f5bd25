//! The int8 mode end to end on the bundled demo model: every kernel this CPU runs gives the
//! same logits (they compute the same integers), close to f32, in both batch layouts; and
//! int8 refuses what it cannot run.

use std::path::Path;

use clinfer_core::int8::Kernel;
use clinfer_core::{BatchLayout, DType, Device, Error, Model};

fn demo() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/clinfer-demo-sst2"
    ))
}

fn rows() -> Vec<Vec<u32>> {
    (0..7)
        .map(|r| {
            (0..(3 + r * 5))
                .map(|t| 101 + ((r * 37 + t * 11) % 2000) as u32)
                .collect()
        })
        .collect()
}

fn kernels() -> Vec<Kernel> {
    let mut k = vec![Kernel::Portable];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            k.push(Kernel::Avx2);
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512bw")
        {
            k.push(Kernel::Avx512Vnni);
        }
    }
    if Kernel::detect() == Kernel::Amx {
        k.push(Kernel::Amx);
    }
    k
}

#[test]
fn every_kernel_gives_the_same_logits_close_to_f32() {
    let rows = rows();
    let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
    let f32_model = Model::from_dir(demo(), &Device::Cpu, DType::F32).unwrap();
    assert_eq!(f32_model.mode(), "f32");
    #[cfg(target_arch = "x86_64")]
    let packed = std::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    let packed = false;
    assert_eq!(
        f32_model.kernel(),
        if packed { "avx512-f32" } else { "gemm-f32" }
    );
    let exact = f32_model.logits(&refs).unwrap();
    let mut first: Option<Vec<Vec<f32>>> = None;
    for kernel in kernels() {
        let mut m = Model::from_dir(demo(), &Device::Cpu, DType::F32).unwrap();
        m.quantize_int8(kernel).unwrap();
        assert_eq!(m.mode(), "int8");
        assert_eq!(m.kernel(), kernel.name());
        for layout in [BatchLayout::Packed, BatchLayout::Padded] {
            let got = m.logits_in(&refs, layout).unwrap();
            let diff = got
                .iter()
                .flatten()
                .zip(exact.iter().flatten())
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                diff < 0.3,
                "{kernel:?} {layout:?}: max logit difference {diff}"
            );
            match (&first, layout) {
                (None, _) => first = Some(got),
                // the kernels compute the same integers: identical logits (packed layout)
                (Some(f), BatchLayout::Packed) => assert_eq!(&got, f, "{kernel:?}"),
                _ => {}
            }
        }
    }
}

#[test]
fn int8_refuses_a_model_that_is_not_f32() {
    let mut m = Model::from_dir(demo(), &Device::Cpu, DType::BF16).unwrap();
    let e = m.quantize_int8(Kernel::detect()).unwrap_err();
    assert!(matches!(e, Error::InvalidConfig(_)), "{e:?}");
    assert!(e.to_string().contains("f32"), "{e}");
    // the model is unchanged and still runs
    assert_eq!(m.mode(), "bf16");
    assert_eq!(m.logits(&[&[101, 2023, 102]]).unwrap().len(), 1);
}
