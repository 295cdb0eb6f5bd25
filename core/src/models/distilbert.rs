//! DistilBERT for sequence classification, written for candle.
//!
//! The layout and parameter names follow transformers' `DistilBertForSequenceClassification`:
//! one struct per submodule, each built by `load(vb, cfg)` with `vb.pp(..)` names that match the
//! checkpoint keys (after [`crate::weights`] has normalised prefixes and `gamma`/`beta`).
//!
//! Mixed precision: linear layers run in the model's dtype (f32, f16 or bf16), while LayerNorm,
//! the attention softmax and the additive mask bias are computed in f32.

use std::sync::Arc;

use candle_core::{DType, Device, Module, Storage, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};

use crate::config::{Activation, Config, LAYER_NORM_EPS};
use crate::error::{Error, Result};
use crate::int8::{Kernel, PackedI8};

use super::fast;

/// Large negative bias added to attention scores at padded positions (in f32).
const MASKED_BIAS: f64 = -1e9;

/// A LayerNorm whose statistics and affine parameters are always f32.
#[derive(Debug, Clone)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

impl LayerNorm {
    fn load(vb: VarBuilder<'_>, dim: usize) -> Result<Self> {
        let vb = vb.to_dtype(DType::F32);
        Ok(Self {
            weight: vb.get(dim, "weight")?,
            bias: vb.get(dim, "bias")?,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let dtype = xs.dtype();
        let xs = xs.to_dtype(DType::F32)?.contiguous()?;
        let ys = candle_nn::ops::layer_norm(&xs, &self.weight, &self.bias, LAYER_NORM_EPS)?;
        Ok(ys.to_dtype(dtype)?)
    }
}

fn linear(vb: VarBuilder<'_>, in_dim: usize, out_dim: usize) -> Result<Linear> {
    Ok(candle_nn::linear(in_dim, out_dim, vb)?)
}

/// A linear layer of the encoder: candle's `Linear` in the model's float dtype, or an int8
/// product (weights quantized at load, see [`crate::int8`]).
#[derive(Debug, Clone)]
enum Proj {
    Float(Linear),
    Int8 {
        w: Arc<PackedI8>,
        bias: Option<Vec<f32>>,
        kernel: Kernel,
    },
}

impl Proj {
    fn load(vb: VarBuilder<'_>, in_dim: usize, out_dim: usize) -> Result<Self> {
        Ok(Self::Float(linear(vb, in_dim, out_dim)?))
    }

    /// Quantizes a float layer in place (a no-op when already int8).
    fn quantize(&mut self, kernel: Kernel) -> Result<()> {
        if let Self::Float(l) = self {
            let (n, k) = l.weight().dims2()?;
            let w: Vec<f32> = l.weight().to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
            let bias = match l.bias() {
                Some(b) => Some(b.to_dtype(DType::F32)?.to_vec1()?),
                None => None,
            };
            *self = Self::Int8 {
                w: Arc::new(PackedI8::new(&w, n, k)),
                bias,
                kernel,
            };
        }
        Ok(())
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (w, bias, kernel) = match self {
            Self::Float(l) => return Ok(l.forward(xs)?),
            Self::Int8 { w, bias, kernel } => (w, bias, *kernel),
        };
        let dims = xs.dims().to_vec();
        let k = *dims.last().ok_or_else(|| shape_error("a scalar input"))?;
        if k != w.cols_in() {
            return Err(shape_error("an input width that does not match the layer"));
        }
        let m = xs.elem_count() / k.max(1);
        let xs = xs.to_dtype(DType::F32)?.contiguous()?;
        let mut out = vec![0f32; m * w.rows_out()];
        {
            let (storage, layout) = xs.storage_and_layout();
            let Storage::Cpu(cpu) = &*storage else {
                return Err(Error::InvalidConfig(
                    "the int8 dtype runs on the CPU only".into(),
                ));
            };
            let all = cpu.as_slice::<f32>()?;
            let (start, end) = layout
                .contiguous_offsets()
                .ok_or_else(|| shape_error("a non-contiguous input"))?;
            w.matmul(kernel, &all[start..end], m, bias.as_deref(), &mut out);
        }
        let mut shape = dims;
        if let Some(last) = shape.last_mut() {
            *last = w.rows_out();
        }
        Ok(Tensor::from_vec(out, shape, xs.device())?)
    }
}

fn shape_error(what: &str) -> Error {
    Error::Candle(candle_core::Error::Msg(format!(
        "int8 linear layer: {what}"
    )))
}

/// Word and position embeddings followed by LayerNorm.
#[derive(Debug, Clone)]
struct Embeddings {
    word: Embedding,
    position: Embedding,
    layer_norm: LayerNorm,
}

impl Embeddings {
    fn load(vb: VarBuilder<'_>, cfg: &Config) -> Result<Self> {
        Ok(Self {
            word: candle_nn::embedding(cfg.vocab_size, cfg.dim, vb.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                cfg.max_position_embeddings,
                cfg.dim,
                vb.pp("position_embeddings"),
            )?,
            layer_norm: LayerNorm::load(vb.pp("LayerNorm"), cfg.dim)?,
        })
    }

    fn forward(&self, input_ids: &Tensor) -> Result<Tensor> {
        let (_, seq_len) = input_ids.dims2()?;
        let positions = Tensor::arange(0u32, seq_len as u32, input_ids.device())?;
        let words = self.word.forward(input_ids)?;
        let positions = self.position.forward(&positions)?;
        let xs = words.broadcast_add(&positions)?;
        self.layer_norm.forward(&xs)
    }

    /// Packed layout: `input_ids` and `positions` are `(tokens,)`; returns `(tokens, dim)`.
    fn forward_packed(&self, input_ids: &Tensor, positions: &Tensor) -> Result<Tensor> {
        let xs = (self.word.forward(input_ids)? + self.position.forward(positions)?)?;
        self.layer_norm.forward(&xs)
    }
}

/// The query, key and value projections: three layers as loaded, or, once quantized, one
/// product over the concatenated weights (the activations are quantized once for all three).
#[derive(Debug, Clone)]
enum Qkv {
    Separate { q: Proj, k: Proj, v: Proj },
    Fused(Proj),
}

/// Multi-head self-attention (`q_lin`, `k_lin`, `v_lin`, `out_lin`).
#[derive(Debug, Clone)]
struct MultiHeadSelfAttention {
    qkv: Qkv,
    out_lin: Proj,
    n_heads: usize,
    head_dim: usize,
}

impl MultiHeadSelfAttention {
    fn load(vb: VarBuilder<'_>, cfg: &Config) -> Result<Self> {
        Ok(Self {
            qkv: Qkv::Separate {
                q: Proj::load(vb.pp("q_lin"), cfg.dim, cfg.dim)?,
                k: Proj::load(vb.pp("k_lin"), cfg.dim, cfg.dim)?,
                v: Proj::load(vb.pp("v_lin"), cfg.dim, cfg.dim)?,
            },
            out_lin: Proj::load(vb.pp("out_lin"), cfg.dim, cfg.dim)?,
            n_heads: cfg.n_heads,
            head_dim: cfg.dim / cfg.n_heads,
        })
    }

    /// The scaled queries of the positions `pick` selects, and the keys and values of all of
    /// `xs`, each with the last dimension `dim` and contiguous.
    fn project(
        &self,
        xs: &Tensor,
        pick: impl Fn(&Tensor) -> Result<Tensor>,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        match &self.qkv {
            Qkv::Separate { q, k, v } => Ok((
                (q.forward(&pick(xs)?)? * scale)?,
                k.forward(xs)?,
                v.forward(xs)?,
            )),
            Qkv::Fused(p) => {
                let all = p.forward(xs)?;
                let last = all.rank() - 1;
                let dim = all.dim(last)? / 3;
                let part = |i: usize| -> Result<Tensor> {
                    Ok(all.narrow(last, i * dim, dim)?.contiguous()?)
                };
                let q = (pick(&part(0)?)?.contiguous()? * scale)?;
                Ok((q, part(1)?, part(2)?))
            }
        }
    }

    /// Padded layout: `xs` is `(batch, seq, dim)`; `bias` is `None` or an f32 tensor of shape
    /// `(batch, 1, 1, seq)`. With `cls_only` the queries are the first position of each row
    /// only, and the result is `(batch, 1, dim)`.
    fn forward(&self, xs: &Tensor, bias: Option<&Tensor>, cls_only: bool) -> Result<Tensor> {
        let (batch, seq, dim) = xs.dims3()?;
        let heads = |t: Tensor, len: usize| -> Result<Tensor> {
            Ok(t.reshape((batch, len, self.n_heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q_len = if cls_only { 1 } else { seq };
        let (q, k, v) = self.project(xs, |t| {
            Ok(if cls_only {
                t.narrow(1, 0, 1)?.contiguous()?
            } else {
                t.clone()
            })
        })?;
        let (q, k, v) = (heads(q, q_len)?, heads(k, seq)?, heads(v, seq)?);
        let context = attend(&q, &k, &v, bias)?
            .transpose(1, 2)?
            .reshape((batch, q_len, dim))?;
        self.out_lin.forward(&context)
    }

    /// Packed layout: `xs` is `(tokens, dim)`, the rows' tokens one after another, and `rows`
    /// holds each row's `(start, len)` in it. Attention runs row by row, so nothing is padded
    /// and no bias is needed. With `cls_only` the queries are the first token of each row
    /// only, and the result is `(rows, dim)`.
    fn forward_packed(
        &self,
        xs: &Tensor,
        rows: &[(usize, usize)],
        cls_only: bool,
    ) -> Result<Tensor> {
        let dim = xs.dim(1)?;
        let split = |t: &Tensor, start: usize, len: usize| -> Result<Tensor> {
            Ok(t.narrow(0, start, len)?
                .reshape((len, self.n_heads, self.head_dim))?
                .transpose(0, 1)?
                .contiguous()?)
        };
        let (q, k, v) = self.project(xs, |t| {
            if cls_only {
                cls_rows(t, rows)
            } else {
                Ok(t.clone())
            }
        })?;
        let mut contexts = Vec::with_capacity(rows.len());
        for (i, &(start, len)) in rows.iter().enumerate() {
            let (q_start, q_len) = if cls_only { (i, 1) } else { (start, len) };
            let qi = split(&q, q_start, q_len)?;
            let ki = split(&k, start, len)?;
            let vi = split(&v, start, len)?;
            contexts.push(
                attend(&qi, &ki, &vi, None)?
                    .transpose(0, 1)?
                    .reshape((q_len, dim))?,
            );
        }
        let context = Tensor::cat(&contexts, 0)?;
        self.out_lin.forward(&context)
    }

    /// Quantizes the projections; q, k and v become one fused product.
    fn quantize(&mut self, kernel: Kernel) -> Result<()> {
        if let Qkv::Separate { q, k, v } = &self.qkv {
            let (Proj::Float(q), Proj::Float(k), Proj::Float(v)) = (q, k, v) else {
                return Err(Error::InvalidConfig(
                    "attention projections are already quantized".into(),
                ));
            };
            let weight = Tensor::cat(&[q.weight(), k.weight(), v.weight()], 0)?;
            let bias = match (q.bias(), k.bias(), v.bias()) {
                (Some(a), Some(b), Some(c)) => Some(Tensor::cat(&[a, b, c], 0)?),
                (None, None, None) => None,
                _ => {
                    return Err(Error::InvalidConfig(
                        "q_lin, k_lin and v_lin disagree on having a bias".into(),
                    ))
                }
            };
            let mut fused = Proj::Float(Linear::new(weight, bias));
            fused.quantize(kernel)?;
            self.qkv = Qkv::Fused(fused);
        }
        self.out_lin.quantize(kernel)
    }
}

/// Scaled dot-product attention over `(.., heads, q, head_dim)` queries and
/// `(.., heads, k, head_dim)` keys and values (queries already scaled). The scores, the
/// optional additive `bias` and the softmax are f32.
fn attend(q: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let scores = q.matmul(&k.t()?)?.to_dtype(DType::F32)?;
    let scores = match bias {
        Some(bias) => scores.broadcast_add(bias)?,
        None => scores,
    };
    let weights = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(v.dtype())?;
    Ok(weights.matmul(v)?)
}

/// The first token of each packed row, `(rows, dim)`.
fn cls_rows(xs: &Tensor, rows: &[(usize, usize)]) -> Result<Tensor> {
    let starts: Vec<u32> = rows.iter().map(|&(start, _)| start as u32).collect();
    let starts = Tensor::from_vec(starts, rows.len(), xs.device())?;
    Ok(xs.index_select(&starts, 0)?)
}

/// The position-wise feed-forward network (`lin1`, activation, `lin2`).
#[derive(Debug, Clone)]
struct Ffn {
    lin1: Proj,
    lin2: Proj,
    activation: Activation,
}

impl Ffn {
    fn load(vb: VarBuilder<'_>, cfg: &Config) -> Result<Self> {
        Ok(Self {
            lin1: Proj::load(vb.pp("lin1"), cfg.dim, cfg.hidden_dim)?,
            lin2: Proj::load(vb.pp("lin2"), cfg.hidden_dim, cfg.dim)?,
            activation: cfg.activation,
        })
    }

    fn quantize(&mut self, kernel: Kernel) -> Result<()> {
        self.lin1.quantize(kernel)?;
        self.lin2.quantize(kernel)
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let hidden = self.lin1.forward(xs)?;
        let hidden = match self.activation {
            Activation::Gelu => hidden.gelu_erf()?,
            Activation::GeluTanh => hidden.gelu()?,
            Activation::Relu => hidden.relu()?,
        };
        self.lin2.forward(&hidden)
    }
}

/// One transformer block: attention, `sa_layer_norm`, FFN, `output_layer_norm` (post-norm).
#[derive(Debug, Clone)]
struct TransformerBlock {
    attention: MultiHeadSelfAttention,
    sa_layer_norm: LayerNorm,
    ffn: Ffn,
    output_layer_norm: LayerNorm,
}

impl TransformerBlock {
    fn load(vb: VarBuilder<'_>, cfg: &Config) -> Result<Self> {
        Ok(Self {
            attention: MultiHeadSelfAttention::load(vb.pp("attention"), cfg)?,
            sa_layer_norm: LayerNorm::load(vb.pp("sa_layer_norm"), cfg.dim)?,
            ffn: Ffn::load(vb.pp("ffn"), cfg)?,
            output_layer_norm: LayerNorm::load(vb.pp("output_layer_norm"), cfg.dim)?,
        })
    }

    /// Padded layout (see [`MultiHeadSelfAttention::forward`]). With `cls_only` only the first
    /// position of each row is computed (all positions still serve as keys and values).
    fn forward(&self, xs: &Tensor, bias: Option<&Tensor>, cls_only: bool) -> Result<Tensor> {
        let attended = self.attention.forward(xs, bias, cls_only)?;
        let residual = if cls_only {
            xs.narrow(1, 0, 1)?
        } else {
            xs.clone()
        };
        self.finish(&attended, &residual)
    }

    /// Packed layout (see [`MultiHeadSelfAttention::forward_packed`]).
    fn forward_packed(
        &self,
        xs: &Tensor,
        rows: &[(usize, usize)],
        cls_only: bool,
    ) -> Result<Tensor> {
        let attended = self.attention.forward_packed(xs, rows, cls_only)?;
        let residual = if cls_only {
            cls_rows(xs, rows)?
        } else {
            xs.clone()
        };
        self.finish(&attended, &residual)
    }

    fn quantize(&mut self, kernel: Kernel) -> Result<()> {
        self.attention.quantize(kernel)?;
        self.ffn.quantize(kernel)
    }

    /// Residual, `sa_layer_norm`, FFN, residual, `output_layer_norm`.
    fn finish(&self, attended: &Tensor, residual: &Tensor) -> Result<Tensor> {
        let xs = self.sa_layer_norm.forward(&(attended + residual)?)?;
        let ffn = self.ffn.forward(&xs)?;
        self.output_layer_norm.forward(&(ffn + xs)?)
    }
}

/// The DistilBERT encoder: embeddings and `n_layers` transformer blocks.
#[derive(Debug, Clone)]
pub struct DistilBertModel {
    embeddings: Embeddings,
    layers: Vec<TransformerBlock>,
}

impl DistilBertModel {
    /// Builds the encoder from `vb` (the names below `distilbert.`).
    ///
    /// # Errors
    /// A missing tensor or a shape that does not match `cfg`.
    pub fn load(vb: VarBuilder<'_>, cfg: &Config) -> Result<Self> {
        let embeddings = Embeddings::load(vb.pp("embeddings"), cfg)?;
        let layers = (0..cfg.n_layers)
            .map(|i| TransformerBlock::load(vb.pp(format!("transformer.layer.{i}")), cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { embeddings, layers })
    }

    /// Quantizes every linear layer of the transformer blocks to int8 with `kernel` (see
    /// [`crate::int8`]); embeddings, LayerNorm and attention stay in f32.
    ///
    /// # Errors
    /// Weights that cannot be read back from their device.
    pub fn quantize_int8(&mut self, kernel: Kernel) -> Result<()> {
        for layer in &mut self.layers {
            layer.quantize(kernel)?;
        }
        Ok(())
    }

    /// Returns the last hidden states, `(batch, seq, dim)`.
    ///
    /// `attention_mask` holds 1 for real tokens and 0 for padding (the Hugging Face convention);
    /// pass `None` when no row is padded.
    ///
    /// # Errors
    /// Tensor shape or device errors.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>) -> Result<Tensor> {
        let bias = attention_mask.map(attention_bias).transpose()?;
        let mut xs = self.embeddings.forward(input_ids)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, bias.as_ref(), false)?;
        }
        Ok(xs)
    }

    /// Returns the last hidden state of each row's first token (`[CLS]`), `(batch, dim)`.
    ///
    /// The same as the first position of [`DistilBertModel::forward`], but the last block
    /// computes only that position (every position still serves as a key and value there).
    ///
    /// # Errors
    /// Tensor shape or device errors.
    pub fn forward_cls(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let bias = attention_mask.map(attention_bias).transpose()?;
        let mut xs = self.embeddings.forward(input_ids)?;
        let last = self.layers.len().saturating_sub(1);
        for (i, layer) in self.layers.iter().enumerate() {
            xs = layer.forward(&xs, bias.as_ref(), i == last)?;
        }
        if self.layers.is_empty() {
            xs = xs.narrow(1, 0, 1)?;
        }
        Ok(xs.squeeze(1)?)
    }

    /// Returns the last hidden state of each row's first token, `(rows, dim)`, computed in the
    /// packed layout: the rows' tokens are concatenated (no padding, no mask) for the linear
    /// layers and attention runs row by row. It costs the tokens the rows hold, where the
    /// padded layout costs the longest row times the number of rows.
    ///
    /// The rows must be non-empty and within `max_position_embeddings`
    /// ([`crate::Model::logits`] checks this).
    ///
    /// # Errors
    /// Tensor shape or device errors.
    pub fn forward_packed_cls(&self, rows: &[&[u32]], device: &Device) -> Result<Tensor> {
        let total: usize = rows.iter().map(|r| r.len()).sum();
        let mut ids = Vec::with_capacity(total);
        let mut positions = Vec::with_capacity(total);
        let mut spans = Vec::with_capacity(rows.len());
        for row in rows {
            spans.push((ids.len(), row.len()));
            ids.extend_from_slice(row);
            positions.extend(0..row.len() as u32);
        }
        let ids = Tensor::from_vec(ids, total, device)?;
        let positions = Tensor::from_vec(positions, total, device)?;
        let mut xs = self.embeddings.forward_packed(&ids, &positions)?;
        let last = self.layers.len().saturating_sub(1);
        for (i, layer) in self.layers.iter().enumerate() {
            xs = layer.forward_packed(&xs, &spans, i == last)?;
        }
        if self.layers.is_empty() {
            xs = cls_rows(&xs, &spans)?;
        }
        Ok(xs)
    }
}

/// The encoder a classifier runs: candle's tensor ops, or the CPU encoder (`models/fast.rs`).
#[derive(Debug, Clone)]
enum Encoder {
    Candle(DistilBertModel),
    Fast(Box<fast::FastEncoder>),
}

fn floats(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?)
}

fn fast_lin(p: &Proj) -> Result<fast::Lin> {
    let Proj::Float(l) = p else {
        return Err(Error::InvalidConfig(
            "an int8 layer cannot move to the fast encoder".into(),
        ));
    };
    let (n, k) = l.weight().dims2()?;
    let b = match l.bias() {
        Some(b) => floats(b)?,
        None => vec![0.0; n],
    };
    Ok(fast::Lin::F32 {
        w: floats(l.weight())?,
        b,
        n,
        k,
    })
}

fn fast_norm(n: &LayerNorm) -> Result<fast::Norm> {
    Ok(fast::Norm {
        gamma: floats(&n.weight)?,
        beta: floats(&n.bias)?,
    })
}

impl DistilBertModel {
    /// The same encoder over plain buffers (the CPU encoder, `models/fast.rs`); q, k and v fused.
    fn to_fast(&self, cfg: &Config) -> Result<fast::FastEncoder> {
        let mut blocks = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let a = &layer.attention;
            let qkv = match &a.qkv {
                Qkv::Separate { q, k, v } => {
                    let parts = [fast_lin(q)?, fast_lin(k)?, fast_lin(v)?];
                    let (mut w, mut b) = (Vec::new(), Vec::new());
                    let (mut n, mut kk) = (0, 0);
                    for part in parts {
                        if let fast::Lin::F32 {
                            w: pw,
                            b: pb,
                            n: pn,
                            k: pk,
                        } = part
                        {
                            w.extend(pw);
                            b.extend(pb);
                            n += pn;
                            kk = pk;
                        }
                    }
                    fast::Lin::F32 { w, b, n, k: kk }
                }
                Qkv::Fused(p) => fast_lin(p)?,
            };
            blocks.push(fast::Block {
                qkv,
                out: fast_lin(&a.out_lin)?,
                norm1: fast_norm(&layer.sa_layer_norm)?,
                ffn1: fast_lin(&layer.ffn.lin1)?,
                ffn2: fast_lin(&layer.ffn.lin2)?,
                norm2: fast_norm(&layer.output_layer_norm)?,
            });
        }
        Ok(fast::FastEncoder {
            dim: cfg.dim,
            n_heads: cfg.n_heads,
            eps: LAYER_NORM_EPS,
            activation: cfg.activation,
            vocab: cfg.vocab_size,
            max_positions: cfg.max_position_embeddings,
            word: floats(self.embeddings.word.embeddings())?,
            position: floats(self.embeddings.position.embeddings())?,
            embed_norm: fast_norm(&self.embeddings.layer_norm)?,
            blocks,
            isa: crate::fastmath::Isa::detect(),
        })
    }
}

/// Turns a `(batch, seq)` 0/1 mask into an f32 additive bias of shape `(batch, 1, 1, seq)`.
fn attention_bias(mask: &Tensor) -> Result<Tensor> {
    let (batch, seq) = mask.dims2()?;
    let mask = mask.to_dtype(DType::F32)?;
    // (1 - mask) * MASKED_BIAS: 0 where attended, MASKED_BIAS where padded.
    let bias = ((mask - 1.0)? * -MASKED_BIAS)?;
    Ok(bias.reshape((batch, 1, 1, seq))?)
}

/// DistilBERT with the sequence-classification head:
/// `[CLS]` → `pre_classifier` → ReLU → `classifier`.
#[derive(Debug, Clone)]
pub struct DistilBertForSequenceClassification {
    encoder: Encoder,
    pre_classifier: Linear,
    classifier: Linear,
    device: Device,
    dtype: DType,
    int8: Option<Kernel>,
}

impl DistilBertForSequenceClassification {
    /// Builds the model from `vb`, whose names are the normalised checkpoint keys
    /// (`distilbert.*`, `pre_classifier.*`, `classifier.*`).
    ///
    /// # Errors
    /// A missing tensor or a shape that does not match `cfg` (including a classifier whose
    /// number of outputs differs from the number of labels in the config).
    ///
    /// An f32 or bf16 model on the CPU runs the CPU encoder (`models/fast.rs`; set
    /// `CLINFER_CPU_ENGINE` to `candle` to run candle's tensor ops instead, for comparisons);
    /// f16 on the CPU and every dtype on CUDA run candle.
    pub fn load(vb: VarBuilder<'_>, cfg: &Config) -> Result<Self> {
        let candle = DistilBertModel::load(vb.pp("distilbert"), cfg)?;
        let use_fast = vb.device().is_cpu()
            && matches!(vb.dtype(), DType::F32 | DType::BF16)
            && std::env::var("CLINFER_CPU_ENGINE").map_or(true, |v| v != "candle");
        let encoder = if use_fast {
            let mut fast = candle.to_fast(cfg)?;
            if vb.dtype() == DType::BF16 {
                fast.make_bf16(crate::bf16pack::Bf16Kernel::detect());
            } else {
                fast.pack_f32();
            }
            Encoder::Fast(Box::new(fast))
        } else {
            Encoder::Candle(candle)
        };
        Ok(Self {
            encoder,
            pre_classifier: linear(vb.pp("pre_classifier"), cfg.dim, cfg.dim)?,
            classifier: linear(vb.pp("classifier"), cfg.dim, cfg.num_labels())?,
            device: vb.device().clone(),
            dtype: vb.dtype(),
            int8: None,
        })
    }

    /// Quantizes the encoder's linear layers to int8 (weights per output channel, activations
    /// per row at each call), run by `kernel`; the classification head, embeddings,
    /// LayerNorm and softmax stay in f32. The model must be an f32 model on the CPU.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] on a CUDA device or a model that is not f32.
    pub fn quantize_int8(&mut self, kernel: Kernel) -> Result<()> {
        if !self.device.is_cpu() {
            return Err(Error::InvalidConfig(
                "the int8 dtype runs on the CPU only (use f16 or bf16 on CUDA)".into(),
            ));
        }
        if self.dtype != DType::F32 {
            return Err(Error::InvalidConfig(format!(
                "int8 quantizes an f32 model, not {:?}",
                self.dtype
            )));
        }
        match &mut self.encoder {
            Encoder::Candle(m) => m.quantize_int8(kernel)?,
            Encoder::Fast(f) => f.quantize(kernel),
        }
        self.int8 = Some(kernel);
        Ok(())
    }

    /// The int8 kernel the encoder's linear layers run, or `None` for float layers.
    #[must_use]
    pub fn int8_kernel(&self) -> Option<Kernel> {
        self.int8
    }

    /// Computes logits, `(batch, num_labels)` in f32.
    ///
    /// `input_ids` is a `(batch, seq)` u32 tensor; `attention_mask` a matching 0/1 tensor, or
    /// `None` when no row is padded (which skips the bias entirely).
    ///
    /// # Errors
    /// Tensor shape or device errors.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>) -> Result<Tensor> {
        let cls = self.cls_padded(input_ids, attention_mask)?;
        self.head(&cls)
    }

    /// Whether the encoder is the CPU encoder (`"fast"`, `models/fast.rs`) or candle's (`"candle"`).
    #[must_use]
    pub fn engine(&self) -> &'static str {
        match self.encoder {
            Encoder::Candle(_) => "candle",
            Encoder::Fast(_) => "fast",
        }
    }

