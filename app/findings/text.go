package findings

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text handling: tokens keep byte offsets into the original text so that a
// deciding sentence can be selected in an editor, and matching works on an
// ASCII-lowercased copy of the same length.

type tokKind uint8

const (
	tWord tokKind = iota
	tNum
	tPunct
)

type token struct {
	start, end int    // byte offsets in the original text
	w          string // lowercased text; "or" for a slash between words
	kind       tokKind
	nl         int // newlines in the whitespace before the token
}

// lowerASCII lowercases ASCII letters only, so byte offsets stay valid.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool       { return c >= '0' && c <= '9' }

// wordRuneAt reports whether a word continues at s[i] and the byte length of
// that character.
func wordRuneAt(s string, i int) (bool, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return isASCIILetter(c) || isDigit(c), 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return unicode.IsLetter(r) || unicode.IsDigit(r), n
}

func wordAt(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return false
	}
	ok, _ := wordRuneAt(s, i)
	return ok
}

// wordBefore reports whether the character ending at byte i-1 is a word
// character.
func wordBefore(s string, i int) bool {
	if i <= 0 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// tokenize splits text into words, numbers and punctuation. lower is the
// ASCII-lowercased text. Hyphens inside words separate them without a token
// ("x-ray" is "x" "ray"); a slash between words becomes the word "or", as
// the CheXpert labeler rewrites "a/b" to "a or b" and "and/or" to "or".
func tokenize(text, lower string, toks []token) []token {
	nl := 0
	n := len(text)
	for i := 0; i < n; {
		c := text[i]
		switch c {
		case '\n':
			nl++
			i++
			continue
		case ' ', '\t', '\r', '\f', '\v':
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(text[i:])
			if unicode.IsSpace(r) {
				if r == '\u2028' || r == '\u2029' || r == '\u0085' {
					nl++
				}
				i += size
				continue
			}
		}
		if ok, size := wordRuneAt(text, i); ok {
			start := i
			numeric := isDigit(c)
			i += size
			for i < n {
				if ok, size := wordRuneAt(text, i); ok {
					i += size
					continue
				}
				d := text[i]
				// can't, patient's
				if d == '\'' && i+1 < n && isASCIILetter(text[i+1]) && isASCIILetter(text[i-1]) {
					i++
					continue
				}
				// 2.5 cm, 1,200
				if numeric && (d == '.' || d == ',') && i+1 < n && isDigit(text[i+1]) && isDigit(text[i-1]) {
					i++
					continue
				}
				break
			}
			k := tWord
			if numeric {
				k = tNum
			}
			w := lower[start:i]
			if !isASCII(w) {
				w = strings.ToLower(w) // offsets stay those of the original text
			}
			toks = append(toks, token{start: start, end: i, w: w, kind: k, nl: nl})
			nl = 0
			continue
		}
		size := 1
		if c >= utf8.RuneSelf {
			_, size = utf8.DecodeRuneInString(text[i:])
		}
		if c == '-' && wordBefore(text, i) && wordAt(text, i+1) {
			i++ // a hyphen inside a word only separates
			continue
		}
		toks = append(toks, token{start: i, end: i + size, w: lower[i : i+size], kind: tPunct, nl: nl})
		nl = 0
		i += size
	}
	return joinSlashes(toks)
}

// joinSlashes rewrites word/word: "r/o" becomes one token (rule out),
// "and/or" and "a/b" become "or".
func joinSlashes(toks []token) []token {
	out := toks[:0]
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.w == "/" && len(out) > 0 && i+1 < len(toks) {
			prev, next := out[len(out)-1], toks[i+1]
			if prev.kind == tWord && next.kind == tWord && prev.end == t.start && t.end == next.start {
				switch {
				case prev.w == "r" && next.w == "o":
					out[len(out)-1] = token{start: prev.start, end: next.end, w: "r/o", kind: tWord, nl: prev.nl}
					i++
					continue
				case prev.w == "and" && next.w == "or":
					out[len(out)-1] = token{start: prev.start, end: next.end, w: "or", kind: tWord, nl: prev.nl}
					i++
					continue
				}
				t.w = "or"
				t.kind = tWord
			}
		}
		out = append(out, t)
	}
	return out
}

// section is the kind of report section a sentence belongs to.
type section uint8

const (
	secNone       section = iota // before any recognised header
	secFindings                  // FINDINGS
	secImpression                // IMPRESSION, CONCLUSION, OPINION, SUMMARY
	secSkipped                   // INDICATION, HISTORY, COMPARISON, TECHNIQUE...
	secHeader                    // the header itself
)

type header struct {
	words []string
	sec   section
}

