package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"cxrview/engine"
)

// OllamaModel is a LLaVA-style model found in the local Ollama store: a
// language model layer and a projector layer. Err says why one cannot be
// used (another projector type, a missing blob); usable ones are offered
// read-only, their files left where Ollama keeps them.
type OllamaModel struct {
	Model StoredModel
	Err   error
}

// Ollama's layer media types.
const (
	ollamaModelLayer     = "application/vnd.ollama.image.model"
	ollamaProjectorLayer = "application/vnd.ollama.image.projector"
)

var ollamaDigest = regexp.MustCompile(`^sha256:([0-9a-f]{64})$`)

// Ollama lists the models of the local Ollama store that have a projector
// (manifests/<registry>/<namespace>/<model>/<tag> → blobs/sha256-<hex>).
// A missing store is no error.
func (s *ModelStore) Ollama() ([]OllamaModel, error) {
	if s.ollama == "" {
		return nil, nil
	}
	root := filepath.Join(s.ollama, "manifests")
	if _, err := os.Stat(root); err != nil {
		return nil, nil
	}
	var out []OllamaModel
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // an unreadable corner of someone else's store
		}
		rel, _ := filepath.Rel(root, path)
		depth := len(strings.Split(rel, string(filepath.Separator)))
		if d.IsDir() {
			if depth > 3 && rel != "." {
				return fs.SkipDir
			}
			return nil
		}
		if depth != 4 || !d.Type().IsRegular() {
			return nil
		}
		if m, ok := s.ollamaManifest(path, strings.Split(rel, string(filepath.Separator))); ok {
			out = append(out, m)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Model.Name < out[j].Model.Name })
	return out, err
}

func (s *ModelStore) ollamaManifest(path string, parts []string) (OllamaModel, bool) {
	b, err := readLimited(path, 1<<20)
	if err != nil {
		return OllamaModel{}, false
	}
	var mf struct {
		Layers []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
			Size      int64  `json:"size"`
		} `json:"layers"`
	}
	if json.Unmarshal(b, &mf) != nil {
		return OllamaModel{}, false
	}
	host, ns, model, tag := parts[0], parts[1], parts[2], parts[3]
	name := model + ":" + tag
	switch {
	case host == "registry.ollama.ai" && ns == "library":
	case host == "registry.ollama.ai":
		name = ns + "/" + name
	default:
		name = host + "/" + ns + "/" + name
	}
	sm := StoredModel{Name: name, Source: SourceOllama, Title: name, Dir: filepath.Join(s.ollama, "blobs"),
		Licence: "see the model's licence (`ollama show --license " + name + "`)"}
	for _, l := range mf.Layers {
		role := map[string]string{ollamaModelLayer: "text", ollamaProjectorLayer: "projector"}[l.MediaType]
		if role == "" {
			continue
		}
		m := ollamaDigest.FindStringSubmatch(l.Digest)
		if m == nil {
			return OllamaModel{Model: sm, Err: fmt.Errorf("layer digest %q is not a SHA-256", l.Digest)}, true
		}
		blob := filepath.Join(s.ollama, "blobs", "sha256-"+m[1])
		sm.Files = append(sm.Files, ModelFile{Role: role, Name: blob, Size: l.Size, SHA256: m[1]})
		if role == "text" && sm.Text == "" {
			sm.Text = blob
		} else if role == "projector" && sm.Projector == "" {
			sm.Projector = blob
		}
	}
	if sm.Projector == "" {
		return OllamaModel{}, false // not a vision model in the LLaVA layout
	}
	if sm.Text == "" {
		return OllamaModel{Model: sm, Err: errors.New("it has a projector but no language model layer")}, true
	}
	in, err := engine.Inspect(sm.Text, sm.Projector)
	if err != nil {
		return OllamaModel{Model: sm, Err: err}, true
	}
	sm.Template, sm.TestModel, sm.General, sm.TextType = in.Template, in.TestModel, in.General, in.TextType
	if in.Template == engine.TemplateCXRLLaVA {
		sm.Family = engine.FamilyCXRLLaVAv2
	}
	return OllamaModel{Model: sm}, true
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return os.ReadFile(path)
}
