package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"cxrview/app/findings"
)

const evalSummary = `Score generated reports against reference reports or labels the way the CXR-LLaVA paper did:
each generated report and each reference report text is labelled for the CheXpert findings; per
finding, a report counts only when both labels are definite (positive or negative); precision,
recall and F1 of the positive class, their macro average, and 95% confidence intervals by the
percentile bootstrap over reports.

--reports is JSON Lines as "cxrview report --format json" prints it: one object per report with
"id", "file" and "text", and optionally "model", "test_model" and "error". Rows are matched to
--truth by "id", else by the file's base name, with or without its extension. Lines with an
"error" (the model failed on that image) are left out and counted on stderr and in the table's
notes. Reports from a TEST MODEL (random weights) are refused: their scores measure nothing;
--allow-test-model scores them anyway, with TEST MODEL on every output.

--truth is CSV with a header: an "id" column (or "study_id", "dicom_id") and either a "report"
(or "text") column of reference report text, or CheXpert label columns (1, 0, -1 or blank) named
as CheXpert names them ("Pleural Effusion"). Label columns win when both are present.

Prints a Markdown table and writes eval-SET.md, eval-SET.csv, eval-SET.png (bar chart with the
intervals and the paper's average) and eval-SET-labels.csv (every report's labels) to --out.
Our labeler is not the CheXpert labeler: see docs/evaluation.md.`

