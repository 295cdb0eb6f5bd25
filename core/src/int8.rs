//! An int8 matrix product for the linear layers (`dtype = "int8"`).
//!
//! Weights are quantized once, at load, per output channel (symmetric, scale = max |w| / 127)
//! and packed into panels of [`NR`] output columns by groups of four inputs, the layout the
//! AVX-512 VNNI instruction `vpdpbusd` reads (16 columns × 4 bytes per 512-bit register).
//! Activations are quantized per row at each call (symmetric, scale = max |x| / 127) and
//! shifted by 128 to unsigned bytes, which `vpdpbusd` needs; the shift is taken back with the
//! column sums of the weights. Products accumulate exactly in i32, then each output is
//! `acc · scale_row · scale_col + bias` in f32.
//!
//! The kernel is chosen at run time: AVX-512 VNNI where the CPU has it (Intel since Ice Lake,
//! AMD since Zen 4), otherwise a portable loop over the same packed layout that the compiler
//! vectorises for the build target. Both compute the same integers, so their results are
//! identical, which the tests check against a naive reference.

use rayon::prelude::*;

use crate::shared::SharedMut;

/// Output columns per packed panel (three 512-bit registers of 16 i32 lanes).
pub const NR: usize = 48;
/// Rows of the accumulator block: 16 for the AMX tiles, 8 per call for the other kernels.
const MR: usize = 16;
/// Quantized activations are padded with the zero point to a multiple of this many rows
/// (the AMX tiles load 16).
const ROW_PAD: usize = 16;
/// The input dimension is padded to a multiple of this (one AMX tile row is 64 bytes).
const K_PAD: usize = 64;

/// Which int8 kernel runs on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Intel AMX tiles (`tdpbusd`, 16 × 64 bytes by 16 × 16 per instruction), picked at run
    /// time where the CPU has AMX-INT8 and Linux grants the process the tile state.
    Amx,
    /// AVX-512 VNNI (`vpdpbusd`), picked at run time.
    Avx512Vnni,
    /// The portable loop compiled for AVX2, picked at run time.
    Avx2,
    /// The portable loop (any CPU).
    Portable,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    #[must_use]
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if amx::available() {
                return Self::Amx;
            }
            if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512vnni")
            {
                return Self::Avx512Vnni;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Self::Avx2;
            }
        }
        Self::Portable
    }

    /// A short name for logs and accessors: `amx-int8`, `avx512-vnni`, `avx2` or `portable`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Amx => "amx-int8",
            Self::Avx512Vnni => "avx512-vnni",
            Self::Avx2 => "avx2",
            Self::Portable => "portable",
        }
    }
}

/// A weight matrix `(n, k)` (PyTorch's `Linear` layout, output × input) quantized per output
/// channel and packed for the kernels.
#[derive(Debug, Clone)]
pub struct PackedI8 {
    n: usize,
    k: usize,
    /// `k` rounded up to a multiple of [`K_PAD`].
    kp: usize,
    /// Panels of `NR` columns: for each panel, for each group of four inputs, `NR × 4` bytes.
    data: Vec<i8>,
    /// Per output column: the dequantization scale.
    scale: Vec<f32>,
    /// Per output column: 128 × the sum of its quantized weights (undoes the +128 shift).
    shift: Vec<i32>,
}