// headers are the section titles recognised when followed by a colon at the
// start of a line or sentence. Sections that describe why the study was
// done or how (indication, history, comparison, technique) are skipped by
// default: a history of pneumonia is not a finding of this study.
var headers = []header{
	{[]string{"findings", "and", "impression"}, secFindings},
	{[]string{"findings"}, secFindings},
	{[]string{"finding"}, secFindings},
	{[]string{"impression"}, secImpression},
	{[]string{"impressions"}, secImpression},
	{[]string{"conclusion"}, secImpression},
	{[]string{"conclusions"}, secImpression},
	{[]string{"opinion"}, secImpression},
	{[]string{"summary"}, secImpression},
	{[]string{"interpretation"}, secImpression},
	{[]string{"indication"}, secSkipped},
	{[]string{"indications"}, secSkipped},
	{[]string{"history"}, secSkipped},
	{[]string{"clinical", "history"}, secSkipped},
	{[]string{"clinical", "indication"}, secSkipped},
	{[]string{"clinical", "information"}, secSkipped},
	{[]string{"clinical", "data"}, secSkipped},
	{[]string{"clinical", "details"}, secSkipped},
	{[]string{"clinical", "notes"}, secSkipped},
	{[]string{"reason", "for", "exam"}, secSkipped},
	{[]string{"reason", "for", "examination"}, secSkipped},
	{[]string{"reason", "for", "study"}, secSkipped},
	{[]string{"comparison"}, secSkipped},
	{[]string{"comparisons"}, secSkipped},
	{[]string{"technique"}, secSkipped},
	{[]string{"exam"}, secSkipped},
	{[]string{"examination"}, secSkipped},
	{[]string{"type", "of", "examination"}, secSkipped},
	{[]string{"procedure"}, secSkipped},
	{[]string{"notification"}, secSkipped},
	{[]string{"wet", "read"}, secSkipped},
	{[]string{"recommendation"}, secSkipped},
	{[]string{"recommendations"}, secSkipped},
}

// matchHeader returns the length in tokens (colon included) of a section
// header starting at toks[i], or 0.
func matchHeader(toks []token, i int) (int, section) {
	for _, h := range headers {
		j := i + len(h.words)
		if j >= len(toks) || toks[j].w != ":" {
			continue
		}
		ok := true
		for k, w := range h.words {
			if toks[i+k].w != w {
				ok = false
				break
			}
		}
		if ok {
			return len(h.words) + 1, h.sec
		}
	}
	return 0, 0
}

type sentence struct {
	first, last int // token range [first, last)
	start, end  int // byte span in the text
	sec         section
}

// abbreviations end in a period that does not end a sentence.
var abbreviations = map[string]bool{
	"vs": true, "v": true, "dr": true, "mr": true, "mrs": true, "ms": true,
	"approx": true, "fig": true, "eg": true, "ie": true, "cf": true, "st": true,
}

// maxSentenceTokens bounds a sentence: rules look at a sentence as a whole,
// so unpunctuated text (a pasted table, a model that never stops) is cut
// into pieces to keep labelling linear in the length of the text.
const maxSentenceTokens = 200

// splitSentences groups tokens into sentences: a period, question or
// exclamation mark followed by space ends one, as do blank lines, numbered
// or bulleted list items that start a line, and section headers. Single
// newlines do not: MIMIC-CXR reports are hard-wrapped.
func splitSentences(text string, toks []token, out []sentence) []sentence {
	sec := secNone
	first := 0
	flush := func(last int) {
		if last > first {
			out = append(out, sentence{first: first, last: last, start: toks[first].start, end: toks[last-1].end, sec: sec})
		}
		first = last
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		lineStart := i == 0 || t.nl > 0
		if i > first && (t.nl >= 2 || t.nl >= 1 && listMarker(toks, i) || i-first >= maxSentenceTokens) {
			flush(i)
		}
		if lineStart || i == first {
			if n, s := matchHeader(toks, i); n > 0 {
				flush(i)
				sec = s
				save := sec
				sec = secHeader
				flush(i + n)
				sec = save
				i += n - 1
				continue
			}
		}
		switch t.w {
		case ".":
			if endsSentence(text, toks, i) {
				flush(i + 1)
			}
		case "?", "!":
			if t.end >= len(text) || !wordAt(text, t.end) {
				flush(i + 1)
			}
		}
	}
	flush(len(toks))
	return out
}

func listMarker(toks []token, i int) bool {
	t := toks[i]
	switch t.w {
	case "-", "*", "\u2022", "\u2013", "\u2014":
		return true
	}
	if t.kind == tNum && i+1 < len(toks) && (toks[i+1].w == "." || toks[i+1].w == ")") && toks[i+1].start == t.end {
		return true
	}
	return false
}

func endsSentence(text string, toks []token, i int) bool {
	t := toks[i]
	if t.end < len(text) {
		c := text[t.end]
		// "e.g" or a decimal the tokenizer did not join: the period is inside a word.
		if isDigit(c) || c >= 'a' && c <= 'z' {
			return false
		}
	}
	if i > 0 && toks[i-1].end == t.start {
		p := toks[i-1]
		if abbreviations[p.w] {
			return false
		}
		// e.g. i.e.: a single letter after another period
		if len(p.w) == 1 && p.kind == tWord && i > 1 && toks[i-2].w == "." && toks[i-2].end == p.start {
			return false
		}
	}
	return true
}
