//! The CPU encoder: DistilBERT's transformer blocks over plain f32 buffers, without candle
//! tensors in the loop.
//!
//! The rows of a batch are packed (their tokens one after another, nothing padded) and every
//! step writes into buffers it owns:
//! - one product for q, k and v (their weights concatenated at load), its bias written into
//!   the output before the product accumulates onto it;
//! - attention per (row, head) as two small matrix products read in place from the fused
//!   q/k/v buffer (strided, no copies or transposes) and written in place into the context
//!   buffer, all (row, head) pairs in parallel, an optional key mask for padded inputs;
//! - residual + LayerNorm in one pass, bias + GELU in one pass after the product;
//! - the last block computes only each row's first token (what the head reads).
//!
//! The linear layers run the f32 kernel of [`crate::f32pack`] (weights packed at load) where
//! the CPU has AVX-512, else f32 products of the `gemm` crate (AVX2/FMA or portable, picked
//! at run time; the weights stay in PyTorch's `(out, in)` layout and are read transposed by
//! stride); in bf16 the kernel of [`crate::bf16pack`] or its emulation; in int8 the products
//! of [`crate::int8`]. The element-wise
//! steps are [`crate::fastmath`]'s, compiled for AVX-512, AVX2 and the base target and
//! picked at run time.

use gemm::Parallelism;
use rayon::prelude::*;

use crate::bf16pack::{self, Bf16Kernel, PackedBf16};
use crate::config::Activation;
use crate::f32pack::{self, PackedF32};
use crate::fastmath::{self, Isa};
use crate::int8::{Kernel, PackedI8};
use crate::shared::SharedMut;

/// Attention scores added where a key is masked out (the padded layout's bias).
const MASKED: f32 = -1e9;

/// A LayerNorm's parameters.
#[derive(Debug, Clone)]
pub(crate) struct Norm {
    pub(crate) gamma: Vec<f32>,
    pub(crate) beta: Vec<f32>,
}

/// A linear layer `y = x · wᵀ + b`.
#[derive(Debug, Clone)]
pub(crate) enum Lin {
    /// f32 weights, row-major `(n, k)`.
    F32 {
        w: Vec<f32>,
        b: Vec<f32>,
        n: usize,
        k: usize,
    },
    /// f32 weights packed at load for the AVX-512 kernel of [`crate::f32pack`].
    Packed { w: PackedF32, b: Vec<f32> },
    /// bf16 weights packed for the AVX-512 BF16 kernel of [`crate::bf16pack`].
    Bf16 { w: PackedBf16, b: Vec<f32> },
    /// bf16 emulated: weights rounded to bf16 inside `inner` (an f32 layer), activations
    /// rounded at each call.
    Bf16Emulated { inner: Box<Lin> },
    /// int8 weights packed for `kernel`.
    I8 {
        w: PackedI8,
        b: Vec<f32>,
        kernel: Kernel,
    },
}

impl Lin {
    pub(crate) fn out_dim(&self) -> usize {
        match self {
            Self::F32 { n, .. } => *n,
            Self::Packed { w, .. } => w.rows_out(),
            Self::Bf16 { w, .. } => w.rows_out(),
            Self::Bf16Emulated { inner } => inner.out_dim(),
            Self::I8 { w, .. } => w.rows_out(),
        }
    }

    fn in_dim(&self) -> usize {
        match self {
            Self::F32 { k, .. } => *k,
            Self::Packed { w, .. } => w.cols_in(),
            Self::Bf16 { w, .. } => w.cols_in(),
            Self::Bf16Emulated { inner } => inner.in_dim(),
            Self::I8 { w, .. } => w.cols_in(),
        }
    }

    fn quantize(&mut self, kernel: Kernel) {
        match self {
            Self::F32 { w, b, n, k } => {
                *self = Self::I8 {
                    w: PackedI8::new(w, *n, *k),
                    b: std::mem::take(b),
                    kernel,
                };
            }
            Self::Packed { w, b } => {
                let plain = w.unpack();
                *self = Self::I8 {
                    w: PackedI8::new(&plain, w.rows_out(), w.cols_in()),
                    b: std::mem::take(b),
                    kernel,
                };
            }
            // int8 quantizes f32 models only (checked by the caller)
            Self::Bf16 { .. } | Self::Bf16Emulated { .. } | Self::I8 { .. } => {}
        }
    }

    /// The f32 weights and bias of an f32 layer (`None` for other layers).
    fn plain(&mut self) -> Option<(Vec<f32>, Vec<f32>, usize, usize)> {
        match self {
            Self::F32 { w, b, n, k } => Some((std::mem::take(w), std::mem::take(b), *n, *k)),
            Self::Packed { w, b } => {
                Some((w.unpack(), std::mem::take(b), w.rows_out(), w.cols_in()))
            }
            _ => None,
        }
    }