func runEval(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "eval", "--reports generated.jsonl --truth truth.csv [--findings mimic6|external7|all14] [--out DIR] [--seed N]", evalSummary)
	reportsPath := fs.String("reports", "", "generated reports, JSON Lines (required)")
	truthPath := fs.String("truth", "", "reference reports or labels, CSV (required)")
	setName := fs.String("findings", "mimic6", "findings to score: mimic6 (the paper's six, MIMIC-CXR), external7 (six + lung opacity,\nOpen-i) or all14")
	outDir := fs.String("out", ".", "folder for the CSV, PNG and Markdown files")
	seed := fs.Uint64("seed", 1, "bootstrap seed; the same seed gives the same intervals")
	resamples := fs.Int("resamples", findings.DefaultResamples, "bootstrap resamples")
	secFlag := fs.String("sections", "auto", "which sections of each report text to label: auto, all or impression")
	allowTest := fs.Bool("allow-test-model", false, "score reports of a TEST MODEL (random weights) anyway, labelled TEST MODEL\nin every output; for checking the pipeline only")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	if *reportsPath == "" || *truthPath == "" {
		return usageError("--reports and --truth are required")
	}
	set, err := findings.ParseFindingSet(*setName)
	if err != nil {
		return usageError("--findings: %v", err)
	}
	sections, err := findings.ParseSections(*secFlag)
	if err != nil {
		return usageError("--sections: %v", err)
	}
	if *resamples < 1 || *resamples > 1_000_000 {
		return usageError("--resamples %d: want 1 to 1000000", *resamples)
	}

	truth, err := readTruth(*truthPath, set.Observations)
	if err != nil {
		return err
	}
	gen, err := readGenerated(*reportsPath)
	if err != nil {
		return err
	}
	if !*allowTest {
		var lines []int
		for _, g := range gen {
			if g.testModel {
				lines = append(lines, g.line)
			}
		}
		if len(lines) > 0 {
			return fmt.Errorf("%s %s: TEST MODEL output (random weights): its scores measure nothing; generate with a real model, or pass --allow-test-model to check the pipeline",
				*reportsPath, lineList(lines))
		}
	}
	pairs, unmatched, err := matchReports(*reportsPath, *truthPath, gen, truth)
	if err != nil {
		return err
	}
	if unmatched > 0 {
		fmt.Fprintf(env.Stderr, "cxrview eval: %d of %d rows of %s have no generated report and are left out\n",
			unmatched, len(truth.rows), *truthPath)
	}
	pairs, failed := dropFailed(pairs)
	var notes []string
	if len(failed) > 0 {
		fmt.Fprintf(env.Stderr, "cxrview eval: %d of %d generated reports failed (an \"error\" field: %s %s) and are left out\n",
			len(failed), len(failed)+len(pairs), *reportsPath, lineList(failed))
		notes = append(notes, fmt.Sprintf("%d generated reports that failed (an \"error\" in %s) are left out.",
			len(failed), filepath.Base(*reportsPath)))
	}
	if len(pairs) == 0 {
		return fmt.Errorf("%s: every generated report failed: nothing to score", *reportsPath)
	}
	models, testLines := reportModels(pairs)
	warning := ""
	if len(testLines) > 0 {
		warning = fmt.Sprintf("TEST MODEL — random weights: %d of %d reports come from a test model; these scores measure nothing.",
			len(testLines), len(pairs))
		fmt.Fprintf(env.Stderr, "cxrview eval: warning: %s\n", warning)
	}
	switch {
	case len(models) == 1:
		notes = append(notes, fmt.Sprintf("Model: %s.", models[0]))
	case len(models) > 1:
		notes = append(notes, fmt.Sprintf("Reports from %d models are pooled: %s.", len(models), strings.Join(models, ", ")))
		fmt.Fprintf(env.Stderr, "cxrview eval: warning: the reports come from %d models, scored together: %s\n", len(models), strings.Join(models, ", "))
	}

	// Label every text; the progress bar shows when there are thousands.
	texts := len(pairs)
	if truth.textCol >= 0 {
		texts *= 2
	}
	bar := newProgress(env.Stderr, "labelling reports", texts)
	samples := make([]findings.Sample, len(pairs))
	done := 0
	for i, p := range pairs {
		if err := ctx.Err(); err != nil {
			bar.abort()
			return err
		}
		s := findings.Sample{ID: p.truth.id}
		g := findings.LabelSections(p.gen.text, sections)
		for o := range findings.Observation(findings.NumObservations) {
			s.Generated[o] = g.Status(o)
		}
		done++
		if truth.textCol >= 0 {
			t := findings.LabelSections(p.truth.text, sections)
			for o := range findings.Observation(findings.NumObservations) {
				s.Truth[o] = t.Status(o)
			}
			done++
		} else {
			s.Truth = p.truth.labels
		}
		samples[i] = s
		bar.set(done)
	}
	bar.finish()

	ev, err := findings.Evaluate(samples, set.Observations, findings.Options{Resamples: *resamples, Seed: *seed})
	if err != nil {
		return err
	}
	ev.Warning, ev.Notes = warning, notes
	var md bytes.Buffer
	if err := ev.WriteMarkdown(&md, set.Paper); err != nil {
		return err
	}
	if _, err := env.Stdout.Write(md.Bytes()); err != nil {
		return err
	}

	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}
	base := filepath.Join(*outDir, "eval-"+set.Name)
	var csvBuf, pngBuf, labelsBuf bytes.Buffer
	if err := ev.WriteCSV(&csvBuf, set.Paper); err != nil {
		return err
	}
	if err := ev.WritePNG(&pngBuf, set.Name, set.Paper); err != nil {
		return err
	}
	if err := writeSampleLabels(&labelsBuf, samples, set.Observations); err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		data []byte
	}{
		{base + ".md", md.Bytes()},
		{base + ".csv", csvBuf.Bytes()},
		{base + ".png", pngBuf.Bytes()},
		{base + "-labels.csv", labelsBuf.Bytes()},
	} {
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
		fmt.Fprintf(env.Stderr, "cxrview eval: wrote %s\n", f.path)
	}
	return nil
}

// generated is one line of the generated reports file.
type generated struct {
	line      int
	id, file  string
	text      string
	model     string
	testModel bool
	err       string // the generation failed: text is partial or empty
}

type genJSON struct {
	ID        json.RawMessage `json:"id"`
	File      string          `json:"file"`
	Text      *string         `json:"text"`
	Model     string          `json:"model"`
	TestModel bool            `json:"test_model"`
	Label     string          `json:"label"`
	Error     string          `json:"error"`
}

