package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"cxrview/app/findings"
)

// maxReportBytes bounds one report read by label and eval: reports are a
// few kilobytes, and a larger input is almost certainly the wrong file.
const maxReportBytes = 16 << 20

func runLabel(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "label", "[--json] [--sections auto|all|impression] [FILE...]",
		"Label chest X-ray report text for the 14 CheXpert observations (positive, negative, uncertain or\n"+
			"not mentioned) with the sentence that decided each. Reads one report from standard input, or\n"+
			"one report per FILE. The labeler follows the CheXpert labeler's rules but is not it: see\n"+
			"docs/evaluation.md.")
	jsonOut := fs.Bool("json", false, "print one JSON object per report (JSON Lines)")
	secFlag := fs.String("sections", "auto", "which sections to label: auto (skip indication, history, comparison,\ntechnique), all, or impression (else findings, else auto)")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	sections, err := findings.ParseSections(*secFlag)
	if err != nil {
		return usageError("%v", err)
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
		if stdinIsTerminal(env.Stdin) {
			fmt.Fprintln(env.Stderr, "cxrview label: reading a report from standard input; end it with Ctrl-D")
		}
	}
	for i, name := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		text, err := readReport(env, name)
		if err != nil {
			return err
		}
		res := findings.LabelSections(text, sections)
		if *jsonOut {
			if err := writeLabelJSON(env.Stdout, name, text, &res); err != nil {
				return err
			}
			continue
		}
		if len(files) > 1 {
			if i > 0 {
				fmt.Fprintln(env.Stdout)
			}
			fmt.Fprintf(env.Stdout, "== %s ==\n", name)
		}
		if err := writeLabelTable(env.Stdout, text, &res); err != nil {
			return err
		}
	}
	return nil
}

// readReport reads one report from a file, or from stdin for "-".
func readReport(env *Env, name string) (string, error) {
	var r io.Reader
	if name == "-" {
		r = env.Stdin
		name = "standard input"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return "", err // *PathError names the file
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return "", fmt.Errorf("%s: is a folder, not a report text file", name)
		}
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxReportBytes+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxReportBytes {
		return "", fmt.Errorf("%s: over %d MiB, not a report", name, maxReportBytes>>20)
	}
	if bytes.IndexByte(b[:min(len(b), 8192)], 0) >= 0 {
		return "", fmt.Errorf("%s: binary data, not report text (an image? label reads the report's text)", name)
	}
	return string(b), nil
}

type labelJSON struct {
	File     string                     `json:"file"`
	Labels   map[string]findings.Status `json:"labels"`
	Findings []labelFindingJSON         `json:"findings"`
	CheXpert map[string]string          `json:"chexpert"` // 1, 0, -1 or "" as in CheXpert label files
}

type labelFindingJSON struct {
	findings.Finding
	SentenceText string `json:"sentence_text"`
	PhraseText   string `json:"phrase_text"`
	CueText      string `json:"cue_text,omitempty"`
}

func writeLabelJSON(w io.Writer, name, text string, res *findings.Result) error {
	out := labelJSON{
		File:     name,
		Labels:   map[string]findings.Status{},
		CheXpert: map[string]string{},
		Findings: []labelFindingJSON{},
	}
	for _, f := range res.Findings {
		key := f.Observation.String()
		out.Labels[key] = f.Status
		out.CheXpert[key] = f.Status.CheXpert()
		if f.Status == findings.NotMentioned {
			continue
		}
		out.Findings = append(out.Findings, labelFindingJSON{
			Finding:      f,
			SentenceText: f.Sentence.In(text),
			PhraseText:   f.Phrase.In(text),
			CueText:      f.Cue.In(text),
		})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encode labels: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func writeLabelTable(w io.Writer, text string, res *findings.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OBSERVATION\tLABEL\tDECIDING SENTENCE")
	for _, f := range res.Findings {
		label := f.Status.String()
		sentence := ""
		if f.Status == findings.NotMentioned {
			label = "-"
		} else {
			sentence = quoteSentence(f.Sentence.In(text), 72)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Observation, label, sentence)
	}
	return tw.Flush()
}

// quoteSentence puts a sentence on one line, shortened to at most n runes.
func quoteSentence(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return ""
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return "\"" + s + "\""
}