impl PackedI8 {
    /// Quantizes and packs `w`, row-major `(n, k)`.
    ///
    /// # Panics
    /// Never for consistent arguments; `w.len()` must be `n * k` (checked by the caller,
    /// which builds it from a tensor of that shape).
    #[must_use]
    pub fn new(w: &[f32], n: usize, k: usize) -> Self {
        debug_assert_eq!(w.len(), n * k);
        let kp = k.div_ceil(K_PAD) * K_PAD;
        let panels = n.div_ceil(NR);
        let mut data = vec![0i8; panels * NR * kp];
        let mut scale = vec![0f32; n];
        let mut shift = vec![0i32; n];
        for col in 0..n {
            let row = &w[col * k..(col + 1) * k];
            let max = row.iter().fold(0f32, |m, &v| m.max(v.abs()));
            let s = if max > 0.0 && max.is_finite() {
                max / 127.0
            } else {
                1.0
            };
            scale[col] = s;
            let (p, j) = (col / NR, col % NR);
            let mut sum = 0i32;
            for (kk, &v) in row.iter().enumerate() {
                let q = (v / s).round().clamp(-127.0, 127.0) as i8;
                sum += i32::from(q);
                data[p * NR * kp + (kk / 4) * NR * 4 + j * 4 + kk % 4] = q;
            }
            shift[col] = 128 * sum;
        }
        Self {
            n,
            k,
            kp,
            data,
            scale,
            shift,
        }
    }

    /// Output columns.
    #[must_use]
    pub fn rows_out(&self) -> usize {
        self.n
    }

    /// Input columns.
    #[must_use]
    pub fn cols_in(&self) -> usize {
        self.k
    }

    /// `x (m, k) · wᵀ + bias` into `out (m, n)`, all row-major f32.
    ///
    /// # Panics
    /// If the slice lengths do not match `m`, `k` and `n` (callers pass tensors of checked
    /// shapes).
    pub fn matmul(
        &self,
        kernel: Kernel,
        x: &[f32],
        m: usize,
        bias: Option<&[f32]>,
        out: &mut [f32],
    ) {
        assert_eq!(x.len(), m * self.k, "input shape");
        assert_eq!(out.len(), m * self.n, "output shape");
        if let Some(b) = bias {
            assert_eq!(b.len(), self.n, "bias shape");
        }
        if m == 0 || self.n == 0 {
            return;
        }
        let (qa, sa) = quantize_rows(kernel, x, m, self.k, self.kp);
        let panels = self.n.div_ceil(NR);
        let out_ptr = SharedMut(out.as_mut_ptr());
        // one task per (row block, panel range): panels split across the pool, rows in
        // blocks that keep a panel hot in cache
        let row_blocks = m.div_ceil(64);
        let tasks = row_blocks * panels;
        (0..tasks).into_par_iter().for_each(|t| {
            let (rb, p) = (t / panels, t % panels);
            let rows = rb * 64..((rb + 1) * 64).min(m);
            // SAFETY: each task writes the disjoint block rows × panel columns of `out`
            unsafe { self.block(kernel, &qa, &sa, rows, p, bias, out_ptr) };
        });
    }