    /// Turns an f32 layer into a bf16 one for `kernel`.
    fn make_bf16(&mut self, kernel: Bf16Kernel) {
        let Some((w, b, n, k)) = self.plain() else {
            return;
        };
        *self = match kernel {
            Bf16Kernel::Avx512 => Self::Bf16 {
                w: PackedBf16::new(&w, n, k),
                b,
            },
            Bf16Kernel::Emulated => {
                let w = w.into_iter().map(bf16pack::round_bf16).collect();
                let mut inner = Self::F32 { w, b, n, k };
                if f32pack::available() {
                    inner.pack();
                }
                Self::Bf16Emulated {
                    inner: Box::new(inner),
                }
            }
        };
    }

    /// Repacks f32 weights for the AVX-512 kernel.
    fn pack(&mut self) {
        if let Self::F32 { w, b, n, k } = self {
            *self = Self::Packed {
                w: PackedF32::new(w, *n, *k),
                b: std::mem::take(b),
            };
        }
    }

    /// `out (m, n) = x (m, k) · wᵀ + b`.
    fn forward(&self, x: &[f32], m: usize, out: &mut [f32]) {
        let n = self.out_dim();
        debug_assert_eq!(x.len(), m * self.in_dim());
        debug_assert_eq!(out.len(), m * n);
        match self {
            Self::F32 { w, b, n, k } => {
                for row in out.chunks_exact_mut(*n) {
                    row.copy_from_slice(b);
                }
                // SAFETY: x is (m, k) row-major, w is (n, k) row-major and read as its
                // transpose (k, n) by strides, out is (m, n) row-major; all in bounds
                unsafe {
                    sgemm(
                        m,
                        *n,
                        *k,
                        x.as_ptr(),
                        *k,
                        w.as_ptr(),
                        1,
                        *k as isize,
                        out.as_mut_ptr(),
                        *n,
                        1.0,
                        parallelism(m * n * k),
                    );
                }
            }
            Self::Packed { w, b } => w.matmul(x, m, b, out),
            Self::Bf16 { w, b } => w.matmul(x, m, b, out),
            Self::Bf16Emulated { inner } => {
                let mut xr = vec![0f32; x.len()];
                xr.par_chunks_mut(4096)
                    .zip(x.par_chunks(4096))
                    .for_each(|(d, s)| {
                        for (d, &v) in d.iter_mut().zip(s) {
                            *d = bf16pack::round_bf16(v);
                        }
                    });
                inner.forward(&xr, m, out);
            }
            Self::I8 { w, b, kernel } => w.matmul(*kernel, x, m, Some(b), out),
        }
    }
}

/// One transformer block.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) qkv: Lin,
    pub(crate) out: Lin,
    pub(crate) norm1: Norm,
    pub(crate) ffn1: Lin,
    pub(crate) ffn2: Lin,
    pub(crate) norm2: Norm,
}

/// The encoder: embeddings, their LayerNorm and the blocks.
#[derive(Debug, Clone)]
pub(crate) struct FastEncoder {
    pub(crate) dim: usize,
    pub(crate) n_heads: usize,
    pub(crate) eps: f32,
    pub(crate) activation: Activation,
    pub(crate) vocab: usize,
    pub(crate) max_positions: usize,
    /// `(vocab, dim)` row-major.
    pub(crate) word: Vec<f32>,
    /// `(max_positions, dim)` row-major.
    pub(crate) position: Vec<f32>,
    pub(crate) embed_norm: Norm,
    pub(crate) blocks: Vec<Block>,
    pub(crate) isa: Isa,
}

/// One row of a call: its token ids and, for a padded input, which keys are attended
/// (1) or masked (0).
pub(crate) struct Row<'a> {
    pub(crate) ids: &'a [u32],
    pub(crate) mask: Option<&'a [u32]>,
}

impl FastEncoder {
    /// Packs the f32 layers for the AVX-512 kernel where this CPU has it (unless
    /// `CLINFER_F32_KERNEL=gemm`); returns whether it did.
    pub(crate) fn pack_f32(&mut self) -> bool {
        if !f32pack::available() || std::env::var("CLINFER_F32_KERNEL").is_ok_and(|v| v == "gemm") {
            return false;
        }
        for b in &mut self.blocks {
            for lin in [&mut b.qkv, &mut b.out, &mut b.ffn1, &mut b.ffn2] {
                lin.pack();
            }
        }
        true
    }