// readGenerated reads JSON Lines of generated reports.
func readGenerated(path string) ([]generated, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []generated
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxReportBytes)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var g genJSON
		if err := json.Unmarshal(line, &g); err != nil {
			return nil, fmt.Errorf("%s line %d: not a JSON object: %w", path, n, err)
		}
		id, err := jsonID(g.ID)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		if g.Text == nil && g.Error == "" {
			return nil, fmt.Errorf("%s line %d: no \"text\" field", path, n)
		}
		text := ""
		if g.Text != nil {
			text = *g.Text
		}
		if id == "" && g.File == "" {
			return nil, fmt.Errorf("%s line %d: neither \"id\" nor \"file\" says which study the report is for", path, n)
		}
		// "label" says TEST MODEL in files written before "test_model" was.
		test := g.TestModel || strings.HasPrefix(g.Label, "TEST MODEL")
		out = append(out, generated{line: n, id: id, file: g.File, text: text, model: strings.TrimSpace(g.Model),
			testModel: test, err: strings.TrimSpace(g.Error)})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s: a line is over %d MiB", path, maxReportBytes>>20)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no reports (the file is empty)", path)
	}
	return out, nil
}

// jsonID accepts a string or a number as an id.
func jsonID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.TrimSpace(s), nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("\"id\" is %s, want a string or a number", raw)
}

// truthTable is the reference file.
type truthTable struct {
	rows    []truthRow
	byID    map[string]int
	textCol int // -1 when labels are used
}

type truthRow struct {
	line   int
	id     string
	text   string
	labels [findings.NumObservations]findings.Status
}

var idColumns = []string{"id", "study_id", "dicom_id"}

// readTruth reads reference texts or labels; obs are the findings that
// must have label columns when labels are used.
func readTruth(path string, obs []findings.Observation) (*truthTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	header, err := r.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file (want a header row and one row per study)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	idCol, textCol := -1, -1
	labelCol := map[findings.Observation]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		for _, c := range idColumns {
			if name == c && idCol < 0 {
				idCol = i
			}
		}
		if (name == "report" || name == "text") && textCol < 0 {
			textCol = i
		}
		if o, ok := findings.ParseObservation(h); ok {
			labelCol[o] = i
		}
	}
	if idCol < 0 {
		return nil, fmt.Errorf("%s: no id column (want one of %s in the header)", path, strings.Join(idColumns, ", "))
	}
	var missing []string
	for _, o := range obs {
		if _, ok := labelCol[o]; !ok {
			missing = append(missing, fmt.Sprintf("%q", o.String()))
		}
	}
	useLabels := len(missing) == 0
	if !useLabels && textCol < 0 {
		if len(labelCol) == 0 {
			return nil, fmt.Errorf("%s: no \"report\" or \"text\" column and no CheXpert label columns", path)
		}
		return nil, fmt.Errorf("%s: no \"report\" or \"text\" column, and label columns are missing: %s", path, strings.Join(missing, ", "))
	}
	t := &truthTable{byID: map[string]int{}, textCol: -1}
	if !useLabels {
		t.textCol = textCol
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		row := truthRow{line: line, id: strings.TrimSpace(rec[idCol])}
		if row.id == "" {
			return nil, fmt.Errorf("%s line %d: empty id", path, line)
		}
		if prev, dup := t.byID[row.id]; dup {
			return nil, fmt.Errorf("%s line %d: id %q already used on line %d", path, line, row.id, t.rows[prev].line)
		}
		if useLabels {
			for o, c := range labelCol {
				s, err := findings.ParseCheXpert(rec[c])
				if err != nil {
					return nil, fmt.Errorf("%s line %d, column %q: %w", path, line, header[c], err)
				}
				row.labels[o] = s
			}
		} else {
			row.text = rec[textCol]
		}
		t.byID[row.id] = len(t.rows)
		t.rows = append(t.rows, row)
	}
	if len(t.rows) == 0 {
		return nil, fmt.Errorf("%s: a header but no rows", path)
	}
	return t, nil
}

