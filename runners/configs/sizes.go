package configs

// Analytic sizes, in elements or bytes, derived from the configuration
// alone. They are the "bytes the step must read" side of the physical floor
// and the analytic memory columns of the results.

// DTypeBytes returns the size of one element of a dtype name ("bf16",
// "fp16", "fp32"), or 0 for an unknown name.
func DTypeBytes(dtype string) int64 {
	switch dtype {
	case "bf16", "fp16", "bfloat16", "float16":
		return 2
	case "fp32", "float32":
		return 4
	}
	return 0
}

// MixerParams returns the parameter count of one sequence mixer of a kind.
func (m *Model) MixerParams(kind string) int64 {
	h := int64(m.Hidden)
	if kind == KindAttention {
		qkv := int64(m.Heads+2*m.KVHeads) * int64(m.HeadDim)
		return qkv*h + h*h // wqkv + wo
	}
	v, k, q, g, dt := m.MambaWidths()
	c := int64(m.ConvChannels())
	proj := int64(v+k+q+g+dt) * h
	return proj + h*h + c*int64(m.ConvKernel) + c + int64(m.HeadDim) + 2*int64(m.Heads)
}

// LayerParams returns the parameter count of one decoder layer of a kind:
// its mixer, the SwiGLU MLP and two RMSNorms.
func (m *Model) LayerParams(kind string) int64 {
	h := int64(m.Hidden)
	return m.MixerParams(kind) + 3*h*int64(m.Intermediate) + 2*h
}

// VisionParams returns the parameter count of the image path of the
// holistic embedding: patch embedding, class and position embeddings and the
// pixel-shuffle projection.
func (m *Model) VisionParams() int64 {
	h := int64(m.Hidden)
	p := int64(m.PatchSize)
	grid := int64(m.ImageSize / m.PatchSize)
	shuffle := int64(1.0 / (m.DownSample * m.DownSample))
	patch := h*3*p*p + h
	pos := (1 + grid*grid) * h
	proj := (shuffle*h)*h + h + h*h + h
	return patch + h + pos + proj
}

// ParamCount returns the total parameter count as stored in a checkpoint
// (including the LLM's tok_embeddings table, which inference does not read).
func (m *Model) ParamCount() int64 {
	h := int64(m.Hidden)
	var n int64
	for _, l := range m.Layers {
		n += m.LayerParams(l.Kind)
	}
	n += int64(m.TextVocab) * h // embedding_model.llm_text_embeddings
	n += m.VisionParams()
	n += int64(m.Vocab) * h // language_model.model.tok_embeddings
	n += h                  // final norm
	n += int64(m.Vocab) * h // output head
	return n
}

// KVBytesPerToken returns the KV-cache bytes one token adds, per sequence,
// over all attention layers (K and V, KVHeads x HeadDim each).
func (m *Model) KVBytesPerToken(dtype string) int64 {
	return int64(m.CountKind(KindAttention)) * 2 * int64(m.KVHeads) * int64(m.HeadDim) * DTypeBytes(dtype)
}

// MambaStateBytes returns the constant decode state per sequence over all
// Mamba-2 layers: the conv state (ConvChannels x (ConvKernel-1)) in the model
// dtype and the SSM state (Heads x HeadDim x DState) in ssmDType.
func (m *Model) MambaStateBytes(dtype, ssmDType string) int64 {
	conv := int64(m.ConvChannels()) * int64(m.ConvKernel-1) * DTypeBytes(dtype)
	ssm := int64(m.Heads) * int64(m.HeadDim) * int64(m.DState()) * DTypeBytes(ssmDType)
	return int64(m.CountKind(KindMamba2)) * (conv + ssm)
}

// DecodeWeightBytes returns the weight bytes one decode step must read: every
// parameter except the tok_embeddings table (never read) and the vision path
// (not used for a text token); of the text embedding table only one row is
// read, which is counted.
func (m *Model) DecodeWeightBytes(dtype string) int64 {
	h := int64(m.Hidden)
	var n int64
	for _, l := range m.Layers {
		n += m.LayerParams(l.Kind)
	}
	n += h + h + int64(m.Vocab)*h // one embedding row, final norm, output head
	return n * DTypeBytes(dtype)
}

// DecodeStepBytes returns the fewest bytes a decode step at context ctx and
// batch b must move through memory: the weights once, the KV cache read
// (and one token written), and the Mamba state read and written.
func (m *Model) DecodeStepBytes(dtype, ssmDType string, ctx, batch int) int64 {
	kv := m.KVBytesPerToken(dtype) * int64(ctx+1) * int64(batch)
	state := 2 * m.MambaStateBytes(dtype, ssmDType) * int64(batch)
	return m.DecodeWeightBytes(dtype) + kv + state
}
