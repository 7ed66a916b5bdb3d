package findings

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
)

// fmtMetric writes a metric with two decimals, or "n/a" when undefined.
func fmtMetric(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func fmtCI(v float64, ci Interval) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	if math.IsNaN(ci.Lo) {
		return fmtMetric(v) + " (n/a)"
	}
	return fmt.Sprintf("%s (%s–%s)", fmtMetric(v), fmtMetric(ci.Lo), fmtMetric(ci.Hi))
}

// WriteMarkdown writes e as a Markdown table followed by the protocol and,
// when paper is not nil, the paper's headline result to compare with.
func (e *Evaluation) WriteMarkdown(w io.Writer, paper *Headline) error {
	ew := &errWriter{w: w}
	if e.Warning != "" {
		ew.printf("**%s**\n\n", e.Warning)
	}
	ew.printf("| Finding | n | TP | FP | FN | TN | Excluded | Precision (95%% CI) | Recall (95%% CI) | F1 (95%% CI) |\n")
	ew.printf("|---|--:|--:|--:|--:|--:|--:|---|---|---|\n")
	for _, s := range e.Findings {
		ew.printf("| %s | %d | %d | %d | %d | %d | %d | %s | %s | %s |\n", s.Observation, s.N(), s.TP, s.FP, s.FN, s.TN,
			s.Excluded(), fmtCI(s.Precision, s.PrecisionCI), fmtCI(s.Recall, s.RecallCI), fmtCI(s.F1, s.F1CI))
	}
	ew.printf("| **Macro average** | | | | | | | %s | %s | **%s** |\n",
		fmtCI(e.MacroPrecision, e.MacroPrecisionCI), fmtCI(e.MacroRecall, e.MacroRecallCI), fmtCI(e.MacroF1, e.MacroF1CI))
	if paper != nil {
		ew.printf("| *Paper: average* | | | | | | | | | *%s* |\n", fmtMetric(paper.F1))
	}
	ew.printf("\n%d reports. ", e.Reports)
	ew.printf("A report counts for a finding only when both its generated and its reference label are definite "+
		"(positive or negative); pairs with an uncertain or unmentioned label on either side are excluded. "+
		"95%% CIs: percentile bootstrap over reports, %d resamples, seed %d.", e.Resamples, e.Seed)
	if e.MacroOver < len(e.Findings) {
		ew.printf(" The macro average is over the %d findings whose F1 is defined (n/a: no positive label on either side).", e.MacroOver)
	}
	if short := e.shortResamples(); short != "" {
		ew.printf(" Some intervals come from fewer resamples because the metric was undefined in the others: %s.", short)
	}
	for _, n := range e.Notes {
		ew.printf(" %s", n)
	}
	ew.printf("\n")
	if paper != nil {
		ew.printf("\nPaper: average F1 %s (%s). Our labeler is not the CheXpert labeler the paper used; see docs/evaluation.md.\n",
			fmtMetric(paper.F1), paper.Source)
	}
	return ew.err
}

func (e *Evaluation) shortResamples() string {
	out := ""
	check := func(key string) {
		if n, ok := e.Used[key]; ok && n < e.Resamples {
			if out != "" {
				out += ", "
			}
			out += fmt.Sprintf("%s %d", key, n)
		}
	}
	for _, s := range e.Findings {
		for _, m := range []string{"precision", "recall", "f1"} {
			check(m + " " + s.Observation.String())
		}
	}
	for _, m := range []string{"macro precision", "macro recall", "macro f1"} {
		check(m)
	}
	return out
}

// WriteCSV writes one row per finding, then the macro average and, when
// paper is not nil, the paper's average F1. Undefined values are empty.
// The last column, warning, repeats e.Warning on every row.
func (e *Evaluation) WriteCSV(w io.Writer, paper *Headline) error {
	cw := csv.NewWriter(w)
	num := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', 4, 64)
	}
	row := func(name string, c *Counts, p, r, f float64, pci, rci, fci Interval, ref string) {
		rec := []string{name, "", "", "", "", "", ""}
		if c != nil {
			rec = []string{name, strconv.Itoa(c.N()), strconv.Itoa(c.TP), strconv.Itoa(c.FP), strconv.Itoa(c.FN),
				strconv.Itoa(c.TN), strconv.Itoa(c.Excluded())}
		}
		rec = append(rec, num(p), num(pci.Lo), num(pci.Hi), num(r), num(rci.Lo), num(rci.Hi), num(f), num(fci.Lo), num(fci.Hi), ref, e.Warning)
		cw.Write(rec)
	}
	cw.Write([]string{"finding", "n", "tp", "fp", "fn", "tn", "excluded", "precision", "precision_lo", "precision_hi",
		"recall", "recall_lo", "recall_hi", "f1", "f1_lo", "f1_hi", "paper_f1", "warning"})
	for i := range e.Findings {
		s := &e.Findings[i]
		row(s.Observation.String(), &s.Counts, s.Precision, s.Recall, s.F1, s.PrecisionCI, s.RecallCI, s.F1CI, "")
	}
	ref := ""
	if paper != nil {
		ref = num(paper.F1)
	}
	row("Macro average", nil, e.MacroPrecision, e.MacroRecall, e.MacroF1, e.MacroPrecisionCI, e.MacroRecallCI, e.MacroF1CI, ref)
	cw.Flush()
	return cw.Error()
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}
