//! An f32 matrix product over weights packed once at load, for CPUs with AVX-512.
//!
//! The weights of a linear layer (PyTorch's `(out, in)` layout) are rearranged at load into
//! panels of [`NR`] output columns: for each input `k`, the panel's 48 weights side by side,
//! which the kernel reads as three 512-bit registers. A micro-tile of up to eight rows keeps
//! 8 × 3 accumulators in registers over the whole input dimension (one broadcast and three
//! fused multiply-adds per row and input), then adds the bias and stores. Nothing is packed
//! per call: the activations are read in place, row-major.
//!
//! Where the CPU lacks AVX-512 the encoder uses the `gemm` crate instead (see
//! [`crate::models::fast`]); [`PackedF32::matmul_portable`] is the reference the tests compare
//! the kernel with.

use rayon::prelude::*;

use crate::shared::SharedMut;

/// Output columns per panel (three registers of 16 floats).
pub(crate) const NR: usize = 48;
/// Rows per micro-tile.
const MR: usize = 8;
/// Rows per task: a task keeps one panel hot in cache over this many rows.
const ROWS_PER_TASK: usize = 64;

/// Whether this CPU runs the packed kernel.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A weight matrix `(n, k)` packed in panels of [`NR`] columns (the last panel padded with
/// zeros).
#[derive(Debug, Clone)]
pub(crate) struct PackedF32 {
    n: usize,
    k: usize,
    data: Vec<f32>,
}

impl PackedF32 {
    /// Packs `w`, row-major `(n, k)`.
    pub(crate) fn new(w: &[f32], n: usize, k: usize) -> Self {
        debug_assert_eq!(w.len(), n * k);
        let panels = n.div_ceil(NR);
        let mut data = vec![0f32; panels * NR * k];
        for col in 0..n {
            let (p, j) = (col / NR, col % NR);
            for (kk, &v) in w[col * k..(col + 1) * k].iter().enumerate() {
                data[p * NR * k + kk * NR + j] = v;
            }
        }
        Self { n, k, data }
    }

    /// The row-major `(n, k)` weights back.
    pub(crate) fn unpack(&self) -> Vec<f32> {
        let mut w = vec![0f32; self.n * self.k];
        for col in 0..self.n {
            let (p, j) = (col / NR, col % NR);
            for kk in 0..self.k {
                w[col * self.k + kk] = self.data[p * NR * self.k + kk * NR + j];
            }
        }
        w
    }

    pub(crate) fn rows_out(&self) -> usize {
        self.n
    }

    pub(crate) fn cols_in(&self) -> usize {
        self.k
    }

    /// `out (m, n) = x (m, k) · wᵀ + b`, row-major, with the AVX-512 kernel.
    ///
    /// # Panics
    /// If the slice lengths do not match, or the CPU lacks AVX-512 (callers check
    /// [`available`]).
    pub(crate) fn matmul(&self, x: &[f32], m: usize, b: &[f32], out: &mut [f32]) {
        assert!(available(), "the packed f32 kernel needs AVX-512");
        self.check(x, m, b, out);
        if m == 0 || self.n == 0 {
            return;
        }
        let panels = self.n.div_ceil(NR);
        let row_blocks = m.div_ceil(ROWS_PER_TASK);
        let out_ptr = SharedMut(out.as_mut_ptr());
        (0..row_blocks * panels).into_par_iter().for_each(|t| {
            let (rb, p) = (t / panels, t % panels);
            let rows = rb * ROWS_PER_TASK..((rb + 1) * ROWS_PER_TASK).min(m);
            // SAFETY: the task writes rows × the columns of panel p, disjoint from others
            unsafe { self.block(x, rows, p, b, out_ptr) };
        });
    }

    /// The same product computed by plain loops (the reference for tests).
    #[cfg(test)]
    pub(crate) fn matmul_portable(&self, x: &[f32], m: usize, b: &[f32], out: &mut [f32]) {
        self.check(x, m, b, out);
        for r in 0..m {
            for col in 0..self.n {
                let (p, j) = (col / NR, col % NR);
                let mut s = 0f32;
                for kk in 0..self.k {
                    s += x[r * self.k + kk] * self.data[p * NR * self.k + kk * NR + j];
                }
                out[r * self.n + col] = s + b[col];
            }
        }
    }

    fn check(&self, x: &[f32], m: usize, b: &[f32], out: &[f32]) {
        assert_eq!(x.len(), m * self.k, "input shape");
        assert_eq!(out.len(), m * self.n, "output shape");
        assert_eq!(b.len(), self.n, "bias shape");
    }

