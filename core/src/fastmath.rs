//! Element-wise kernels of the CPU encoder ([`crate::models::fast`]): exp, GELU, softmax and
//! LayerNorm over f32 slices.
//!
//! Each is written branch-free over plain slices so that the compiler vectorises it, and is
//! compiled three times: for AVX-512, for AVX2 + FMA and for the build target; the widest one
//! this CPU runs is picked at run time ([`Isa::detect`]). `exp` and `erf` are polynomial
//! approximations (relative error of `exp` about 2 · 10⁻⁷, absolute error of `erf` below
//! 5 · 10⁻⁷ in f32), far inside the parity tolerance against transformers (1e-4 on the logits).

/// Runs `$body` compiled for the instruction set `$isa` names.
macro_rules! dispatch {
    ($isa:expr, $f:ident($($arg:expr),*)) => {{
        match $isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[inline]
                unsafe fn wide(f: impl FnOnce()) { f() }
                // SAFETY: `Isa::Avx512` comes from `Isa::detect`, so the CPU has AVX-512 F
                unsafe { wide(|| $f($($arg),*)) }
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                #[target_feature(enable = "avx2,fma")]
                #[inline]
                unsafe fn wide(f: impl FnOnce()) { f() }
                // SAFETY: `Isa::Avx2` comes from `Isa::detect`, so the CPU has AVX2 and FMA
                unsafe { wide(|| $f($($arg),*)) }
            }
            Isa::Base => $f($($arg),*),
        }
    }};
}

/// Which instruction set the element-wise kernels were compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// AVX-512 F (16 lanes).
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// AVX2 with FMA (8 lanes).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// The build target (SSE2 on a default x86-64 build).
    Base,
}

impl Isa {
    /// The widest set this CPU runs.
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                return Self::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Self::Avx2;
            }
        }
        Self::Base
    }
}

/// `e^x` for f32, Cephes' polynomial after reducing by powers of two; inputs below -87.3
/// give 0 (to within 1e-38) and above 88.7 saturate near `f32::MAX`; NaN stays NaN.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.7);
    let n = (x * LOG2E).round_ties_even();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p.mul_add(r, 1.398_2e-3);
    let p = p.mul_add(r, 8.333_452e-3);
    let p = p.mul_add(r, 4.166_579_6e-2);
    let p = p.mul_add(r, 1.666_666_5e-1);
    let p = p.mul_add(r, 0.5);
    let p = p.mul_add(r * r, r) + 1.0;
    // n is in [-126, 128]: build 2^n from its exponent bits (as two halves for n = 128)
    let ni = n as i32;
    let half = ni >> 1;
    let a = f32::from_bits(((half + 127) as u32) << 23);
    let b = f32::from_bits(((ni - half + 127) as u32) << 23);
    p * a * b
}

/// The error function, Abramowitz and Stegun 7.1.26 (absolute error below 1.5 · 10⁻⁷ in
/// exact arithmetic, below 5 · 10⁻⁷ in f32).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / 0.327_591_1_f32.mul_add(a, 1.0);
    let p = 1.061_405_4_f32;
    let p = p.mul_add(t, -1.453_152);
    let p = p.mul_add(t, 1.421_413_7);
    let p = p.mul_add(t, -0.284_496_72);
    let p = p.mul_add(t, 0.254_829_6);
    let y = 1.0 - p * t * exp(-a * a);
    y.copysign(x)
}

/// GELU with the exact error function, `x · (1 + erf(x / √2)) / 2`, in place.
pub(crate) fn gelu_erf(isa: Isa, xs: &mut [f32]) {
    #[inline(always)]
    fn body(xs: &mut [f32]) {
        for v in xs {
            let x = *v;
            *v = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
    dispatch!(isa, body(xs));
}

/// GELU with the tanh approximation (`gelu_new`), in place.
pub(crate) fn gelu_tanh(isa: Isa, xs: &mut [f32]) {
    #[inline(always)]
    fn body(xs: &mut [f32]) {
        const C: f32 = 0.797_884_6; // √(2/π)
        for v in xs {
            let x = *v;
            let u = C * (x + 0.044_715 * x * x * x);
            // tanh(u) = 1 - 2 / (e^{2u} + 1)
            let t = 1.0 - 2.0 / (exp(2.0 * u) + 1.0);
            *v = 0.5 * x * (1.0 + t);
        }
    }
    dispatch!(isa, body(xs));
}

/// ReLU in place.
pub(crate) fn relu(xs: &mut [f32]) {
    for v in xs {
        *v = v.max(0.0);
    }
}

/// Softmax of one row in place (max-subtracted, so any finite scores work).
pub(crate) fn softmax(isa: Isa, xs: &mut [f32]) {
    #[inline(always)]
    fn body(xs: &mut [f32]) {
        let max = max_of(xs);
        let mut lanes = [0f32; 16];
        let mut chunks = xs.chunks_exact_mut(16);
        for c in &mut chunks {
            for (l, v) in lanes.iter_mut().zip(c.iter_mut()) {
                *v = exp(*v - max);
                *l += *v;
            }
        }
        let mut sum: f32 = chunks
            .into_remainder()
            .iter_mut()
            .map(|v| {
                *v = exp(*v - max);
                *v
            })
            .sum();
        sum += lanes.iter().sum::<f32>();
        let inv = 1.0 / sum;
        for v in xs.iter_mut() {
            *v *= inv;
        }
    }
    dispatch!(isa, body(xs));
}

#[inline(always)]
fn max_of(xs: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let chunks = xs.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = if v > *l { v } else { *l };
        }
    }
    let mut m = lanes.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for &v in rest {
        m = m.max(v);
    }
    m
}

