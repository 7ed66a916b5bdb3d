package findings

import (
	"fmt"
	"strings"
)

// A pattern is a sequence of token items written as space-separated words:
//
//	word     the token equals word
//	pre*     the token starts with pre
//	a|b*|c   any of the alternatives
//	item?    the item may be left out
//	~N       up to N word tokens, any words
//	,        punctuation stands for itself; QMARK is "?"
//
// Matching is on lowercased tokens and returns the longest match.
type pattern struct {
	src   string
	items []item
}

type item struct {
	alts     []alt
	optional bool
	gap      int // >0: skip up to gap word tokens
}

type alt struct {
	word   string
	prefix bool
}

func (a alt) match(w string) bool {
	if a.prefix {
		return strings.HasPrefix(w, a.word)
	}
	return w == a.word
}

func (it *item) match(t *token) bool {
	for _, a := range it.alts {
		if a.match(t.w) {
			return true
		}
	}
	return false
}

// compile parses src; it panics on a malformed pattern because patterns are
// literals of this package, checked by its tests.
func compile(src string) *pattern {
	p := &pattern{src: src}
	for _, f := range strings.Fields(src) {
		var it item
		if strings.HasPrefix(f, "~") {
			var n int
			if _, err := fmt.Sscanf(f, "~%d", &n); err != nil || n <= 0 {
				panic("findings: bad gap in pattern " + src)
			}
			it.gap = n
			p.items = append(p.items, it)
			continue
		}
		if len(f) > 1 && strings.HasSuffix(f, "?") {
			it.optional = true
			f = strings.TrimSuffix(f, "?")
		}
		for _, a := range strings.Split(f, "|") {
			if a == "" {
				panic("findings: empty alternative in pattern " + src)
			}
			var al alt
			if len(a) > 1 && strings.HasSuffix(a, "*") {
				al.prefix = true
				a = strings.TrimSuffix(a, "*")
				if len(a) < 3 {
					panic("findings: prefix shorter than 3 letters in pattern " + src)
				}
			}
			if a == "QMARK" {
				a = "?"
			}
			al.word = a
			it.alts = append(it.alts, al)
		}
		p.items = append(p.items, it)
	}
	if len(p.items) == 0 || p.items[0].gap > 0 || p.items[len(p.items)-1].gap > 0 {
		panic("findings: pattern must start and end with a word: " + src)
	}
	return p
}

// matchAt returns the end (exclusive) of the longest match of p starting at
// toks[i], or -1.
func (p *pattern) matchAt(toks []token, i int) int {
	return p.match(toks, 0, i)
}

func (p *pattern) match(toks []token, k, j int) int {
	if k == len(p.items) {
		return j
	}
	it := &p.items[k]
	best := -1
	if it.gap > 0 {
		for n := 0; n <= it.gap && j+n <= len(toks); n++ {
			if n > 0 && toks[j+n-1].kind == tPunct {
				break
			}
			if e := p.match(toks, k+1, j+n); e > best {
				best = e
			}
		}
		return best
	}
	if j < len(toks) && it.match(&toks[j]) {
		best = p.match(toks, k+1, j+1)
	}
	if it.optional {
		if e := p.match(toks, k+1, j); e > best {
			best = e
		}
	}
	return best
}

// index finds the patterns that may start at a token by the token's first
// three bytes, so a sentence is scanned once whatever the number of
// patterns.
type index[T any] struct {
	byKey map[string][]entry[T]
}

type entry[T any] struct {
	pat *pattern
	val T
}

func keyOf(w string) string {
	if len(w) > 3 {
		return w[:3]
	}
	return w
}

func (x *index[T]) add(p *pattern, v T) {
	if x.byKey == nil {
		x.byKey = map[string][]entry[T]{}
	}
	seen := map[string]bool{}
	for k := 0; k < len(p.items); k++ {
		for _, a := range p.items[k].alts {
			key := keyOf(a.word)
			if !seen[key] {
				seen[key] = true
				x.byKey[key] = append(x.byKey[key], entry[T]{p, v})
			}
		}
		if !p.items[k].optional {
			break
		}
	}
}

// each calls f for every pattern that matches at toks[i], with the end of
// its longest match.
func (x *index[T]) each(toks []token, i int, f func(v T, end int)) {
	w := toks[i].w
	for _, e := range x.byKey[keyOf(w)] {
		if end := e.pat.matchAt(toks, i); end > i {
			f(e.val, end)
		}
	}
	// A literal shorter than three bytes is keyed by itself; a longer token
	// never equals it, so there is nothing more to look up.
}
