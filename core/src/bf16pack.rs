//! A bf16 matrix product for the `bf16` mode on the CPU: weights rounded to bf16 and packed
//! once at load, activations rounded to bf16 at each call, products summed in f32.
//!
//! On CPUs with AVX-512 BF16 (Intel since Cooper Lake and Sapphire Rapids, AMD since Zen 4)
//! the kernel is `vdpbf16ps`: each 32-bit lane holds two bf16 values of consecutive inputs,
//! and one instruction multiplies 32 pairs and adds them into 16 f32 sums, twice the
//! multiply-adds of an f32 FMA. The weights are packed in panels of [`NR`] output columns by
//! pairs of inputs (three registers per pair); a micro-tile of up to eight rows keeps 8 × 3
//! accumulators in registers over the whole input dimension.
//!
//! Elsewhere the same rounding runs through the f32 kernels ([`Bf16Kernel::Emulated`]): the
//! weights are rounded to bf16 at load and kept as f32, the activations are rounded at each
//! call, so the numbers are those of a bf16 product with f32 sums on any x86-64.

use rayon::prelude::*;

use crate::shared::SharedMut;

/// Output columns per panel (three registers of 16 lanes).
pub(crate) const NR: usize = 48;
/// Rows per micro-tile.
const MR: usize = 8;
/// Rows per task.
const ROWS_PER_TASK: usize = 64;

/// Which bf16 kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bf16Kernel {
    /// AVX-512 BF16 (`vdpbf16ps`).
    Avx512,
    /// bf16 rounding through the f32 kernels.
    Emulated,
}

impl Bf16Kernel {
    /// The kernel this CPU runs (`CLINFER_BF16_KERNEL=emulated` forces the emulation).
    pub(crate) fn detect() -> Self {
        if std::env::var("CLINFER_BF16_KERNEL").is_ok_and(|v| v == "emulated") {
            return Self::Emulated;
        }
        Self::detect_hw()
    }

    /// `avx512-bf16` or `bf16-emulated`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "avx512-bf16",
            Self::Emulated => "bf16-emulated",
        }
    }
}

