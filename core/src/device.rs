//! Choosing the device and the compute dtype.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device};

use crate::error::{Error, Result};

/// Where the model runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The CPU (the default).
    #[default]
    Cpu,
    /// A CUDA GPU by ordinal. Needs the `cuda` feature and a GPU; otherwise loading fails with
    /// [`Error::Device`].
    Cuda(usize),
    /// CUDA device 0 when the `cuda` feature is compiled in and a GPU answers, else the CPU.
    Auto,
}

impl FromStr for DeviceSpec {
    type Err = Error;

    /// Parses `cpu`, `cuda`, `cuda:N` or `auto`.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Self::Cpu),
            "auto" => Ok(Self::Auto),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| {
                    Error::Device(format!(
                        "unknown device {s:?} (expected cpu, cuda, cuda:N or auto)"
                    ))
                }),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Auto => f.write_str("auto"),
        }
    }
}

impl DeviceSpec {
    /// Opens the device.
    ///
    /// # Errors
    /// [`Error::Device`] when CUDA is requested but not compiled in or not present.
    pub fn resolve(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(ordinal) => open_cuda(ordinal),
            Self::Auto => Ok(open_cuda(0).unwrap_or(Device::Cpu)),
        }
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(ordinal: usize) -> Result<Device> {
    // cudarc loads libcuda dynamically and may panic when it is absent: contain that.
    let opened = std::panic::catch_unwind(|| Device::new_cuda(ordinal));
    match opened {
        Ok(Ok(device)) => Ok(device),
        Ok(Err(e)) => Err(Error::Device(format!(
            "CUDA device {ordinal} cannot be opened: {e}"
        ))),
        Err(_) => Err(Error::Device(format!(
            "CUDA device {ordinal} cannot be opened: the CUDA driver library is not available"
        ))),
    }
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(ordinal: usize) -> Result<Device> {
    Err(Error::Device(format!(
        "CUDA device {ordinal} requested, but clinfer-core was built without the `cuda` feature"
    )))
}

/// The compute dtype of the linear layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DTypeSpec {
    /// f32 on the CPU, f16 on CUDA (the default).
    #[default]
    Auto,
    /// 32-bit floats.
    F32,
    /// IEEE half precision (LayerNorm and softmax still accumulate in f32).
    F16,
    /// bfloat16 (LayerNorm and softmax still accumulate in f32).
    BF16,
    /// int8 linear layers on the CPU: weights quantized per output channel at load,
    /// activations per row at each call; everything else in f32 (see [`crate::int8`]).
    Int8,
}

impl FromStr for DTypeSpec {
    type Err = Error;

    /// Parses `auto`, `f32`, `f16`, `bf16` or `int8`.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "f32" | "float32" => Ok(Self::F32),
            "f16" | "float16" | "half" => Ok(Self::F16),
            "bf16" | "bfloat16" => Ok(Self::BF16),
            "int8" | "qint8" => Ok(Self::Int8),
            _ => Err(Error::InvalidConfig(format!(
                "unknown dtype {s:?} (expected auto, f32, f16, bf16 or int8)"
            ))),
        }
    }
}

impl DTypeSpec {
    /// The dtype the weights are loaded in on `device` (f32 for `int8`, which quantizes
    /// the f32 weights after loading).
    #[must_use]
    pub fn resolve(self, device: &Device) -> DType {
        match self {
            Self::Auto if device.is_cuda() => DType::F16,
            Self::Auto | Self::F32 | Self::Int8 => DType::F32,
            Self::F16 => DType::F16,
            Self::BF16 => DType::BF16,
        }
    }

    /// The name `FromStr` parses: `auto`, `f32`, `f16`, `bf16` or `int8`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::BF16 => "bf16",
            Self::Int8 => "int8",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("CUDA".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:2".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(2));
        assert_eq!("auto".parse::<DeviceSpec>().unwrap(), DeviceSpec::Auto);
        assert!("tpu".parse::<DeviceSpec>().is_err());
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
    }

    #[test]
    fn auto_always_yields_a_device_and_its_default_dtype() {
        let device = DeviceSpec::Auto.resolve().unwrap();
        let expected = if device.is_cuda() {
            DType::F16
        } else {
            assert!(device.is_cpu(), "auto gives CUDA or the CPU");
            DType::F32
        };
        assert_eq!(DTypeSpec::Auto.resolve(&device), expected);
        // an explicit dtype is kept on any device
        assert_eq!(DTypeSpec::BF16.resolve(&device), DType::BF16);
        assert_eq!(DTypeSpec::Int8.resolve(&device), DType::F32);
    }

    #[test]
    fn parses_dtype_names_and_rejects_others_clearly() {
        for spec in [
            DTypeSpec::Auto,
            DTypeSpec::F32,
            DTypeSpec::F16,
            DTypeSpec::BF16,
            DTypeSpec::Int8,
        ] {
            assert_eq!(spec.name().parse::<DTypeSpec>().unwrap(), spec);
        }
        assert_eq!(" INT8 ".parse::<DTypeSpec>().unwrap(), DTypeSpec::Int8);
        let e = "int4".parse::<DTypeSpec>().unwrap_err();
        assert!(matches!(e, Error::InvalidConfig(_)), "{e:?}");
        assert!(e.to_string().contains("int8"), "{e}");
    }

    #[test]
    fn cuda_resolves_or_is_a_clear_error() {
        match DeviceSpec::Cuda(0).resolve() {
            // a build with `cuda` on a machine with a GPU
            Ok(device) => {
                assert!(device.is_cuda());
                if !cfg!(feature = "cuda") {
                    panic!("a CUDA device without the cuda feature");
                }
            }
            Err(e) => {
                assert!(matches!(e, Error::Device(_)), "{e:?}");
                assert!(e.to_string().contains("CUDA"), "{e}");
            }
        }
        // without the feature there is never a CUDA device
        if !cfg!(feature = "cuda") {
            assert!(DeviceSpec::Cuda(0).resolve().is_err());
            assert!(DeviceSpec::Auto.resolve().unwrap().is_cpu());
        }
    }
}