/// `x ← LayerNorm(x + y)` over one row (`y` is the sub-layer's output, `x` the residual),
/// statistics in f32 with the mean subtracted before the variance.
pub(crate) fn add_layer_norm(
    isa: Isa,
    x: &mut [f32],
    y: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    #[inline(always)]
    fn body(x: &mut [f32], y: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
        for (a, &b) in x.iter_mut().zip(y) {
            *a += b;
        }
        norm(x, gamma, beta, eps);
    }
    dispatch!(isa, body(x, y, gamma, beta, eps));
}

/// `x ← LayerNorm(x)` over one row.
pub(crate) fn layer_norm(isa: Isa, x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    #[inline(always)]
    fn body(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        norm(x, gamma, beta, eps);
    }
    dispatch!(isa, body(x, gamma, beta, eps));
}

#[inline(always)]
fn norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = x.len().max(1) as f32;
    let mean = lane_sum(x, |v| v) / n;
    let var = lane_sum(x, |v| (v - mean) * (v - mean)) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, &g), &b) in x.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

#[inline(always)]
fn lane_sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; 16];
    let chunks = xs.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l += f(v);
        }
    }
    lanes.iter().sum::<f32>() + rest.iter().map(|&v| f(v)).sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_isas() -> Vec<Isa> {
        let mut v = vec![Isa::Base];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                v.push(Isa::Avx2);
            }
            if std::is_x86_feature_detected!("avx512f") {
                v.push(Isa::Avx512);
            }
        }
        v
    }

    #[test]
    fn exp_matches_std_within_a_few_ulps() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (f64::from(exp(x)), f64::from(x).exp());
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert_eq!(exp(-1000.0), exp(-87.3));
        assert!(exp(-1000.0) < 1e-37);
        assert!(exp(1000.0).is_finite() && exp(1000.0) > 1e38);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn erf_matches_the_series_within_its_bound() {
        // erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1)), in f64, for |x| <= 3
        let reference = |x: f64| -> f64 {
            let (mut term, mut sum, mut n) = (x, x, 0u32);
            while term.abs() > 1e-17 * sum.abs().max(1e-300) && n < 200 {
                n += 1;
                term *= -x * x / f64::from(n);
                sum += term / f64::from(2 * n + 1);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        };
        let mut x = -3.0f32;
        while x <= 3.0 {
            let err = (f64::from(erf(x)) - reference(f64::from(x))).abs();
            assert!(err < 5e-7, "erf({x}) off by {err}");
            x += 0.001;
        }
        assert_eq!(erf(10.0), 1.0);
        assert_eq!(erf(-10.0), -1.0);
    }

    #[test]
    fn every_isa_computes_the_same_gelu_softmax_and_layer_norm() {
        let data: Vec<f32> = (0..1000)
            .map(|i| ((i * 37) % 200) as f32 / 20.0 - 5.0)
            .collect();
        let gamma: Vec<f32> = (0..1000).map(|i| 1.0 + (i % 7) as f32 / 10.0).collect();
        let beta: Vec<f32> = (0..1000).map(|i| (i % 5) as f32 / 10.0).collect();
        let mut results = Vec::new();
        for isa in all_isas() {
            let mut g = data.clone();
            gelu_erf(isa, &mut g);
            let mut t = data.clone();
            gelu_tanh(isa, &mut t);
            let mut s = data.clone();
            softmax(isa, &mut s);
            let mut l = data.clone();
            add_layer_norm(isa, &mut l, &data, &gamma, &beta, 1e-12);
            results.push((g, t, s, l));
        }
        let (g, t, s, l) = &results[0];
        for (i, &x) in data.iter().enumerate() {
            let want = f64::from(x) * 0.5 * (1.0 + libm_erf(f64::from(x) / 2f64.sqrt()));
            assert!((f64::from(g[i]) - want).abs() < 1e-6, "gelu({x})");
            let u = 0.797_884_560_802_865_4 * (f64::from(x) + 0.044715 * f64::from(x).powi(3));
            let want = 0.5 * f64::from(x) * (1.0 + u.tanh());
            assert!((f64::from(t[i]) - want).abs() < 1e-6, "gelu_tanh({x})");
        }
        let total: f32 = s.iter().sum();
        assert!((total - 1.0).abs() < 1e-5);
        let mean: f32 = l
            .iter()
            .zip(&beta)
            .zip(&gamma)
            .map(|((v, b), g)| (v - b) / g)
            .sum::<f32>()
            / 1000.0;
        assert!(mean.abs() < 1e-4);
        for other in &results[1..] {
            for (a, b) in [(g, &other.0), (t, &other.1), (s, &other.2), (l, &other.3)] {
                for (x, y) in a.iter().zip(b) {
                    assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0), "{x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn softmax_is_stable_for_large_scores_and_masked_keys() {
        let mut s = vec![1000.0, 1000.0, -1e9, 999.0];
        softmax(Isa::detect(), &mut s);
        assert!(s.iter().all(|v| v.is_finite()));
        assert!((s[0] - s[1]).abs() < 1e-7 && s[2] < 1e-30 && s[3] < s[0]);
    }

    /// erf in f64 by the series (|x| < 3) or 1 - the continued fraction of erfc.
    fn libm_erf(x: f64) -> f64 {
        let a = x.abs();
        let v = if a < 3.0 {
            let (mut term, mut sum, mut n) = (a, a, 0u32);
            while n < 300 {
                n += 1;
                term *= -a * a / f64::from(n);
                sum += term / f64::from(2 * n + 1);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // Lentz-free continued fraction evaluated backwards
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = f64::from(k) / 2.0 / (a + f);
            }
            1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / (a + f)
        };
        v.copysign(x)
    }
}