type reportPair struct {
	gen   *generated
	truth *truthRow
}

// matchReports pairs each generated report with its reference row: by id,
// else by the file's base name, else by the base name without extension.
// It returns how many reference rows have no generated report.
func matchReports(genPath, truthPath string, gen []generated, truth *truthTable) ([]reportPair, int, error) {
	used := make(map[int]int, len(gen)) // truth row → generated line
	pairs := make([]reportPair, 0, len(gen))
	var unknown []string
	for i := range gen {
		g := &gen[i]
		var keys []string
		if g.id != "" {
			keys = append(keys, g.id)
		}
		if g.file != "" {
			b := filepath.Base(filepath.FromSlash(strings.ReplaceAll(g.file, `\`, "/")))
			keys = append(keys, b, strings.TrimSuffix(b, filepath.Ext(b)))
		}
		row, found := -1, false
		for _, k := range keys {
			if row, found = truth.byID[k]; found {
				break
			}
		}
		if !found {
			desc := fmt.Sprintf("line %d (id %q", g.line, g.id)
			if g.file != "" {
				desc += fmt.Sprintf(", file %q", g.file)
			}
			unknown = append(unknown, desc+")")
			continue
		}
		if prev, dup := used[row]; dup {
			return nil, 0, fmt.Errorf("%s lines %d and %d: both match %s row %q", genPath, prev, g.line, truthPath, truth.rows[row].id)
		}
		used[row] = g.line
		pairs = append(pairs, reportPair{gen: g, truth: &truth.rows[row]})
	}
	if len(unknown) > 0 {
		more := ""
		if len(unknown) > 1 {
			more = fmt.Sprintf(" and %d more", len(unknown)-1)
		}
		return nil, 0, fmt.Errorf("%s %s%s: no matching id in %s", genPath, unknown[0], more, truthPath)
	}
	return pairs, len(truth.rows) - len(pairs), nil
}

// dropFailed separates the pairs whose generation failed; it returns the
// rest and the failed lines.
func dropFailed(pairs []reportPair) (kept []reportPair, failed []int) {
	kept = pairs[:0:0]
	for _, p := range pairs {
		if p.gen.err != "" {
			failed = append(failed, p.gen.line)
			continue
		}
		kept = append(kept, p)
	}
	return kept, failed
}

// reportModels lists the models that wrote the reports, in order of first
// appearance, and the lines written by a test model.
func reportModels(pairs []reportPair) (models []string, testLines []int) {
	seen := map[string]bool{}
	for _, p := range pairs {
		if m := p.gen.model; m != "" && !seen[m] {
			seen[m] = true
			models = append(models, m)
		}
		if p.gen.testModel {
			testLines = append(testLines, p.gen.line)
		}
	}
	return models, testLines
}

// lineList names lines of a file: "line 3", "lines 3, 7, 9", or the
// first few and how many more.
func lineList(lines []int) string {
	const show = 5
	var parts []string
	for i, l := range lines {
		if i == show {
			break
		}
		parts = append(parts, strconv.Itoa(l))
	}
	s := strings.Join(parts, ", ")
	switch {
	case len(lines) == 1:
		return "line " + s
	case len(lines) > show:
		return fmt.Sprintf("lines %s and %d more", s, len(lines)-show)
	}
	return "lines " + s
}

// writeSampleLabels writes every report's generated and reference labels,
// CheXpert-coded, so that a disagreement can be traced to its report.
func writeSampleLabels(w io.Writer, samples []findings.Sample, obs []findings.Observation) error {
	cw := csv.NewWriter(w)
	header := []string{"id"}
	for _, o := range obs {
		header = append(header, o.String()+" (generated)", o.String()+" (reference)")
	}
	cw.Write(header)
	for _, s := range samples {
		rec := []string{s.ID}
		for _, o := range obs {
			rec = append(rec, s.Generated[o].CheXpert(), s.Truth[o].CheXpert())
		}
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// isTerminal reports whether w is an interactive terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
