package engine

import (
	"fmt"
	"slices"
	"strings"

	"cxrview/assets"
)

// Preset is a named first question.
type Preset string

const (
	PresetReport   Preset = "report"   // the full report the paper evaluates
	PresetDDx      Preset = "ddx"      // differential diagnosis
	PresetQuestion Preset = "question" // a free question typed by the user
)

// Presets lists the presets in menu order.
func Presets() []Preset { return []Preset{PresetReport, PresetDDx, PresetQuestion} }

// Title is the preset's name in menus.
func (p Preset) Title() string {
	switch p {
	case PresetReport:
		return "Full report"
	case PresetDDx:
		return "Differential diagnosis"
	case PresetQuestion:
		return "Ask a question"
	}
	return string(p)
}

// Question returns the text of a preset; for PresetQuestion it is the
// user's own question, which must not be empty.
func (p Preset) Question(free string) (string, error) {
	switch p {
	case PresetReport, PresetDDx:
		return assets.Prompt(string(p))
	case PresetQuestion, "":
		if strings.TrimSpace(free) == "" {
			return "", fmt.Errorf("the question is empty")
		}
		return free, nil
	}
	return "", fmt.Errorf("unknown prompt preset %q (want report, ddx or question)", p)
}

// ImageMarker is where the image goes in a rendered prompt, as in the
// reference code.
const ImageMarker = "<image>"

// answerMarker replaces ImageMarker in earlier answers.
const answerMarker = "[image]"

// RenderPrompt renders a conversation in the model's chat format, with
// ImageMarker where the image's tokens belong, exactly once: a question
// that contains it is refused, and in an earlier answer it is written as
// "[image]".
//
// CXR-LLaVA uses the Llama-2 chat template of transformers 4.36 (the
// reference pins it; the checkpoint ships no template of its own): the system
// prompt opens the first user turn, each user turn is "<s>[INST] ... [/INST]"
// with its content stripped, each answer " answer </s>". The literal "<s>"
// is part of the text; the tokenizer adds a BOS of its own in front of it
// (see the package documentation on the double BOS).
func RenderPrompt(t Template, turns []Turn) (string, error) {
	if len(turns) == 0 {
		return "", fmt.Errorf("empty conversation")
	}
	for i, turn := range turns {
		if strings.TrimSpace(turn.User) == "" {
			return "", fmt.Errorf("turn %d has an empty question", i+1)
		}
		if strings.Contains(turn.User, ImageMarker) {
			return "", fmt.Errorf("question %d contains %s, which marks the image's place in the prompt; rephrase it without it", i+1, ImageMarker)
		}
		if i < len(turns)-1 && strings.TrimSpace(turn.Assistant) == "" {
			return "", fmt.Errorf("turn %d has no answer but is followed by another question", i+1)
		}
	}
	// An answer is the model's text (perhaps edited): a marker in it would
	// split the prompt a second time, so it goes back as plain text.
	turns = slices.Clone(turns)
	for i := range turns {
		turns[i].Assistant = strings.ReplaceAll(turns[i].Assistant, ImageMarker, answerMarker)
	}
	var b strings.Builder
	switch t {
	case TemplateCXRLLaVA:
		system := assets.MustPrompt("cxr-system")
		for i, turn := range turns {
			content := turn.User
			if i == 0 {
				content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + ImageMarker + "\n" + turn.User
			}
			b.WriteString("<s>[INST] " + strings.TrimSpace(content) + " [/INST]")
			if turn.Assistant != "" {
				b.WriteString(" " + strings.TrimSpace(turn.Assistant) + " </s>")
			}
		}
	case TemplateVicuna:
		// LLaVA-1.5's conv_vicuna_v1: separators " " and "</s>"; BOS comes from the tokenizer.
		b.WriteString(assets.MustPrompt("vicuna-system") + " ")
		for i, turn := range turns {
			q := strings.TrimSpace(turn.User)
			if i == 0 {
				q = ImageMarker + "\n" + q
			}
			b.WriteString("USER: " + q + " ASSISTANT:")
			if turn.Assistant != "" {
				b.WriteString(" " + strings.TrimSpace(turn.Assistant) + "</s>")
			}
		}
	default:
		return "", fmt.Errorf("unknown prompt template %q", t)
	}
	return b.String(), nil
}

// MarkChunk gives a prompt chunk the word-start mark a non-legacy
// transformers tokenizer puts in front of it (Inspection.ChunkSpace): a
// space, unless the chunk opens with a special token, which drops the mark.
func MarkChunk(chunk string) string {
	for _, sp := range []string{"<s>", "</s>", "<unk>"} {
		if strings.HasPrefix(chunk, sp) {
			return chunk
		}
	}
	return " " + chunk
}
