package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"cxrview/engine/cxr"
)

// TextConfig is the language model's geometry, from config.json["llama"].
type TextConfig struct {
	Embd, FF, Layers, Heads, HeadsKV, Vocab int
	Context                                 int     // max_position_embeddings
	RMSEps                                  float32 // rms_norm_eps
	RopeTheta                               float32 // rope_theta
	BOS, EOS                                int     // -1 when config.json does not say
}

// Config is what the converter takes from config.json.
type Config struct {
	Text   TextConfig
	Vision cxr.Vision // geometry only
	// Defaults lists the values config.json leaves out, which the
	// reference code's transformers.LlamaConfig(**config.llama) then takes
	// from LlamaConfig's own defaults, as the converter does.
	Defaults []string
}

// LlamaConfig's defaults in transformers 4.36, the version the reference
// code pins: the model it builds uses them for keys config.json leaves out.
const (
	llamaDefaultRMSEps    = 1e-6
	llamaDefaultRopeTheta = 10000
	llamaDefaultContext   = 2048
)

// readConfig reads config.json and checks that it describes the model this
// converter knows: a LLaMA language model and an open_clip ViT with one
// linear projector.
func readConfig(dir string) (Config, error) {
	path := filepath.Join(dir, "config.json")
	b, err := readSmall(path, 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, fmt.Errorf("%s is missing: is %s a copy of the Hugging Face repository ECOFRI/CXR-LLAVA-v2?", path, dir)
	}
	if err != nil {
		return Config{}, err
	}
	var raw struct {
		ModelType     string                     `json:"model_type"`
		Llama         map[string]json.RawMessage `json:"llama"`
		Vision        map[string]json.RawMessage `json:"clip_vision_cfg"`
		ProjectorDim  *int                       `json:"mm_projector_dim"`
		Preprocess    map[string]json.RawMessage `json:"image_preprocess_cfg"`
		ProjectorPath json.RawMessage            `json:"mm_projector_path"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Config{}, fmt.Errorf("%s is not valid JSON: %w", path, err)
	}
	fail := func(format string, a ...any) (Config, error) {
		return Config{}, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...))
	}
	if raw.Llama == nil || raw.Vision == nil {
		return fail("no \"llama\" or \"clip_vision_cfg\" section: this is not a CXR-LLaVA v2 configuration (model_type %q)", raw.ModelType)
	}
	var c Config
	t := &c.Text
	l := jsonSection{raw: raw.Llama, name: "llama"}
	for _, f := range []struct {
		key string
		dst *int
	}{
		{"hidden_size", &t.Embd}, {"intermediate_size", &t.FF}, {"num_hidden_layers", &t.Layers},
		{"num_attention_heads", &t.Heads}, {"vocab_size", &t.Vocab},
	} {
		v, ok, err := l.int(f.key)
		if err != nil {
			return fail("%v", err)
		}
		if !ok || v <= 0 {
			return fail("llama.%s is missing or not a positive integer", f.key)
		}
		*f.dst = v
	}
	opt := func(key string, def float64) (float64, error) {
		v, ok, err := l.float(key)
		if err != nil {
			return 0, err
		}
		if !ok {
			c.Defaults = append(c.Defaults, fmt.Sprintf("llama.%s = %g", key, def))
			return def, nil
		}
		return v, nil
	}
	var v float64
	if v, err = opt("num_key_value_heads", float64(t.Heads)); err != nil {
		return fail("%v", err)
	}
	t.HeadsKV = int(v)
	if v, err = opt("max_position_embeddings", llamaDefaultContext); err != nil {
		return fail("%v", err)
	}
	t.Context = int(v)
	if v, err = opt("rms_norm_eps", llamaDefaultRMSEps); err != nil {
		return fail("%v", err)
	}
	t.RMSEps = float32(v)
	if v, err = opt("rope_theta", llamaDefaultRopeTheta); err != nil {
		return fail("%v", err)
	}
	t.RopeTheta = float32(v)
	t.BOS, t.EOS = -1, -1
	if v, ok, _ := l.int("bos_token_id"); ok {
		t.BOS = v
	}
	if v, ok, _ := l.int("eos_token_id"); ok {
		t.EOS = v
	}
	switch {
	case t.Embd%t.Heads != 0 || (t.Embd/t.Heads)%2 != 0:
		return fail("hidden_size %d does not split into %d attention heads of even size", t.Embd, t.Heads)
	case t.HeadsKV <= 0 || t.Heads%t.HeadsKV != 0:
		return fail("num_key_value_heads %d does not divide num_attention_heads %d", t.HeadsKV, t.Heads)
	case t.Context <= 0 || t.RMSEps <= 0 || t.RopeTheta <= 0:
		return fail("max_position_embeddings, rms_norm_eps and rope_theta must be positive")
	}
	if act, ok := l.string("hidden_act"); ok && act != "silu" {
		return fail("llama.hidden_act is %q; LLaMA models use silu", act)
	}
	if s, ok := l.raw["rope_scaling"]; ok && string(s) != "null" {
		var compact bytes.Buffer
		json.Compact(&compact, s)
		return fail("llama.rope_scaling is %s; the converter handles plain RoPE only", compact.String())
	}
	for _, key := range []string{"attention_bias", "mlp_bias"} {
		if s, ok := l.raw[key]; ok && string(s) == "true" {
			return fail("llama.%s is true; LLaMA-2 has no biases there", key)
		}
	}

	vs := jsonSection{raw: raw.Vision, name: "clip_vision_cfg"}
	vg := &c.Vision
	for _, f := range []struct {
		key string
		dst *int
		def int // 0: required
	}{
		{"image_size", &vg.ImageSize, 0}, {"layers", &vg.Layers, 0}, {"width", &vg.Width, 0},
		// open_clip's CLIPVisionCfg defaults, which the reference code uses.
		{"patch_size", &vg.Patch, 16},
	} {
		v, ok, err := vs.int(f.key)
		if err != nil {
			return fail("%v", err)
		}
		switch {
		case !ok && f.def == 0:
			return fail("clip_vision_cfg.%s is missing or not an integer", f.key)
		case !ok:
			v = f.def
			c.Defaults = append(c.Defaults, fmt.Sprintf("clip_vision_cfg.%s = %d", f.key, v))
		}
		*f.dst = v
	}
	headWidth, ok, err := vs.int("head_width")
	if err != nil {
		return fail("%v", err)
	}
	if !ok {
		headWidth = 64
	}
	mlpRatio, ok, err := vs.float("mlp_ratio")
	if err != nil {
		return fail("%v", err)
	}
	if !ok {
		mlpRatio = 4
	}
	if headWidth <= 0 || vg.Width%headWidth != 0 {
		return fail("clip_vision_cfg.width %d is not a multiple of head_width %d", vg.Width, headWidth)
	}
	vg.Heads = vg.Width / headWidth
	vg.FF = int(float64(vg.Width) * mlpRatio)
	vg.Out = t.Embd
	vg.Eps = 1e-5
	// Options of open_clip's tower that would change the architecture the
	// converter maps (docs/model.md): refused rather than converted wrongly.
	for key, want := range map[string]string{
		"attentional_pool": "false", "final_ln_after_pool": "false", "no_ln_pre": "false",
		"ls_init_value": "null", "pos_embed_type": `"learnable"`, "pool_type": `"tok"`,
		"act_kwargs": "null", "norm_kwargs": "null", "patch_dropout": "0",
	} {
		if s, ok := vs.raw[key]; ok {
			got := strings.TrimSpace(string(s))
			if got != want && !(want == "0" && (got == "0.0" || got == "null")) && !(want == "null" && got == "{}") {
				return fail("clip_vision_cfg.%s is %s; the converter supports %s only", key, got, want)
			}
		}
	}
	if raw.ProjectorDim != nil && *raw.ProjectorDim != vg.Width {
		return fail("mm_projector_dim %d differs from the vision width %d", *raw.ProjectorDim, vg.Width)
	}
	if len(raw.ProjectorPath) > 0 && string(raw.ProjectorPath) != "null" {
		return fail("mm_projector_path is set: the projector must be in the checkpoint itself")
	}
	pre := jsonSection{raw: raw.Preprocess, name: "image_preprocess_cfg"}
	mean, err := pre.scalarOrFirst("mean")
	if err != nil {
		return fail("%v", err)
	}
	std, err := pre.scalarOrFirst("std")
	if err != nil {
		return fail("%v", err)
	}
	if std <= 0 {
		return fail("image_preprocess_cfg.std must be positive")
	}
	vg.Mean, vg.Std = float32(mean), float32(std)
	if err := vg.CheckGeometry(); err != nil {
		return fail("%v", err)
	}
	return c, nil
}

// jsonSection reads typed values from one JSON object.
type jsonSection struct {
	raw  map[string]json.RawMessage
	name string
}

func (s jsonSection) float(key string) (float64, bool, error) {
	m, ok := s.raw[key]
	if !ok || string(m) == "null" {
		return 0, false, nil
	}
	var v float64
	if err := json.Unmarshal(m, &v); err != nil {
		return 0, false, fmt.Errorf("%s.%s is %s, not a number", s.name, key, m)
	}
	return v, true, nil
}

func (s jsonSection) int(key string) (int, bool, error) {
	v, ok, err := s.float(key)
	if err != nil || !ok {
		return 0, ok, err
	}
	if v != float64(int(v)) {
		return 0, false, fmt.Errorf("%s.%s is %g, not an integer", s.name, key, v)
	}
	return int(v), true, nil
}

func (s jsonSection) string(key string) (string, bool) {
	var v string
	m, ok := s.raw[key]
	if !ok || json.Unmarshal(m, &v) != nil {
		return "", false
	}
	return v, true
}

// scalarOrFirst reads a number that may be written as [x] or [x, x, x].
func (s jsonSection) scalarOrFirst(key string) (float64, error) {
	m, ok := s.raw[key]
	if !ok {
		return 0, fmt.Errorf("%s.%s is missing", s.name, key)
	}
	var v float64
	if json.Unmarshal(m, &v) == nil {
		return v, nil
	}
	var list []float64
	if err := json.Unmarshal(m, &list); err != nil || len(list) == 0 {
		return 0, fmt.Errorf("%s.%s is %s, not a number", s.name, key, m)
	}
	for _, x := range list[1:] {
		if x != list[0] {
			return 0, fmt.Errorf("%s.%s has different values per channel; the model reads one gray channel", s.name, key)
		}
	}
	return list[0], nil
}

// tokenizerConfig is what tokenizer_config.json says about special tokens.
type tokenizerConfig struct {
	AddBOS, AddEOS bool
	// Legacy is transformers' LlamaTokenizer "legacy" flag: unset means
	// true in transformers 4.36, which the reference code pins. It decides
	// whether text right after a special token gets SentencePiece's
	// word-start mark (docs/model.md, tokenization).
	Legacy    bool
	LegacySet bool
}

func readTokenizerConfig(dir string) (tokenizerConfig, error) {
	tc := tokenizerConfig{AddBOS: true, Legacy: true}
	path := filepath.Join(dir, "tokenizer_config.json")
	b, err := readSmall(path, 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return tc, nil
	}
	if err != nil {
		return tc, err
	}
	var raw struct {
		AddBOS *bool `json:"add_bos_token"`
		AddEOS *bool `json:"add_eos_token"`
		Legacy *bool `json:"legacy"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return tc, fmt.Errorf("%s is not valid JSON: %w", path, err)
	}
	if raw.AddBOS != nil {
		tc.AddBOS = *raw.AddBOS
	}
	if raw.AddEOS != nil {
		tc.AddEOS = *raw.AddEOS
	}
	if raw.Legacy != nil {
		tc.Legacy, tc.LegacySet = *raw.Legacy, true
	}
	return tc, nil
}
