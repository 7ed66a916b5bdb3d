package findings

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// codes are the short column names of testdata/sentences.tsv.
var codes = map[string]Observation{
	"NF": NoFinding, "EC": EnlargedCardiomediastinum, "CM": Cardiomegaly, "LL": LungLesion,
	"LO": LungOpacity, "ED": Edema, "CO": Consolidation, "PN": Pneumonia, "AT": Atelectasis,
	"PX": Pneumothorax, "PE": PleuralEffusion, "PO": PleuralOther, "FR": Fracture, "SD": SupportDevices,
}

func codeOf(o Observation) string {
	for c, v := range codes {
		if v == o {
			return c
		}
	}
	return "?"
}

type tableRow struct {
	line     int
	text     string
	want     [NumObservations]Status
	accepted string // why a known disagreement is accepted
}

func readTable(t testing.TB, path string) []tableRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []tableRow
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) < 2 || len(cols) > 3 {
			t.Fatalf("%s:%d: want 2 or 3 tab-separated columns, have %d", path, n, len(cols))
		}
		r := tableRow{line: n, text: strings.ReplaceAll(cols[0], `\n`, "\n")}
		for _, f := range strings.Fields(cols[1]) {
			code, val, ok := strings.Cut(f, "=")
			o, known := codes[code]
			if !ok || !known {
				t.Fatalf("%s:%d: bad label %q", path, n, f)
			}
			v, err := strconv.Atoi(val)
			if err != nil {
				t.Fatalf("%s:%d: bad label %q", path, n, f)
			}
			switch v {
			case 1:
				r.want[o] = Positive
			case 0:
				r.want[o] = Negative
			case -1:
				r.want[o] = Uncertain
			default:
				t.Fatalf("%s:%d: bad label %q", path, n, f)
			}
		}
		if len(cols) == 3 {
			note := strings.TrimSpace(cols[2])
			if rest, ok := strings.CutPrefix(note, "accepted:"); ok {
				r.accepted = strings.TrimSpace(rest)
			} else if note != "" {
				t.Fatalf("%s:%d: a note must start with \"accepted:\"", path, n)
			}
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func formatLabels(s [NumObservations]Status) string {
	var parts []string
	for o := range Observation(NumObservations) {
		if s[o] != NotMentioned {
			parts = append(parts, fmt.Sprintf("%s=%s", codeOf(o), s[o].CheXpert()))
		}
	}
	return strings.Join(parts, " ")
}

// Agreement thresholds the labeler must keep on the sentence table. Cell
// agreement counts all 14 labels of every row; mention agreement counts
// only cells where the table or the labeler says something, so that the
// many blank-blank cells cannot hide errors.
const (
	minRows             = 200
	minCellAgreement    = 0.995
	minMentionAgreement = 0.98
	minRowAgreement     = 0.97
)

func TestSentenceTable(t *testing.T) {
	rows := readTable(t, "testdata/sentences.tsv")
	if len(rows) < minRows {
		t.Fatalf("table has %d rows, want at least %d", len(rows), minRows)
	}
	var perAgree, perTotal, perMention, perMentionAgree [NumObservations]int
	rowsAgree := 0
	var unexplained, stale []string
	for _, r := range rows {
		res := Label(r.text)
		var got [NumObservations]Status
		same := true
		for o := range Observation(NumObservations) {
			got[o] = res.Status(o)
			perTotal[o]++
			if got[o] == r.want[o] {
				perAgree[o]++
			} else {
				same = false
			}
			if got[o] != NotMentioned || r.want[o] != NotMentioned {
				perMention[o]++
				if got[o] == r.want[o] {
					perMentionAgree[o]++
				}
			}
		}
		if same {
			rowsAgree++
			if r.accepted != "" {
				stale = append(stale, fmt.Sprintf("line %d: %q now agrees; drop its \"accepted\" note", r.line, r.text))
			}
			continue
		}
		msg := fmt.Sprintf("line %d: %q\n\twant %s\n\tgot  %s", r.line, r.text, formatLabels(r.want), formatLabels(got))
		if r.accepted == "" {
			unexplained = append(unexplained, msg)
		} else {
			t.Logf("accepted disagreement (%s): %s", r.accepted, msg)
		}
	}
	var cells, cellsAgree, ment, mentAgree int
	t.Logf("%-27s %8s %14s", "observation", "cells", "mentioned")
	for o := range Observation(NumObservations) {
		cells += perTotal[o]
		cellsAgree += perAgree[o]
		ment += perMention[o]
		mentAgree += perMentionAgree[o]
		t.Logf("%-27s %7.1f%% %7.1f%% (%d)", o, 100*ratio(perAgree[o], perTotal[o]),
			100*ratio(perMentionAgree[o], perMention[o]), perMention[o])
	}
	cellRate, mentRate, rowRate := ratio(cellsAgree, cells), ratio(mentAgree, ment), ratio(rowsAgree, len(rows))
	t.Logf("overall: %d rows, rows fully right %.1f%%, cells %.2f%% (%d/%d), mentioned cells %.2f%% (%d/%d)",
		len(rows), 100*rowRate, 100*cellRate, cellsAgree, cells, 100*mentRate, mentAgree, ment)
	for _, m := range unexplained {
		t.Errorf("unexpected disagreement: %s", m)
	}
	for _, m := range stale {
		t.Errorf("%s", m)
	}
	if cellRate < minCellAgreement || mentRate < minMentionAgreement || rowRate < minRowAgreement {
		t.Errorf("agreement below threshold: cells %.4f (min %.2f), mentioned %.4f (min %.2f), rows %.4f (min %.2f)",
			cellRate, minCellAgreement, mentRate, minMentionAgreement, rowRate, minRowAgreement)
	}
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}