    /// What computes the float linear layers: `avx512-f32` (packed weights), `gemm-f32`,
    /// `avx512-bf16` or `bf16-emulated`.
    pub(crate) fn float_kernel(&self) -> &'static str {
        match self.blocks.first().map(|b| &b.qkv) {
            Some(Lin::Packed { .. }) => "avx512-f32",
            Some(Lin::Bf16 { .. }) => Bf16Kernel::Avx512.name(),
            Some(Lin::Bf16Emulated { .. }) => Bf16Kernel::Emulated.name(),
            _ => "gemm-f32",
        }
    }

    /// Turns the blocks' linear layers into bf16 ones for `kernel`.
    pub(crate) fn make_bf16(&mut self, kernel: Bf16Kernel) {
        for b in &mut self.blocks {
            for lin in [&mut b.qkv, &mut b.out, &mut b.ffn1, &mut b.ffn2] {
                lin.make_bf16(kernel);
            }
        }
    }

    /// Quantizes every linear layer of the blocks to int8 for `kernel`.
    pub(crate) fn quantize(&mut self, kernel: Kernel) {
        for b in &mut self.blocks {
            for lin in [&mut b.qkv, &mut b.out, &mut b.ffn1, &mut b.ffn2] {
                lin.quantize(kernel);
            }
        }
    }

    /// The last hidden state of each row's first token, `(rows, dim)` row-major.
    ///
    /// Ids must be below the vocabulary size and rows within `max_positions` (the caller
    /// validates; an id out of range panics here, never reads out of bounds).
    pub(crate) fn forward_cls(&self, rows: &[Row<'_>]) -> Vec<f32> {
        let d = self.dim;
        let mut spans = Vec::with_capacity(rows.len());
        let mut total = 0;
        for r in rows {
            spans.push((total, r.ids.len()));
            total += r.ids.len();
        }
        let mut x = vec![0f32; total * d];
        self.embed(rows, &spans, &mut x);

        let n_rows = rows.len();
        let hidden = self.blocks.first().map_or(0, |b| b.ffn1.out_dim());
        let mut qkv = vec![0f32; total * 3 * d];
        let mut ctx = vec![0f32; total * d];
        let mut proj = vec![0f32; total * d];
        let mut mid = vec![0f32; total * hidden];
        let last = self.blocks.len().saturating_sub(1);
        for (i, block) in self.blocks.iter().enumerate() {
            let cls_only = i == last;
            block.qkv.forward(&x, total, &mut qkv);
            let m = if cls_only { n_rows } else { total };
            self.attention(rows, &spans, &qkv, cls_only, &mut ctx[..m * d]);
            if cls_only {
                // keep only each row's first token as the residual
                for (r, &(start, _)) in spans.iter().enumerate() {
                    x.copy_within(start * d..(start + 1) * d, r * d);
                }
                x.truncate(m * d);
            }
            self.finish(block, m, &mut x, &ctx[..m * d], &mut proj, &mut mid);
        }
        if self.blocks.is_empty() {
            let mut cls = Vec::with_capacity(n_rows * d);
            for &(start, _) in &spans {
                cls.extend_from_slice(&x[start * d..(start + 1) * d]);
            }
            return cls;
        }
        x
    }

    /// Word + position embeddings and their LayerNorm into `x (tokens, dim)`.
    fn embed(&self, rows: &[Row<'_>], spans: &[(usize, usize)], x: &mut [f32]) {
        let d = self.dim;
        let ptr = SharedMut(x.as_mut_ptr());
        rows.par_iter()
            .zip(spans.par_iter())
            .for_each(|(row, &(start, len))| {
                // SAFETY: row r owns tokens start..start+len of x
                let xr =
                    unsafe { std::slice::from_raw_parts_mut(ptr.get().add(start * d), len * d) };
                for (p, (&id, out)) in row.ids.iter().zip(xr.chunks_exact_mut(d)).enumerate() {
                    let w = &self.word[id as usize * d..(id as usize + 1) * d];
                    let pe = &self.position[p * d..(p + 1) * d];
                    for ((o, &a), &b) in out.iter_mut().zip(w).zip(pe) {
                        *o = a + b;
                    }
                    let n = &self.embed_norm;
                    fastmath::layer_norm(self.isa, out, &n.gamma, &n.beta, self.eps);
                }
            });
    }

    /// Scaled dot-product attention for every (row, head) into `ctx`: `(tokens, dim)`, or
    /// `(rows, dim)` with `cls_only` (the queries are then each row's first token).
    fn attention(
        &self,
        rows: &[Row<'_>],
        spans: &[(usize, usize)],
        qkv: &[f32],
        cls_only: bool,
        ctx: &mut [f32],
    ) {
        let d = self.dim;
        let heads = self.n_heads;
        let hd = d / heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let out = SharedMut(ctx.as_mut_ptr());
        let qkv_ptr = qkv.as_ptr() as usize;
        (0..rows.len() * heads).into_par_iter().for_each_init(
            Vec::new,
            |scores: &mut Vec<f32>, t| {
                let (r, h) = (t / heads, t % heads);
                let (start, len) = spans[r];
                let q_len = if cls_only { 1 } else { len };
                let out_row = if cls_only { r } else { start };
                scores.clear();
                scores.resize(q_len * len, 0.0);
                let base = qkv_ptr as *const f32;
                // SAFETY: q, k and v of this row and head lie inside qkv (tokens
                // start..start+len, columns h*hd.. of each third); the context block
                // (out_row.., h*hd..) is this task's alone
                unsafe {
                    let q = base.add(start * 3 * d + h * hd);
                    let k = base.add(start * 3 * d + d + h * hd);
                    let v = base.add(start * 3 * d + 2 * d + h * hd);
                    // scores (q_len, len) = q (q_len, hd) · kᵀ (hd, len)
                    sgemm(
                        q_len,
                        len,
                        hd,
                        q,
                        3 * d,
                        k,
                        1,
                        (3 * d) as isize,
                        scores.as_mut_ptr(),
                        len,
                        scale,
                        Parallelism::None,
                    );
                    let mask = rows[r].mask;
                    for srow in scores.chunks_exact_mut(len) {
                        if let Some(mask) = mask {
                            for (s, &m) in srow.iter_mut().zip(mask) {
                                if m == 0 {
                                    *s += MASKED;
                                }
                            }
                        }
                        fastmath::softmax(self.isa, srow);
                    }
                    // ctx (q_len, hd) = weights (q_len, len) · v (len, hd)
                    let dst = out.get().add(out_row * d + h * hd);
                    dst_zero(dst, q_len, hd, d);
                    sgemm(
                        q_len,
                        hd,
                        len,
                        scores.as_ptr(),
                        len,
                        v,
                        (3 * d) as isize,
                        1,
                        dst,
                        d,
                        1.0,
                        Parallelism::None,
                    );
                }
            },
        );
    }

    /// Output projection, residual + LayerNorm, FFN, residual + LayerNorm, over `m` rows.
    fn finish(
        &self,
        block: &Block,
        m: usize,
        x: &mut [f32],
        ctx: &[f32],
        proj: &mut [f32],
        mid: &mut [f32],
    ) {
        let d = self.dim;
        let proj = &mut proj[..m * d];
        block.out.forward(ctx, m, proj);
        self.add_norm(x, proj, &block.norm1);
        let hidden = block.ffn1.out_dim();
        let mid = &mut mid[..m * hidden];
        block.ffn1.forward(x, m, mid);
        let isa = self.isa;
        let act = self.activation;
        mid.par_chunks_mut(hidden * 4).for_each(|c| match act {
            Activation::Gelu => fastmath::gelu_erf(isa, c),
            Activation::GeluTanh => fastmath::gelu_tanh(isa, c),
            Activation::Relu => fastmath::relu(c),
        });
        block.ffn2.forward(mid, m, proj);
        self.add_norm(x, proj, &block.norm2);
    }

    fn add_norm(&self, x: &mut [f32], y: &[f32], norm: &Norm) {
        let d = self.dim;
        let isa = self.isa;
        x.par_chunks_mut(d)
            .zip(y.par_chunks(d))
            .with_min_len(8)
            .for_each(|(a, b)| {
                fastmath::add_layer_norm(isa, a, b, &norm.gamma, &norm.beta, self.eps);
            });
    }
}

/// Zeroes an `(rows, cols)` block with row stride `ld`.
///
/// # Safety
/// The block must be in bounds and not written by anyone else meanwhile.
unsafe fn dst_zero(dst: *mut f32, rows: usize, cols: usize, ld: usize) {
    for r in 0..rows {
        // SAFETY: in bounds by the caller's contract
        unsafe { std::ptr::write_bytes(dst.add(r * ld), 0, cols) };
    }
}

/// Rayon parallelism for a product of `work` multiply-adds: none for small ones.
fn parallelism(work: usize) -> Parallelism {
    let threads = rayon::current_num_threads();
    if threads <= 1 || work < 1 << 18 {
        Parallelism::None
    } else {
        Parallelism::Rayon(threads)
    }
}

/// `c (m, n) += scale · a (m, k) · b (k, n)`, with `a` row-major (row stride `lda`), `b`
/// addressed by its row and column strides, `c` row-major (row stride `ldc`).
///
/// # Safety
/// Every addressed element must be in bounds; `c` must not overlap `a` or `b`.
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    b_rs: isize,
    b_cs: isize,
    c: *mut f32,
    ldc: usize,
    scale: f32,
    par: Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: forwarded from the caller's contract
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            ldc as isize,
            true,
            a,
            1,
            lda as isize,
            b,
            b_cs,
            b_rs,
            1.0,
            scale,
            false,
            false,
            false,
            par,
        );
    }
}