/// Rounds an f32 to the nearest bf16 (ties to even) and returns its 16 bits; NaN stays NaN.
#[inline(always)]
pub(crate) fn to_bf16(v: f32) -> u16 {
    let bits = v.to_bits();
    if v.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// The f32 value of bf16 bits.
#[inline(always)]
pub(crate) fn from_bf16(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// `v` rounded to the nearest bf16, as an f32.
#[inline(always)]
pub(crate) fn round_bf16(v: f32) -> f32 {
    from_bf16(to_bf16(v))
}

/// A weight matrix `(n, k)` rounded to bf16 and packed by pairs of inputs.
#[derive(Debug, Clone)]
pub(crate) struct PackedBf16 {
    n: usize,
    k: usize,
    /// `k` rounded up to even.
    kp: usize,
    /// Panels of `NR` columns: for each pair of inputs, `NR` lanes of two bf16 (low half the
    /// even input).
    data: Vec<u32>,
}

impl PackedBf16 {
    /// Rounds and packs `w`, row-major `(n, k)`.
    pub(crate) fn new(w: &[f32], n: usize, k: usize) -> Self {
        debug_assert_eq!(w.len(), n * k);
        let kp = k.div_ceil(2) * 2;
        let panels = n.div_ceil(NR);
        let mut data = vec![0u32; panels * NR * kp / 2];
        for col in 0..n {
            let (p, j) = (col / NR, col % NR);
            for (kk, &v) in w[col * k..(col + 1) * k].iter().enumerate() {
                let lane = &mut data[p * NR * kp / 2 + (kk / 2) * NR + j];
                let b = u32::from(to_bf16(v));
                *lane |= if kk % 2 == 0 { b } else { b << 16 };
            }
        }
        Self { n, k, kp, data }
    }

    pub(crate) fn rows_out(&self) -> usize {
        self.n
    }

    pub(crate) fn cols_in(&self) -> usize {
        self.k
    }

    /// The weights back as f32 `(n, k)` (their bf16 values).
    #[cfg(test)]
    pub(crate) fn unpack(&self) -> Vec<f32> {
        let mut w = vec![0f32; self.n * self.k];
        for col in 0..self.n {
            let (p, j) = (col / NR, col % NR);
            for kk in 0..self.k {
                let lane = self.data[p * NR * self.kp / 2 + (kk / 2) * NR + j];
                let b = if kk % 2 == 0 {
                    lane & 0xffff
                } else {
                    lane >> 16
                };
                w[col * self.k + kk] = from_bf16(b as u16);
            }
        }
        w
    }

    /// `out (m, n) = bf16(x) (m, k) · wᵀ + b` with the AVX-512 BF16 kernel.
    ///
    /// # Panics
    /// If the slice lengths do not match, or the CPU lacks AVX-512 BF16 (callers use
    /// [`Bf16Kernel::detect`]).
    pub(crate) fn matmul(&self, x: &[f32], m: usize, b: &[f32], out: &mut [f32]) {
        assert_eq!(
            Bf16Kernel::detect_hw(),
            Bf16Kernel::Avx512,
            "needs AVX-512 BF16"
        );
        assert_eq!(x.len(), m * self.k, "input shape");
        assert_eq!(out.len(), m * self.n, "output shape");
        assert_eq!(b.len(), self.n, "bias shape");
        if m == 0 || self.n == 0 {
            return;
        }
        // activations: pairs of bf16 per row, the odd tail padded with zero
        let half = self.kp / 2;
        let mut xa = vec![0u32; m * half];
        xa.par_chunks_mut(half)
            .zip(x.par_chunks(self.k))
            .with_min_len(16)
            .for_each(|(dst, row)| {
                let mut pairs = row.chunks_exact(2);
                for (d, p) in dst.iter_mut().zip(&mut pairs) {
                    *d = u32::from(to_bf16(p[0])) | (u32::from(to_bf16(p[1])) << 16);
                }
                if let [last] = pairs.remainder() {
                    dst[half - 1] = u32::from(to_bf16(*last));
                }
            });
        let panels = self.n.div_ceil(NR);
        let row_blocks = m.div_ceil(ROWS_PER_TASK);
        let out_ptr = SharedMut(out.as_mut_ptr());
        (0..row_blocks * panels).into_par_iter().for_each(|t| {
            let (rb, p) = (t / panels, t % panels);
            let rows = rb * ROWS_PER_TASK..((rb + 1) * ROWS_PER_TASK).min(m);
            // SAFETY: the task writes rows × the columns of panel p, disjoint from others
            unsafe { self.block(&xa, rows, p, b, out_ptr) };
        });
    }

    /// # Safety
    /// `out` points to `m × n` floats; no one else writes this block; the CPU has AVX-512
    /// BF16.
    unsafe fn block(
        &self,
        xa: &[u32],
        rows: std::ops::Range<usize>,
        p: usize,
        b: &[f32],
        out: SharedMut,
    ) {
        let half = self.kp / 2;
        let panel = &self.data[p * NR * half..(p + 1) * NR * half];
        let c0 = p * NR;
        let cols = NR.min(self.n - c0);
        let mut bias = [0f32; NR];
        bias[..cols].copy_from_slice(&b[c0..c0 + cols]);
        let mut r = rows.start;
        while r < rows.end {
            let mr = MR.min(rows.end - r);
            let a = &xa[r * half..(r + mr) * half];
            let mut tile = [[0f32; NR]; MR];
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX-512 BF16 checked by `matmul`; `a` holds mr rows of `half` pairs
            unsafe {
                avx512::micro(a, half, mr, panel, &bias, &mut tile)
            };
            for (i, t) in tile.iter().enumerate().take(mr) {
                // SAFETY: row r + i < m and c0 + cols <= n; the block is this task's alone
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(out.get().add((r + i) * self.n + c0), cols)
                };
                dst.copy_from_slice(&t[..cols]);
            }
            r += mr;
        }
    }
}

impl Bf16Kernel {
    /// What the hardware runs, ignoring the environment override.
    fn detect_hw() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bf16")
            {
                return Self::Avx512;
            }
        }
        Self::Emulated
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{MR, NR};
    use std::arch::x86_64::{
        __m512, __m512bh, __m512i, _mm512_dpbf16_ps, _mm512_loadu_ps, _mm512_loadu_si512,
        _mm512_set1_epi32, _mm512_storeu_ps,
    };

    /// Dispatches on the row count to a fully unrolled kernel.
    ///
    /// # Safety
    /// The CPU must have AVX-512 BF16; `a` holds `mr` rows of `half` pairs, `panel`
    /// `half × NR` lanes.
    pub(super) unsafe fn micro(
        a: &[u32],
        half: usize,
        mr: usize,
        panel: &[u32],
        bias: &[f32; NR],
        tile: &mut [[f32; NR]; MR],
    ) {
        assert!(a.len() >= mr * half && panel.len() >= half * NR);
        // SAFETY: forwarded
        unsafe {
            match mr {
                8 => rows::<8>(a, half, panel, bias, tile),
                7 => rows::<7>(a, half, panel, bias, tile),
                6 => rows::<6>(a, half, panel, bias, tile),
                5 => rows::<5>(a, half, panel, bias, tile),
                4 => rows::<4>(a, half, panel, bias, tile),
                3 => rows::<3>(a, half, panel, bias, tile),
                2 => rows::<2>(a, half, panel, bias, tile),
                _ => rows::<1>(a, half, panel, bias, tile),
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn rows<const R: usize>(
        a: &[u32],
        half: usize,
        panel: &[u32],
        bias: &[f32; NR],
        tile: &mut [[f32; NR]; MR],
    ) {
        let bp = bias.as_ptr();
        // SAFETY: 48 floats of bias
        let b = unsafe {
            [
                _mm512_loadu_ps(bp),
                _mm512_loadu_ps(bp.add(16)),
                _mm512_loadu_ps(bp.add(32)),
            ]
        };
        let mut c: [[__m512; 3]; R] = [b; R];
        let ap = a.as_ptr();
        let wp = panel.as_ptr();
        for g in 0..half {
            // SAFETY: g * 48 + 48 <= half * NR lanes of the panel; the casts reinterpret
            // 16 lanes of two bf16 each
            let w: [__m512bh; 3] = unsafe {
                let base = wp.add(g * NR);
                [
                    std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                        base.cast::<__m512i>(),
                    )),
                    std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                        base.add(16).cast::<__m512i>(),
                    )),
                    std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                        base.add(32).cast::<__m512i>(),
                    )),
                ]
            };
            for (i, ci) in c.iter_mut().enumerate() {
                // SAFETY: row i < R has `half` pairs
                let pair = unsafe { *ap.add(i * half + g) };
                // SAFETY: same-size reinterpretation of 16 lanes
                let x = unsafe {
                    std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(pair as i32))
                };
                ci[0] = _mm512_dpbf16_ps(ci[0], x, w[0]);
                ci[1] = _mm512_dpbf16_ps(ci[1], x, w[1]);
                ci[2] = _mm512_dpbf16_ps(ci[2], x, w[2]);
            }
        }
        for (i, ci) in c.iter().enumerate() {
            for (v, reg) in ci.iter().enumerate() {
                // SAFETY: 16 floats into tile[i][16v..16v + 16]
                unsafe { _mm512_storeu_ps(tile[i].as_mut_ptr().add(16 * v), *reg) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0)
        assert_eq!(round_bf16(1.0 + 1.0 / 256.0), 1.0);
        // 1 + 3 · 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to even (1 + 2^-6)
        assert_eq!(round_bf16(1.0 + 3.0 / 256.0), 1.0 + 1.0 / 64.0);
        assert_eq!(round_bf16(-2.5), -2.5);
        assert!(round_bf16(f32::NAN).is_nan());
        assert_eq!(round_bf16(f32::INFINITY), f32::INFINITY);
    }

    #[test]
    fn packing_round_trips_and_the_kernel_matches_bf16_products_in_f32() {
        for &(m, n, k) in &[
            (1, 48, 8),
            (5, 50, 13),
            (17, 96, 64),
            (70, 130, 33),
            (9, 7, 3),
        ] {
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 31) % 17) as f32 / 7.0 - 1.1)
                .collect();
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7) % 11) as f32 / 3.0 - 1.3)
                .collect();
            let b: Vec<f32> = (0..n).map(|i| i as f32 / 10.0).collect();
            let p = PackedBf16::new(&w, n, k);
            let wr: Vec<f32> = w.iter().map(|&v| round_bf16(v)).collect();
            assert_eq!(p.unpack(), wr);
            if Bf16Kernel::detect_hw() != Bf16Kernel::Avx512 {
                continue;
            }
            let mut got = vec![f32::NAN; m * n];
            p.matmul(&x, m, &b, &mut got);
            for r in 0..m {
                for c in 0..n {
                    let want: f64 = (0..k)
                        .map(|i| f64::from(round_bf16(x[r * k + i])) * f64::from(wr[c * k + i]))
                        .sum::<f64>()
                        + f64::from(b[c]);
                    let g = f64::from(got[r * n + c]);
                    assert!(
                        (g - want).abs() <= 1e-4 * want.abs().max(1.0),
                        "{g} vs {want}"
                    );
                }
            }
        }
    }
}
