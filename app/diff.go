package app

import (
	"fmt"
	"strconv"
	"strings"
)

// The audit trail records each user edit as a line-based unified diff.
// Texts are split at "\n" (strings.Split), so joining the lines with "\n"
// gives the text back byte for byte, trailing newline or not.

// diffContext is the number of unchanged lines shown around each change.
const diffContext = 2

// maxDiffCells bounds the LCS table; past it the changed middle of the two
// texts is recorded as one replacement (still exact, only less minimal).
const maxDiffCells = 4 << 20

type opKind byte

const (
	opEqual  opKind = ' '
	opDelete opKind = '-'
	opInsert opKind = '+'
)

type diffOp struct {
	kind opKind
	line string
}

// lineOps returns the edit script turning a into b.
func lineOps(a, b []string) []diffOp {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ops := make([]diffOp, 0, len(a)+len(b))
	for _, l := range a[:pre] {
		ops = append(ops, diffOp{opEqual, l})
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	if len(ma)*len(mb) > maxDiffCells {
		for _, l := range ma {
			ops = append(ops, diffOp{opDelete, l})
		}
		for _, l := range mb {
			ops = append(ops, diffOp{opInsert, l})
		}
	} else {
		ops = append(ops, lcsOps(ma, mb)...)
	}
	for _, l := range a[len(a)-suf:] {
		ops = append(ops, diffOp{opEqual, l})
	}
	return ops
}

// lcsOps is the textbook longest-common-subsequence edit script; the
// middle of two report versions is small, so O(n·m) is fine.
func lcsOps(a, b []string) []diffOp {
	n, m := len(a), len(b)
	// t[i][j] = LCS length of a[i:] and b[j:], in one flat slice.
	t := make([]int32, (n+1)*(m+1))
	at := func(i, j int) int32 { return t[i*(m+1)+j] }
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			v := max(at(i+1, j), at(i, j+1))
			if a[i] == b[j] {
				v = at(i+1, j+1) + 1
			}
			t[i*(m+1)+j] = v
		}
	}
	var ops []diffOp
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			ops = append(ops, diffOp{opEqual, a[i]})
			i++
			j++
		case at(i+1, j) >= at(i, j+1):
			ops = append(ops, diffOp{opDelete, a[i]})
			i++
		default:
			ops = append(ops, diffOp{opInsert, b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		ops = append(ops, diffOp{opDelete, a[i]})
	}
	for ; j < m; j++ {
		ops = append(ops, diffOp{opInsert, b[j]})
	}
	return ops
}

// Diff returns a unified diff (without file headers) from old to new, or ""
// when they are equal.
func Diff(old, new string) string {
	if old == new {
		return ""
	}
	ops := lineOps(strings.Split(old, "\n"), strings.Split(new, "\n"))
	var b strings.Builder
	// Walk the script, cutting it into hunks of changes with up to
	// diffContext equal lines around them; changes closer than
	// 2·diffContext lines share a hunk.
	ai, bi := 0, 0 // line index in old and new at ops[k]
	k := 0
	for k < len(ops) {
		if ops[k].kind == opEqual {
			ai++
			bi++
			k++
			continue
		}
		// A change starts at k: back up over leading context.
		start := k
		ctx := 0
		for start > 0 && ops[start-1].kind == opEqual && ctx < diffContext {
			start--
			ctx++
		}
		a0, b0 := ai-ctx, bi-ctx
		// Extend until a run of more than 2·diffContext equal lines (or the end).
		end := k
		for end < len(ops) {
			if ops[end].kind != opEqual {
				end++
				continue
			}
			run := 0
			for end+run < len(ops) && ops[end+run].kind == opEqual {
				run++
			}
			if end+run == len(ops) || run > 2*diffContext {
				end += min(run, diffContext)
				break
			}
			end += run
		}
		na, nb := 0, 0
		for _, op := range ops[start:end] {
			if op.kind != opInsert {
				na++
			}
			if op.kind != opDelete {
				nb++
			}
		}
		fmt.Fprintf(&b, "@@ -%s +%s @@\n", hunkRange(a0, na), hunkRange(b0, nb))
		for _, op := range ops[start:end] {
			b.WriteByte(byte(op.kind))
			b.WriteString(op.line)
			b.WriteByte('\n')
		}
		ai, bi = a0+na, b0+nb
		k = end
	}
	return b.String()
}

// hunkRange is "start,count" with start 1-based, as diff -u writes it (an
// empty range names the line before it).
func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprint(start + 1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

// Patch applies a diff made by Diff to old. It fails when old is not the
// text the diff was made from.
func Patch(old, diff string) (string, error) {
	if diff == "" {
		return old, nil
	}
	a := strings.Split(old, "\n")
	var out []string
	pos := 0 // next unconsumed line of a
	lines := strings.Split(strings.TrimSuffix(diff, "\n"), "\n")
	for i := 0; i < len(lines); {
		h := lines[i]
		var a0, na int
		if !strings.HasPrefix(h, "@@ -") {
			return "", fmt.Errorf("patch: line %d: want a hunk header, got %q", i+1, h)
		}
		fields := strings.Fields(h)
		if len(fields) < 3 {
			return "", fmt.Errorf("patch: line %d: bad hunk header %q", i+1, h)
		}
		var err error
		if a0, na, err = parseRange(strings.TrimPrefix(fields[1], "-")); err != nil {
			return "", fmt.Errorf("patch: line %d: %v", i+1, err)
		}
		if na > 0 {
			a0-- // 1-based start of a non-empty range
		}
		if a0 < pos || a0 > len(a) {
			return "", fmt.Errorf("patch: line %d: hunk at line %d out of order", i+1, a0+1)
		}
		out = append(out, a[pos:a0]...)
		pos = a0
		i++
		for ; i < len(lines) && !strings.HasPrefix(lines[i], "@@ "); i++ {
			l := lines[i]
			if l == "" {
				return "", fmt.Errorf("patch: line %d is empty", i+1)
			}
			kind, text := opKind(l[0]), l[1:]
			switch kind {
			case opEqual, opDelete:
				if pos >= len(a) || a[pos] != text {
					return "", fmt.Errorf("patch: line %d does not match the text at line %d", i+1, pos+1)
				}
				if kind == opEqual {
					out = append(out, text)
				}
				pos++
			case opInsert:
				out = append(out, text)
			default:
				return "", fmt.Errorf("patch: line %d starts with %q", i+1, l[0])
			}
		}
	}
	out = append(out, a[pos:]...)
	return strings.Join(out, "\n"), nil
}

func parseRange(s string) (start, n int, err error) {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		b = "1"
	}
	if start, err = strconv.Atoi(a); err != nil {
		return 0, 0, fmt.Errorf("bad range %q", s)
	}
	if n, err = strconv.Atoi(b); err != nil {
		return 0, 0, fmt.Errorf("bad range %q", s)
	}
	return start, n, nil
}