    /// What computes the float linear layers of the fast encoder (`avx512-f32` with weights
    /// packed at load, `gemm-f32`, `avx512-bf16` or `bf16-emulated`); `None` for candle's
    /// encoder.
    #[must_use]
    pub fn float_kernel(&self) -> Option<&'static str> {
        match &self.encoder {
            Encoder::Candle(_) => None,
            Encoder::Fast(f) => Some(f.float_kernel()),
        }
    }

    fn cls_padded(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>) -> Result<Tensor> {
        let fast = match &self.encoder {
            Encoder::Candle(m) => return m.forward_cls(input_ids, attention_mask),
            Encoder::Fast(f) => f,
        };
        let ids: Vec<Vec<u32>> = input_ids.to_dtype(DType::U32)?.to_vec2()?;
        let mask: Option<Vec<Vec<u32>>> = attention_mask
            .map(|m| m.to_dtype(DType::U32)?.to_vec2())
            .transpose()?;
        if let Some(mask) = &mask {
            if mask.len() != ids.len() || mask.iter().zip(&ids).any(|(m, i)| m.len() != i.len()) {
                return Err(Error::InvalidIds(
                    "the attention mask's shape differs from the ids'".into(),
                ));
            }
        }
        let rows: Vec<fast::Row<'_>> = ids
            .iter()
            .enumerate()
            .map(|(r, row)| match &mask {
                None => fast::Row {
                    ids: row,
                    mask: None,
                },
                Some(mask) => {
                    let m = &mask[r];
                    // right padding (ones, then zeros): the real tokens alone give the same
                    // first-token state, without computing the padding
                    let ones = m.iter().take_while(|&&v| v != 0).count();
                    if ones > 0 && m[ones..].iter().all(|&v| v == 0) {
                        fast::Row {
                            ids: &row[..ones],
                            mask: None,
                        }
                    } else {
                        fast::Row {
                            ids: row,
                            mask: Some(m),
                        }
                    }
                }
            })
            .collect();
        self.fast_cls(fast, &rows)
    }

    fn cls_packed(&self, rows: &[&[u32]]) -> Result<Tensor> {
        match &self.encoder {
            Encoder::Candle(m) => m.forward_packed_cls(rows, &self.device),
            Encoder::Fast(f) => {
                let rows: Vec<fast::Row<'_>> = rows
                    .iter()
                    .map(|ids| fast::Row { ids, mask: None })
                    .collect();
                self.fast_cls(f, &rows)
            }
        }
    }

    fn fast_cls(&self, f: &fast::FastEncoder, rows: &[fast::Row<'_>]) -> Result<Tensor> {
        for (i, row) in rows.iter().enumerate() {
            if row.ids.is_empty() {
                return Err(Error::InvalidIds(format!("row {i} is empty")));
            }
            if row.ids.len() > f.max_positions {
                return Err(Error::InvalidIds(format!(
                    "row {i} has {} tokens; the model accepts at most {}",
                    row.ids.len(),
                    f.max_positions
                )));
            }
            if let Some(bad) = row.ids.iter().find(|&&id| id as usize >= f.vocab) {
                return Err(Error::InvalidIds(format!(
                    "row {i} holds id {bad}, outside the vocabulary of {}",
                    f.vocab
                )));
            }
        }
        let cls = f.forward_cls(rows);
        Ok(Tensor::from_vec(cls, (rows.len(), f.dim), &self.device)?.to_dtype(self.dtype)?)
    }

    /// Computes logits, `(rows, num_labels)` in f32, for rows of token ids of any lengths in
    /// the packed layout (see [`DistilBertModel::forward_packed_cls`]): no padding is computed.
    /// Each row's logits equal those of [`Self::forward`] up to float rounding.
    ///
    /// # Errors
    /// Tensor shape or device errors; ids outside the vocabulary.
    pub fn forward_packed(&self, rows: &[&[u32]]) -> Result<Tensor> {
        let cls = self.cls_packed(rows)?;
        self.head(&cls)
    }

    /// [`Self::forward_packed`] that also returns the pooled `[CLS]` representation the
    /// classification layer sees (`pre_classifier` → ReLU), `(rows, dim)` in f32: the
    /// model's sentence embedding, at the cost of one copy of `rows × dim` floats.
    ///
    /// # Errors
    /// As [`Self::forward_packed`].
    pub fn forward_packed_with_pooled(&self, rows: &[&[u32]]) -> Result<(Tensor, Tensor)> {
        let cls = self.cls_packed(rows)?;
        self.head_with_pooled(&cls)
    }

    /// [`Self::forward`] that also returns the pooled `[CLS]` representation, `(batch, dim)`
    /// in f32 (see [`Self::forward_packed_with_pooled`]).
    ///
    /// # Errors
    /// As [`Self::forward`].
    pub fn forward_with_pooled(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let cls = self.cls_padded(input_ids, attention_mask)?;
        self.head_with_pooled(&cls)
    }

    /// `pre_classifier` → ReLU → `classifier` on `(rows, dim)` `[CLS]` states.
    fn head(&self, cls: &Tensor) -> Result<Tensor> {
        let pooled = self.pre_classifier.forward(cls)?.relu()?;
        let logits = self.classifier.forward(&pooled)?;
        Ok(logits.to_dtype(DType::F32)?)
    }

    fn head_with_pooled(&self, cls: &Tensor) -> Result<(Tensor, Tensor)> {
        let pooled = self.pre_classifier.forward(cls)?.relu()?;
        let logits = self.classifier.forward(&pooled)?;
        Ok((logits.to_dtype(DType::F32)?, pooled.to_dtype(DType::F32)?))
    }

    /// The device the weights live on.
    #[must_use]
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The compute dtype of the linear layers.
    #[must_use]
    pub fn dtype(&self) -> DType {
        self.dtype
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bias_is_zero_for_real_tokens_and_large_negative_for_padding() {
        let mask = Tensor::new(&[[1u32, 1, 0], [1, 0, 0]], &Device::Cpu).unwrap();
        let bias = attention_bias(&mask).unwrap();
        assert_eq!(bias.dims(), &[2, 1, 1, 3]);
        let v: Vec<f32> = bias.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(&v[..2], &[0.0, 0.0]);
        assert!(v[2] <= -1e8);
        assert_eq!(v[3], 0.0);
        assert!(v[4] <= -1e8 && v[5] <= -1e8);
    }
}