    /// One block: `rows` of the output, the columns of panel `p`.
    ///
    /// # Safety
    /// `out` must point to `m × n` f32 and no other thread may write this block.
    #[allow(clippy::too_many_arguments)]
    unsafe fn block(
        &self,
        kernel: Kernel,
        qa: &[u8],
        sa: &[f32],
        rows: std::ops::Range<usize>,
        p: usize,
        bias: Option<&[f32]>,
        out: SharedMut,
    ) {
        let panel = &self.data[p * NR * self.kp..(p + 1) * NR * self.kp];
        let c0 = p * NR;
        let cols = NR.min(self.n - c0);
        let mut acc = [[0i32; NR]; MR];
        let step = if kernel == Kernel::Amx { 16 } else { 8 };
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Amx {
            // SAFETY: `Kernel::Amx` comes from `detect`, which got the tile state granted
            unsafe { amx::configure() };
        }
        let mut r = rows.start;
        while r < rows.end {
            let mr = step.min(rows.end - r);
            let a = &qa[r * self.kp..(r + mr) * self.kp];
            match kernel {
                #[cfg(target_arch = "x86_64")]
                Kernel::Amx => {
                    // the activations are padded to 16 rows (ROW_PAD)
                    let a16 = &qa[r * self.kp..(r + 16) * self.kp];
                    // SAFETY: tiles configured above; 16 rows of kp bytes and a whole panel
                    unsafe { amx::micro(a16, self.kp, panel, &mut acc) };
                }
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512Vnni => {
                    // SAFETY: `Kernel::Avx512Vnni` comes from `detect`, so the CPU has the
                    // instructions; the slices hold `mr` rows of `kp` bytes and a panel
                    vnni::micro(a, self.kp, mr, panel, &mut acc);
                }
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Kernel::Avx2` comes from `detect`, so the CPU has AVX2 and FMA
                Kernel::Avx2 => unsafe { avx2_micro(a, self.kp, mr, panel, &mut acc) },
                _ => portable_micro(a, self.kp, mr, panel, &mut acc),
            }
            let scale = &self.scale[c0..c0 + cols];
            let shift = &self.shift[c0..c0 + cols];
            for (i, acc_row) in acc.iter().enumerate().take(mr) {
                let row = r + i;
                // SAFETY: row < m and c0 + cols <= n; the block is this task's alone
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(out.get().add(row * self.n + c0), cols)
                };
                let f = sa[row];
                let it = dst
                    .iter_mut()
                    .zip(&acc_row[..cols])
                    .zip(shift.iter().zip(scale));
                match bias {
                    Some(b) => {
                        for (((d, &a), (&sh, &sc)), &bv) in it.zip(&b[c0..c0 + cols]) {
                            *d = (a - sh) as f32 * (f * sc) + bv;
                        }
                    }
                    None => {
                        for ((d, &a), (&sh, &sc)) in it {
                            *d = (a - sh) as f32 * (f * sc);
                        }
                    }
                }
            }
            r += mr;
        }
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Amx {
            // SAFETY: as for `configure`
            unsafe { amx::release() };
        }
    }
}

/// Quantizes each row of `x (m, k)` to `q + 128` bytes with its own scale; rows are padded
/// with the zero point to `kp` bytes.
fn quantize_rows(kernel: Kernel, x: &[f32], m: usize, k: usize, kp: usize) -> (Vec<u8>, Vec<f32>) {
    let mut q = vec![128u8; m.div_ceil(ROW_PAD) * ROW_PAD * kp];
    let mut s = vec![1f32; m];
    if k == 0 {
        return (q, s);
    }
    q.par_chunks_mut(kp)
        .zip(s.par_iter_mut())
        .zip(x.par_chunks(k))
        .with_min_len(16)
        .for_each(|((qrow, scale), row)| match kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the kernel was detected on this CPU, so it has AVX-512
            Kernel::Avx512Vnni => unsafe { quantize_row_avx512(row, qrow, scale) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above, AVX2
            Kernel::Avx2 => unsafe { quantize_row_avx2(row, qrow, scale) },
            _ => quantize_row(row, qrow, scale),
        });
    (q, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn quantize_row_avx512(row: &[f32], q: &mut [u8], scale: &mut f32) {
    quantize_row(row, q, scale);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn quantize_row_avx2(row: &[f32], q: &mut [u8], scale: &mut f32) {
    quantize_row(row, q, scale);
}

/// One row: scale = max |x| / 127 (1 for a row of zeros or with an infinity), then
/// `round(x / scale) + 128`, with NaN as 0. Written branch-free so that it vectorises.
#[inline(always)]
fn quantize_row(row: &[f32], q: &mut [u8], scale: &mut f32) {
    // adding and removing 1.5 · 2^23 rounds to the nearest integer (ties to even)
    const ROUND: f32 = 12_582_912.0;
    // the largest magnitude, 16 lanes at a time (NaN never wins a comparison)
    let mut lanes = [0f32; 16];
    let chunks = row.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            let a = v.abs();
            *m = if a > *m { a } else { *m };
        }
    }
    for &v in rest {
        let a = v.abs();
        lanes[0] = if a > lanes[0] { a } else { lanes[0] };
    }
    let max = lanes.iter().fold(0f32, |a, &b| if b > a { b } else { a });
    *scale = if max > 0.0 && max.is_finite() {
        max / 127.0
    } else {
        1.0
    };
    let inv = 1.0 / *scale;
    for (d, &v) in q.iter_mut().zip(row) {
        let r = (v * inv).clamp(-127.0, 127.0);
        // NaN stays NaN through the arithmetic and `as` turns it into 0
        *d = (((r + ROUND) - ROUND) as i32 + 128) as u8;
    }
}

/// `acc[i][j] = Σ_k a[i][k] · panel[k][j]` for `mr` rows, portable.
fn portable_micro(a: &[u8], kp: usize, mr: usize, panel: &[i8], acc: &mut [[i32; NR]; MR]) {
    portable_body(a, kp, mr, panel, acc);
}

/// The portable loop: per row, one i32 lane per panel byte (products of a byte and a
/// weight fit in i16), summed by fours at the end. Written so that the compiler
/// vectorises it for whatever the target has.
#[inline(always)]
fn portable_body(a: &[u8], kp: usize, mr: usize, panel: &[i8], acc: &mut [[i32; NR]; MR]) {
    for (i, acc_row) in acc.iter_mut().enumerate().take(mr) {
        let row = &a[i * kp..(i + 1) * kp];
        let mut lanes = [0i32; NR * 4];
        for (g, quad) in row.chunks_exact(4).enumerate() {
            let w = &panel[g * NR * 4..(g + 1) * NR * 4];
            let q = [
                i16::from(quad[0]),
                i16::from(quad[1]),
                i16::from(quad[2]),
                i16::from(quad[3]),
            ];
            for (l4, w4) in lanes.chunks_exact_mut(4).zip(w.chunks_exact(4)) {
                l4[0] += i32::from(q[0] * i16::from(w4[0]));
                l4[1] += i32::from(q[1] * i16::from(w4[1]));
                l4[2] += i32::from(q[2] * i16::from(w4[2]));
                l4[3] += i32::from(q[3] * i16::from(w4[3]));
            }
        }
        for (s, l4) in acc_row.iter_mut().zip(lanes.chunks_exact(4)) {
            *s = l4[0] + l4[1] + l4[2] + l4[3];
        }
    }
}

#[cfg(target_arch = "x86_64")]
use avx2::micro as avx2_micro;

/// AVX2 without VNNI: bytes widened to i16 and multiplied in pairs into i32 (`vpmaddwd`),
/// which is exact for a byte times a 7-bit weight, so the integers equal the VNNI kernel's.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{MR, NR};
    use std::arch::x86_64::{
        __m128i, __m256i, _mm256_add_epi32, _mm256_cvtepi8_epi16, _mm256_madd_epi16,
        _mm256_set1_epi64x, _mm256_setzero_si256, _mm256_storeu_si256, _mm_loadu_si128,
    };

    /// `acc[i][j] = Σ_k a[i][k] · panel[k][j]` for `mr` rows.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn micro(
        a: &[u8],
        kp: usize,
        mr: usize,
        panel: &[i8],
        acc: &mut [[i32; NR]; MR],
    ) {
        assert!(a.len() >= mr * kp && panel.len() >= kp * NR && kp.is_multiple_of(4));
        let groups = kp / 4;
        // each group of four activation bytes as four i16, ready to broadcast
        let mut aq = vec![0i64; mr * groups];
        for (i, row) in aq.chunks_exact_mut(groups).enumerate() {
            for (g, d) in row.iter_mut().enumerate() {
                let q = &a[i * kp + g * 4..i * kp + g * 4 + 4];
                *d = i64::from(q[0])
                    | i64::from(q[1]) << 16
                    | i64::from(q[2]) << 32
                    | i64::from(q[3]) << 48;
            }
        }
        let mut r = 0;
        while r < mr {
            let n = (mr - r).min(4);
            // SAFETY: AVX2 is enabled here; rows r..r + n exist in `aq`
            unsafe {
                match n {
                    4 => rows::<4>(&aq, groups, r, panel, acc),
                    3 => rows::<3>(&aq, groups, r, panel, acc),
                    2 => rows::<2>(&aq, groups, r, panel, acc),
                    _ => rows::<1>(&aq, groups, r, panel, acc),
                }
            }
            r += n;
        }
    }

    /// `R` rows from `r0`, eight columns at a time: two widened weight vectors per group of
    /// four inputs, shared by the rows.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn rows<const R: usize>(
        aq: &[i64],
        groups: usize,
        r0: usize,
        panel: &[i8],
        acc: &mut [[i32; NR]; MR],
    ) {
        assert!(aq.len() >= (r0 + R) * groups && panel.len() >= groups * NR * 4);
        let wp = panel.as_ptr();
        for chunk in 0..NR / 8 {
            let mut c = [[_mm256_setzero_si256(); 2]; R];
            for g in 0..groups {
                // SAFETY: 32 bytes at g * 192 + chunk * 32, inside the panel
                let (w0, w1) = unsafe {
                    let base = wp.add(g * NR * 4 + chunk * 32);
                    (
                        _mm256_cvtepi8_epi16(_mm_loadu_si128(base.cast::<__m128i>())),
                        _mm256_cvtepi8_epi16(_mm_loadu_si128(base.add(16).cast::<__m128i>())),
                    )
                };
                for (i, ci) in c.iter_mut().enumerate() {
                    let av = _mm256_set1_epi64x(aq[(r0 + i) * groups + g]);
                    ci[0] = _mm256_add_epi32(ci[0], _mm256_madd_epi16(av, w0));
                    ci[1] = _mm256_add_epi32(ci[1], _mm256_madd_epi16(av, w1));
                }
            }
            // lanes hold (k0·a0 + k1·a1, k2·a2 + k3·a3) per column: add the pairs
            for (i, ci) in c.iter().enumerate() {
                for (v, reg) in ci.iter().enumerate() {
                    let mut t = [0i32; 8];
                    // SAFETY: 8 i32 into a local array
                    unsafe { _mm256_storeu_si256(t.as_mut_ptr().cast::<__m256i>(), *reg) };
                    for q in 0..4 {
                        acc[r0 + i][chunk * 8 + v * 4 + q] = t[2 * q] + t[2 * q + 1];
                    }
                }
            }
        }
    }
}

/// Intel AMX: the tile instructions are written as bytes (their intrinsics and target
/// features are not stable Rust yet), each in its own `asm!` block with fixed registers.
#[cfg(target_arch = "x86_64")]
mod amx {
    use super::{MR, NR};
    use std::arch::asm;
    use std::sync::OnceLock;

    /// Whether the CPU has AMX-TILE and AMX-INT8 and the OS lets this process use them
    /// (on Linux the tile data state must be requested once per process).
    pub(super) fn available() -> bool {
        static OK: OnceLock<bool> = OnceLock::new();
        *OK.get_or_init(|| {
            if std::env::var_os("CLINFER_NO_AMX").is_some() {
                return false;
            }
            // SAFETY: CPUID leaf 7 exists on every x86-64 CPU that reports it (the call
            // is safe in newer Rust, unsafe in 1.89)
            #[allow(unused_unsafe)]
            let leaf7 = unsafe { std::arch::x86_64::__cpuid_count(7, 0) };
            let tile = leaf7.edx >> 24 & 1 == 1;
            let int8 = leaf7.edx >> 25 & 1 == 1;
            tile && int8 && request_tile_state()
        })
    }

    #[cfg(target_os = "linux")]
    fn request_tile_state() -> bool {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: a plain system call with integer arguments
        unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            ) == 0
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn request_tile_state() -> bool {
        false
    }

    /// The tile configuration: tiles 0–2 accumulate 16 × 16 i32, tile 3 holds 16 rows × 64
    /// activation bytes, tiles 4–6 hold 16 groups of four inputs × 16 columns of weights.
    #[repr(C, align(64))]
    struct Config([u8; 64]);

    fn config() -> Config {
        let mut c = [0u8; 64];
        c[0] = 1; // palette 1
        for t in 0..7 {
            c[16 + 2 * t] = 64; // bytes per row (u16, little endian)
            c[48 + t] = 16; // rows
        }
        Config(c)
    }

    /// Loads the tile configuration on this thread.
    ///
    /// # Safety
    /// [`available`] must have returned true.
    pub(super) unsafe fn configure() {
        let cfg = config();
        // ldtilecfg [rax]
        unsafe {
            asm!(".byte 0xc4, 0xe2, 0x78, 0x49, 0x00", in("rax") cfg.0.as_ptr(),
                 options(nostack, readonly));
        }
    }

    /// Releases the tile state on this thread.
    ///
    /// # Safety
    /// As for [`configure`].
    pub(super) unsafe fn release() {
        // tilerelease
        unsafe {
            asm!(
                ".byte 0xc4, 0xe2, 0x78, 0x49, 0xc0",
                options(nostack, nomem)
            )
        };
    }

    /// `acc[i][j] = Σ_k a[i][k] · panel[k][j]` for 16 rows and the panel's 48 columns.
    ///
    /// # Safety
    /// Tiles configured by [`configure`] on this thread; `kp` a multiple of 64.
    pub(super) unsafe fn micro(a: &[u8], kp: usize, panel: &[i8], acc: &mut [[i32; NR]; MR]) {
        assert!(a.len() >= 16 * kp && panel.len() >= kp * NR && kp.is_multiple_of(64));
        let ap = a.as_ptr();
        let wp = panel.as_ptr();
        let panel_stride = NR * 4;
        // SAFETY (whole block): every load reads 16 rows inside `a` or the panel, every
        // store writes 16 rows of 64 bytes inside `acc` (48 i32 per row)
        unsafe {
            // tilezero tmm0, tmm1, tmm2
            asm!(
                ".byte 0xc4, 0xe2, 0x7b, 0x49, 0xc0",
                ".byte 0xc4, 0xe2, 0x7b, 0x49, 0xc8",
                ".byte 0xc4, 0xe2, 0x7b, 0x49, 0xd0",
                options(nostack, nomem)
            );
            for kb in 0..kp / 64 {
                // tileloadd tmm3, [rax + rcx]: 16 activation rows, stride kp
                asm!(".byte 0xc4, 0xe2, 0x7b, 0x4b, 0x1c, 0x08",
                     in("rax") ap.add(kb * 64), in("rcx") kp, options(nostack, readonly));
                // 16 groups of four inputs from group kb * 16, stride one group
                let w = wp.add(kb * 16 * panel_stride);
                // tileloadd tmm4/5/6, [rax + rcx]: columns 0-15, 16-31, 32-47
                asm!(".byte 0xc4, 0xe2, 0x7b, 0x4b, 0x24, 0x08",
                     in("rax") w, in("rcx") panel_stride, options(nostack, readonly));
                asm!(".byte 0xc4, 0xe2, 0x7b, 0x4b, 0x2c, 0x08",
                     in("rax") w.add(64), in("rcx") panel_stride, options(nostack, readonly));
                asm!(".byte 0xc4, 0xe2, 0x7b, 0x4b, 0x34, 0x08",
                     in("rax") w.add(128), in("rcx") panel_stride, options(nostack, readonly));
                // tdpbusd tmm0, tmm3, tmm4; tmm1, tmm3, tmm5; tmm2, tmm3, tmm6
                asm!(
                    ".byte 0xc4, 0xe2, 0x59, 0x5e, 0xc3",
                    ".byte 0xc4, 0xe2, 0x51, 0x5e, 0xcb",
                    ".byte 0xc4, 0xe2, 0x49, 0x5e, 0xd3",
                    options(nostack, nomem)
                );
            }
            // tilestored [rax + rcx], tmm0/1/2: row stride 48 i32
            let out = acc.as_mut_ptr().cast::<u8>();
            let stride = NR * 4;
            asm!(".byte 0xc4, 0xe2, 0x7a, 0x4b, 0x04, 0x08",
                 in("rax") out, in("rcx") stride, options(nostack));
            asm!(".byte 0xc4, 0xe2, 0x7a, 0x4b, 0x0c, 0x08",
                 in("rax") out.add(64), in("rcx") stride, options(nostack));
            asm!(".byte 0xc4, 0xe2, 0x7a, 0x4b, 0x14, 0x08",
                 in("rax") out.add(128), in("rcx") stride, options(nostack));
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use super::{MR, NR};
    use std::arch::x86_64::{
        __m512i, _mm512_dpbusd_epi32, _mm512_loadu_si512, _mm512_set1_epi32, _mm512_setzero_si512,
        _mm512_storeu_si512,
    };

    /// Dispatches on the row count to a fully unrolled kernel.
    pub(super) fn micro(a: &[u8], kp: usize, mr: usize, panel: &[i8], acc: &mut [[i32; NR]; MR]) {
        assert!(a.len() >= mr * kp && panel.len() >= kp * NR && kp.is_multiple_of(4));
        // SAFETY: the caller checked the CPU (Kernel::Avx512Vnni); bounds asserted above
        unsafe {
            match mr {
                8 => rows::<8>(a, kp, panel, acc),
                7 => rows::<7>(a, kp, panel, acc),
                6 => rows::<6>(a, kp, panel, acc),
                5 => rows::<5>(a, kp, panel, acc),
                4 => rows::<4>(a, kp, panel, acc),
                3 => rows::<3>(a, kp, panel, acc),
                2 => rows::<2>(a, kp, panel, acc),
                _ => rows::<1>(a, kp, panel, acc),
            }
        }
    }

    /// `R` rows × 48 columns: 3R accumulators, three weight loads and R broadcasts per group
    /// of four inputs.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn rows<const R: usize>(a: &[u8], kp: usize, panel: &[i8], acc: &mut [[i32; NR]; MR]) {
        let mut c = [[_mm512_setzero_si512(); 3]; R];
        let ap = a.as_ptr();
        let wp = panel.as_ptr();
        for g in 0..kp / 4 {
            // SAFETY: g * 192 + 192 <= kp * NR bytes of the panel
            let w = unsafe {
                let base = wp.add(g * NR * 4);
                [
                    _mm512_loadu_si512(base.cast::<__m512i>()),
                    _mm512_loadu_si512(base.add(64).cast::<__m512i>()),
                    _mm512_loadu_si512(base.add(128).cast::<__m512i>()),
                ]
            };
            for (i, ci) in c.iter_mut().enumerate() {
                // SAFETY: row i < R has kp bytes; g * 4 + 4 <= kp
                let quad = unsafe { ap.add(i * kp + g * 4).cast::<i32>().read_unaligned() };
                let b = _mm512_set1_epi32(quad);
                ci[0] = _mm512_dpbusd_epi32(ci[0], b, w[0]);
                ci[1] = _mm512_dpbusd_epi32(ci[1], b, w[1]);
                ci[2] = _mm512_dpbusd_epi32(ci[2], b, w[2]);
            }
        }
        for (i, ci) in c.iter().enumerate() {
            for (v, reg) in ci.iter().enumerate() {
                // SAFETY: 16 i32 lanes into acc[i][16v..16v + 16]
                unsafe {
                    _mm512_storeu_si512(acc[i].as_mut_ptr().add(16 * v).cast::<__m512i>(), *reg);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random floats in [-1, 1) with some large outliers.
    fn data(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let v = (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
                if i % 97 == 0 {
                    v * 8.0
                } else {
                    v
                }
            })
            .collect()
    }

    /// The same integers as the kernels, computed naively from the quantized values.
    fn reference(p: &PackedI8, x: &[f32], m: usize, bias: Option<&[f32]>) -> Vec<f32> {
        let (qa, sa) = quantize_rows(Kernel::Portable, x, m, p.k, p.kp);
        let mut out = vec![0f32; m * p.n];
        for r in 0..m {
            for col in 0..p.n {
                let (pi, j) = (col / NR, col % NR);
                let mut acc = 0i32;
                for kk in 0..p.k {
                    let w = p.data[pi * NR * p.kp + (kk / 4) * NR * 4 + j * 4 + kk % 4];
                    acc += i32::from(qa[r * p.kp + kk]) * i32::from(w);
                }
                let v = (acc - p.shift[col]) as f32 * (sa[r] * p.scale[col]);
                out[r * p.n + col] = bias.map_or(v, |b| v + b[col]);
            }
        }
        out
    }

    /// Every kernel this CPU runs.
    fn kernels() -> Vec<Kernel> {
        let mut k = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                k.push(Kernel::Avx2);
            }
            if std::is_x86_feature_detected!("avx512vnni")
                && std::is_x86_feature_detected!("avx512bw")
            {
                k.push(Kernel::Avx512Vnni);
            }
            if Kernel::detect() == Kernel::Amx {
                k.push(Kernel::Amx);
            }
        }
        k
    }

    #[test]
    fn kernels_match_the_reference_exactly_on_ragged_shapes() {
        // shapes that are not multiples of the panel, the row block or the input group
        for &(m, k, n) in &[
            (1, 4, 1),
            (3, 5, 7),
            (9, 13, 50),
            (17, 64, 96),
            (70, 33, 49),
        ] {
            let w = data(n * k, 1 + m as u64);
            let x = data(m * k, 2 + n as u64);
            let bias = data(n, 3);
            let p = PackedI8::new(&w, n, k);
            let want = reference(&p, &x, m, Some(&bias));
            for kernel in kernels() {
                let mut got = vec![0f32; m * n];
                p.matmul(kernel, &x, m, Some(&bias), &mut got);
                assert_eq!(got, want, "{kernel:?} m={m} k={k} n={n}");
            }
        }
    }

    #[test]
    fn close_to_the_float_product() {
        let (m, k, n) = (12, 256, 64);
        let w = data(n * k, 7);
        let x = data(m * k, 8);
        let p = PackedI8::new(&w, n, k);
        let mut got = vec![0f32; m * n];
        p.matmul(Kernel::detect(), &x, m, None, &mut got);
        let mut err = 0f32;
        let mut norm = 0f32;
        for r in 0..m {
            for c in 0..n {
                let exact: f32 = (0..k).map(|i| x[r * k + i] * w[c * k + i]).sum();
                err += (got[r * n + c] - exact).powi(2);
                norm += exact * exact;
            }
        }
        // relative error of int8 with per-row and per-channel scales: about 1%
        let rel = (err / norm).sqrt();
        assert!(rel < 0.03, "relative error {rel}");
        assert!(rel > 0.0, "int8 is not exact");
    }

    #[test]
    fn zero_and_non_finite_rows_do_not_poison_others() {
        let (k, n) = (8, 3);
        let w = data(n * k, 9);
        let p = PackedI8::new(&w, n, k);
        let mut x = data(3 * k, 10);
        x[..k].fill(0.0);
        x[k] = f32::NAN;
        let mut out = vec![1f32; 3 * n];
        p.matmul(Kernel::detect(), &x, 3, None, &mut out);
        assert!(out[..n].iter().all(|&v| v == 0.0), "{out:?}");
        assert!(out[2 * n..].iter().all(|v| v.is_finite()), "{out:?}");
    }

    #[test]
    fn empty_inputs_are_fine() {
        let p = PackedI8::new(&[], 0, 0);
        p.matmul(Kernel::Portable, &[], 0, None, &mut []);
        let p = PackedI8::new(&data(12, 1), 3, 4);
        p.matmul(Kernel::Portable, &[], 0, None, &mut []);
        assert_eq!((p.rows_out(), p.cols_in()), (3, 4));
    }
}