    /// # Safety
    /// `out` points to `m × n` floats; no one else writes this block; the CPU has AVX-512.
    unsafe fn block(
        &self,
        x: &[f32],
        rows: std::ops::Range<usize>,
        p: usize,
        b: &[f32],
        out: SharedMut,
    ) {
        let k = self.k;
        let panel = &self.data[p * NR * k..(p + 1) * NR * k];
        let c0 = p * NR;
        let cols = NR.min(self.n - c0);
        let mut bias = [0f32; NR];
        bias[..cols].copy_from_slice(&b[c0..c0 + cols]);
        let mut r = rows.start;
        while r < rows.end {
            let mr = MR.min(rows.end - r);
            let a = &x[r * k..(r + mr) * k];
            let mut tile = [[0f32; NR]; MR];
            #[cfg(target_arch = "x86_64")]
            // SAFETY: AVX-512 checked by `matmul`; `a` holds mr rows of k, the panel k × NR
            unsafe {
                avx512::micro(a, k, mr, panel, &bias, &mut tile)
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

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{MR, NR};
    use std::arch::x86_64::{
        __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_storeu_ps,
    };

    /// Dispatches on the row count to a fully unrolled kernel.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F; `a` holds `mr` rows of `k` floats and `panel` `k × NR`.
    pub(super) unsafe fn micro(
        a: &[f32],
        k: usize,
        mr: usize,
        panel: &[f32],
        bias: &[f32; NR],
        tile: &mut [[f32; NR]; MR],
    ) {
        assert!(a.len() >= mr * k && panel.len() >= k * NR);
        // SAFETY: forwarded
        unsafe {
            match mr {
                8 => rows::<8>(a, k, panel, bias, tile),
                7 => rows::<7>(a, k, panel, bias, tile),
                6 => rows::<6>(a, k, panel, bias, tile),
                5 => rows::<5>(a, k, panel, bias, tile),
                4 => rows::<4>(a, k, panel, bias, tile),
                3 => rows::<3>(a, k, panel, bias, tile),
                2 => rows::<2>(a, k, panel, bias, tile),
                _ => rows::<1>(a, k, panel, bias, tile),
            }
        }
    }

    /// `R` rows × 48 columns: 3R accumulators (started at the bias), three weight loads and
    /// R broadcasts per input.
    #[target_feature(enable = "avx512f")]
    unsafe fn rows<const R: usize>(
        a: &[f32],
        k: usize,
        panel: &[f32],
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
        for kk in 0..k {
            // SAFETY: kk * 48 + 48 <= k * NR floats of the panel
            let w = unsafe {
                let base = wp.add(kk * NR);
                [
                    _mm512_loadu_ps(base),
                    _mm512_loadu_ps(base.add(16)),
                    _mm512_loadu_ps(base.add(32)),
                ]
            };
            for (i, ci) in c.iter_mut().enumerate() {
                // SAFETY: row i < R has k floats
                let x = _mm512_set1_ps(unsafe { *ap.add(i * k + kk) });
                ci[0] = _mm512_fmadd_ps(x, w[0], ci[0]);
                ci[1] = _mm512_fmadd_ps(x, w[1], ci[1]);
                ci[2] = _mm512_fmadd_ps(x, w[2], ci[2]);
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
    fn packing_round_trips_and_the_kernel_matches_the_reference() {
        for &(m, n, k) in &[
            (1, 48, 8),
            (5, 50, 13),
            (17, 96, 64),
            (70, 130, 33),
            (9, 7, 3),
        ] {
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 31) % 17) as f32 / 8.0 - 1.0)
                .collect();
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0)
                .collect();
            let b: Vec<f32> = (0..n).map(|i| i as f32 / 10.0).collect();
            let p = PackedF32::new(&w, n, k);
            assert_eq!(p.unpack(), w);
            let mut want = vec![0f32; m * n];
            p.matmul_portable(&x, m, &b, &mut want);
            // the naive product from the unpacked layout
            for r in 0..m {
                for c in 0..n {
                    let s: f32 = (0..k).map(|i| x[r * k + i] * w[c * k + i]).sum::<f32>() + b[c];
                    assert!((s - want[r * n + c]).abs() < 1e-4);
                }
            }
            if available() {
                let mut got = vec![f32::NAN; m * n];
                p.matmul(&x, m, &b, &mut got);
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "{g} vs {w}");
                }
            }
        }
    }
}
