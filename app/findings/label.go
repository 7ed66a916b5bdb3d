package findings

import (
	"fmt"
	"strings"
)

// Span is a byte range [Start, End) of the labelled text.
type Span struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// Empty reports whether the span covers nothing.
func (s Span) Empty() bool { return s.End <= s.Start }

// In returns the text the span covers, or "" when it lies outside text.
func (s Span) In(text string) string {
	if s.Empty() || s.Start < 0 || s.End > len(text) {
		return ""
	}
	return text[s.Start:s.End]
}

// Mention is one phrase that names an observation, with the status its
// sentence gives it.
type Mention struct {
	Observation Observation `json:"observation"`
	Status      Status      `json:"status"`
	Phrase      Span        `json:"phrase"`   // the words that name the observation
	Cue         Span        `json:"cue"`      // the words that made it negative or uncertain; empty otherwise
	Sentence    Span        `json:"sentence"` // the sentence it is in
}

// Finding is a report's label for one observation and the mention that
// decided it: the first mention whose status equals the label.
type Finding struct {
	Observation Observation `json:"observation"`
	Status      Status      `json:"status"`
	Sentence    Span        `json:"sentence"` // empty when not mentioned
	Phrase      Span        `json:"phrase"`
	Cue         Span        `json:"cue"`
}

// Result is the labelling of one report.
type Result struct {
	// Findings is indexed by Observation.
	Findings [NumObservations]Finding
	// Mentions lists every mention in text order, including the uncertain
	// Cardiomegaly mentions that "chf" and "heart failure" add.
	Mentions []Mention
}

// Status returns the label of o.
func (r Result) Status(o Observation) Status {
	if !o.Valid() {
		return NotMentioned
	}
	return r.Findings[o].Status
}

// Sections chooses which parts of a report are labelled.
type Sections int

// Section choices. SectionsAuto skips sections about why and how the study
// was done (indication, history, comparison, technique...) and labels the
// rest; text without recognised headers is labelled whole. SectionsAll
// labels everything. SectionsImpression labels the impression (or
// conclusion) only, else the findings, else behaves like SectionsAuto: the
// CheXpert labeler was run on impressions.
const (
	SectionsAuto Sections = iota
	SectionsAll
	SectionsImpression
)

// String returns "auto", "all" or "impression".
func (s Sections) String() string {
	switch s {
	case SectionsAuto:
		return "auto"
	case SectionsAll:
		return "all"
	case SectionsImpression:
		return "impression"
	}
	return fmt.Sprintf("Sections(%d)", int(s))
}

// ParseSections reads "auto", "all" or "impression".
func ParseSections(s string) (Sections, error) {
	switch strings.ToLower(s) {
	case "auto", "":
		return SectionsAuto, nil
	case "all":
		return SectionsAll, nil
	case "impression":
		return SectionsImpression, nil
	}
	return 0, fmt.Errorf("sections %q: want auto, all or impression", s)
}

// Label labels report text for the 14 CheXpert observations, skipping
// indication, history, comparison and technique sections. It is cheap
// enough to run on every keystroke: a two-page report takes well under a
// millisecond (see BenchmarkLabel).
func Label(text string) Result {
	return LabelSections(text, SectionsAuto)
}

// LabelSections labels the sections of text that sec chooses.
func LabelSections(text string, sec Sections) Result {
	var l labeler
	return l.label(text, sec)
}

type labeler struct {
	toks   []token
	sents  []sentence
	cands  []cand
	trigs  []trig
	res    Result
	others []Status // statuses of other findings, for No Finding
}

type cand struct {
	def        mentionDef
	start, end int // token indices within the sentence
	drop       bool
}

type trig struct {
	def        trigDef
	start, end int // token indices within the sentence
	lo, hi     int // scope: mentions starting in [lo, start) or [end, hi)
	drop       bool
}

func (l *labeler) label(text string, mode Sections) Result {
	lower := lowerASCII(text)
	l.toks = tokenize(text, lower, make([]token, 0, len(text)/5+8))
	l.sents = splitSentences(text, l.toks, nil)
	use := chooseSections(l.sents, mode)
	for _, s := range l.sents {
		if use[s.sec] {
			l.sentence(s)
		}
	}
	l.aggregate(use)
	return l.res
}

// chooseSections returns which sections mode labels.
func chooseSections(sents []sentence, mode Sections) [secHeader + 1]bool {
	var use [secHeader + 1]bool
	switch mode {
	case SectionsAll:
		use[secNone], use[secFindings], use[secImpression], use[secSkipped] = true, true, true, true
		return use
	case SectionsImpression:
		var has [secHeader + 1]bool
		for _, s := range sents {
			has[s.sec] = true
		}
		if has[secImpression] {
			use[secImpression] = true
			return use
		}
		if has[secFindings] {
			use[secFindings] = true
			return use
		}
	}
	use[secNone], use[secFindings], use[secImpression] = true, true, true
	return use
}

func (l *labeler) sentence(s sentence) {
	st := l.toks[s.first:s.last]
	l.cands = l.cands[:0]
	l.trigs = l.trigs[:0]
	for i := range st {
		lex.mentions.each(st, i, func(d mentionDef, end int) {
			l.cands = append(l.cands, cand{def: d, start: i, end: end})
		})
		lex.triggers.each(st, i, func(d trigDef, end int) {
			l.trigs = append(l.trigs, trig{def: d, start: i, end: end})
		})
	}
	if len(l.cands) == 0 {
		return
	}
	l.pruneMentions(st)
	l.pruneTriggers()
	for i := range l.trigs {
		t := &l.trigs[i]
		t.lo, t.hi = t.start, t.end
		if t.def.dir&bwd != 0 {
			t.lo = bwdScope(st, t.start)
		}
		if t.def.dir&fwd != 0 {
			t.hi = fwdScope(st, t.end)
		}
	}
	sentSpan := Span{s.start, s.end}
	for _, c := range l.cands {
		if c.drop {
			continue
		}
		status, cue := l.classify(st, c)
		m := Mention{
			Observation: c.def.obs,
			Status:      status,
			Phrase:      Span{st[c.start].start, st[c.end-1].end},
			Sentence:    sentSpan,
		}
		if cue != nil {
			m.Cue = Span{st[cue.start].start, st[cue.end-1].end}
		}
		if c.def.obs == otherFinding {
			l.others = append(l.others, status)
			continue
		}
		l.res.Mentions = append(l.res.Mentions, m)
		// The CheXpert labeler adds an uncertain Cardiomegaly for "chf"
		// and "heart failure" that are positive or uncertain.
		if c.def.flags&fCHF != 0 && (status == Positive || status == Uncertain) {
			m.Observation = Cardiomegaly
			m.Status = Uncertain
			l.res.Mentions = append(l.res.Mentions, m)
		}
	}
}

// pruneMentions drops mentions covered by an unmention phrase of their
// observation and mentions inside a longer mention of the same observation.
func (l *labeler) pruneMentions(st []token) {
	var done [NumObservations + 1]bool
	for i := range l.cands {
		obs := l.cands[i].def.obs
		if done[obs] {
			continue
		}
		done[obs] = true
		for j := range st {
			lex.unmentions[obs].each(st, j, func(_ struct{}, end int) {
				for k := range l.cands {
					c := &l.cands[k]
					if c.def.obs == obs && c.start < end && c.end > j {
						c.drop = true
					}
				}
			})
		}
	}
	for i := range l.cands {
		a := &l.cands[i]
		for j := range l.cands {
			b := &l.cands[j]
			if i == j || a.drop || b.drop || a.def.obs != b.def.obs {
				continue
			}
			// b lies within a: keep the longer, or the first of two equal ones.
			if b.start >= a.start && b.end <= a.end && (b.end-b.start < a.end-a.start || j > i) {
				b.drop = true
			}
		}
	}
	// Text order, for Mentions and for "first deciding mention".
	for i := 1; i < len(l.cands); i++ {
		for j := i; j > 0 && l.cands[j].start < l.cands[j-1].start; j-- {
			l.cands[j], l.cands[j-1] = l.cands[j-1], l.cands[j]
		}
	}
}

// pruneTriggers applies the suppressors. A forward one ("no significant
// change in") keeps the "no" it starts with from negating what follows;
// one that applies both ways ("in normal position") cancels every
// negation inside it, whichever way it looks.
func (l *labeler) pruneTriggers() {
	for i := range l.trigs {
		s := &l.trigs[i]
		if s.def.kind != kSuppress {
			continue
		}
		for j := range l.trigs {
			t := &l.trigs[j]
			if t.def.kind != kNeg {
				continue
			}
			switch {
			case s.def.dir == fwd && t.def.dir == fwd && t.start == s.start:
				t.drop = true
			case s.def.dir == both && t.start >= s.start && t.start < s.end:
				t.drop = true
			}
		}
	}
}

// classify decides a mention's status the CheXpert way: pre-negation
// uncertainty, then negation, then post-negation uncertainty, else
// positive. It returns the deciding trigger, if any.
func (l *labeler) classify(st []token, c cand) (Status, *trig) {
	if t := l.nearest(c, kPreUnc); t != nil {
		return Uncertain, t
	}
	if t := l.nearest(c, kNeg); t != nil {
		return Negative, t
	}
	if t := l.nearest(c, kPostUnc); t != nil {
		return Uncertain, t
	}
	if c.def.flags&fUncertain != 0 {
		return Uncertain, nil
	}
	if t := orTrigger(st, c); t != nil {
		return Uncertain, t
	}
	if c.def.flags&fNeutral != 0 {
		if t := l.nearest(c, kStable); t != nil && l.nearest(c, kAbnormal) == nil {
			return Uncertain, t
		}
	}
	return Positive, nil
}

// nearest returns the closest live trigger of kind whose scope holds c.
func (l *labeler) nearest(c cand, kind trigKind) *trig {
	var best *trig
	bestDist := 1 << 30
	for i := range l.trigs {
		t := &l.trigs[i]
		if t.drop || t.def.kind != kind || t.def.sizeOnly && c.def.flags&fNeutral == 0 {
			continue
		}
		// Triggers that overlap the mention ("enlarged heart") count for
		// the abnormal check only.
		var d int
		switch {
		case c.start >= t.end && c.start < t.hi:
			d = c.start - t.end
		case c.end <= t.start && c.start >= t.lo:
			d = t.start - c.end
		case kind == kAbnormal && c.start < t.end && c.end > t.start:
			d = 0
		default:
			continue
		}
		if d < bestDist {
			best, bestDist = t, d
		}
	}
	return best
}

// orTrigger implements "XXX or YYY" as uncertainty: a mention joined to
// another noun phrase by "or" ("atelectasis or pneumonia") is uncertain.
// It returns a synthetic trigger on the "or" token.
func orTrigger(st []token, c cand) *trig {
	j := c.end
	if j < len(st) && st[j].w == "," {
		j++
	}
	if j+1 < len(st) && st[j].w == "or" && st[j+1].kind == tWord && !orStop[st[j+1].w] {
		return &trig{start: j, end: j + 1}
	}
	for k, words := c.start-1, 0; k >= 1 && words <= 4; k-- {
		w := st[k].w
		if w == "or" {
			if words > 0 && orStop[st[k+1].w] || st[k-1].kind != tWord || orStop[st[k-1].w] {
				return nil
			}
			return &trig{start: k, end: k + 1}
		}
		if st[k].kind != tWord || stopWords[w] {
			return nil
		}
		words++
	}
	return nil
}

// orStop are words around "or" that do not join two findings.
var orStop = map[string]bool{
	"more": true, "less": true, "both": true, "not": true, "no": true, "without": true,
	"other": true, "either": true, "with": true, "and": true,
}

// stopWords end the backward walk from a mention to an "or".
var stopWords = map[string]bool{
	"and": true, "with": true, "of": true, "in": true, "at": true, "to": true, "for": true,
	"is": true, "are": true, "was": true, "were": true, "no": true, "without": true, "the": true,
}

// Scope rules stand in for the dependency parse the CheXpert labeler uses.

// hardStops end every scope.
var hardStops = map[string]bool{
	";": true, ":": true, "but": true, "however": true, "although": true, "though": true,
	"whereas": true, "while": true, "which": true, "who": true, "except": true, "aside": true,
	"apart": true, "yet": true, "with": true, "since": true, "because": true, "given": true,
	"otherwise": true,
}

// withVerbs keep "with" inside a scope: "may be consistent with pneumonia".
var withVerbs = map[string]bool{"consistent": true, "compatible": true, "associated": true}

// verbs mark a clause; a second verb ends a backward scope.
var verbs = map[string]bool{
	"is": true, "are": true, "was": true, "were": true, "be": true, "been": true, "has": true,
	"have": true, "had": true, "appears": true, "appear": true, "appeared": true, "remains": true,
	"remain": true, "remained": true, "seems": true, "seem": true, "seen": true, "noted": true,
	"identified": true, "demonstrated": true, "visualized": true, "present": true, "persists": true,
	"persist": true, "shows": true, "show": true, "demonstrates": true, "reveals": true,
	"measures": true, "projects": true, "extends": true, "terminates": true, "ends": true,
	"lies": true, "overlies": true, "there": true,
}

var singularVerbs = map[string]bool{
	"is": true, "was": true, "has": true, "appears": true, "remains": true, "seems": true,
	"persists": true, "shows": true, "demonstrates": true, "reveals": true, "measures": true,
}

var pluralVerbs = map[string]bool{
	"are": true, "were": true, "have": true, "appear": true, "remain": true, "seem": true,
	"persist": true, "show": true,
}

// clauseStarters after a comma or "and" begin a new clause.
var clauseStarters = map[string]bool{
	"the": true, "there": true, "this": true, "these": true, "a": true, "an": true,
	"it": true, "is": true, "are": true, "otherwise": true, "however": true, "which": true,
}

// severities after a comma or "and" begin a new, positive, finding.
var severities = map[string]bool{
	"mild": true, "mildly": true, "moderate": true, "moderately": true, "severe": true,
	"severely": true, "small": true, "large": true, "tiny": true, "trace": true,
	"minimal": true, "extensive": true, "new": true, "increased": true, "increasing": true,
	"decreased": true, "decreasing": true, "worsening": true, "worsened": true,
	"improved": true, "improving": true, "persistent": true, "residual": true,
	"stable": true, "unchanged": true, "slight": true, "subtle": true, "marked": true,
	"massive": true, "moderate-sized": true, "layering": true, "loculated": true,
}

const (
	maxFwdWords = 12
	maxBwdWords = 10
)

// fwdScope returns the end (exclusive) of the scope of a trigger that
// applies forward from token j.
func fwdScope(st []token, j int) int {
	words := 0
	afterVerb := false
	for ; j < len(st); j++ {
		w := st[j].w
		if hardStops[w] && !(w == "with" && j > 0 && withVerbs[st[j-1].w]) {
			return j
		}
		if w == "," || w == "and" {
			if afterVerb {
				return j
			}
			// "no pneumothorax, bibasilar atelectasis" ends the negation
			// at the comma; "no consolidation, large effusion, or
			// pneumothorax" is one negated list, closed by its "or".
			if w == "," && !listAhead(st, j+1) {
				return j
			}
			if j+1 < len(st) {
				n := st[j+1].w
				if clauseStarters[n] || severities[n] && w == "and" {
					return j
				}
			}
			if w == "and" && clauseAhead(st, j+1) {
				return j
			}
		}
		if verbs[w] {
			afterVerb = true
		}
		if st[j].kind != tPunct {
			words++
			if words > maxFwdWords {
				return j
			}
		}
	}
	return j
}

// listAhead reports whether a conjunction closes a list in the same
// clause: "or" or "nor", or an "and" that joins one more finding rather
// than a clause ("and the heart is normal", "and small effusions").
func listAhead(st []token, j int) bool {
	for ; j < len(st); j++ {
		w := st[j].w
		switch {
		case w == "or" || w == "nor":
			return true
		case w == "and":
			if j+1 >= len(st) {
				return false
			}
			n := st[j+1].w
			return !clauseStarters[n] && !severities[n] && !clauseAhead(st, j+1)
		case hardStops[w] || verbs[w] && w != "present":
			return false
		}
	}
	return false
}

// clauseAhead reports whether the words from j to the next comma or
// conjunction contain a verb: "no effusion and heart size is normal".
func clauseAhead(st []token, j int) bool {
	for ; j < len(st); j++ {
		w := st[j].w
		switch w {
		case ",", "and", "or", "nor":
			return false
		}
		if hardStops[w] {
			return false
		}
		if verbs[w] && w != "present" {
			return true
		}
	}
	return false
}

// bwdScope returns the start of the scope of a trigger at token j that
// applies backward. Coordinated subjects ("heart and mediastinum are
// normal") share the trigger only when the verb is plural or missing.
func bwdScope(st []token, j int) int {
	words, nverbs := 0, 0
	// A trigger that starts with its verb ("has resolved") says at once
	// whether the subject is one thing.
	singular := singularVerbs[st[j].w]
	plural := false
	crossed := false
	for k := j - 1; k >= 0; k-- {
		w := st[k].w
		if hardStops[w] {
			return k + 1
		}
		if verbs[w] && w != "there" {
			// "has been removed", "appears to be normal": a verb chain is
			// one verb.
			chained := k+1 < j && verbs[st[k+1].w] ||
				k+2 < j && st[k+1].w == "to" && verbs[st[k+2].w]
			if !chained {
				nverbs++
			}
			if nverbs > 1 {
				return k + 1
			}
			singular = singular || singularVerbs[w]
			plural = plural || pluralVerbs[w]
		}
		switch w {
		case "and", "or", "nor", ",":
			// "effusion and the pneumothorax resolved": a new subject
			// starts after the conjunction, unless a plural verb
			// shares it ("the heart and the mediastinum are normal").
			if singular || !plural && k+1 < j && clauseStarters[st[k+1].w] {
				return k + 1
			}
			if w == "," && !crossed {
				return k + 1
			}
			crossed = true
		}
		if st[k].kind != tPunct {
			words++
			if words > maxBwdWords {
				return k + 1
			}
		}
	}
	return 0
}

func (l *labeler) aggregate(use [secHeader + 1]bool) {
	rank := func(s Status) int {
		switch s {
		case Positive:
			return 3
		case Uncertain:
			return 2
		case Negative:
			return 1
		}
		return 0
	}
	for i := range l.res.Findings {
		l.res.Findings[i].Observation = Observation(i)
	}
	for _, m := range l.res.Mentions {
		f := &l.res.Findings[m.Observation]
		if rank(m.Status) > rank(f.Status) {
			*f = Finding{Observation: m.Observation, Status: m.Status, Sentence: m.Sentence, Phrase: m.Phrase, Cue: m.Cue}
		}
	}
	labelled := false
	for _, s := range l.sents {
		labelled = labelled || use[s.sec]
	}
	if !labelled {
		return
	}
	for o := EnlargedCardiomediastinum; o < SupportDevices; o++ {
		if s := l.res.Findings[o].Status; s == Positive || s == Uncertain {
			return
		}
	}
	for _, s := range l.others {
		if s == Positive || s == Uncertain {
			return
		}
	}
	nf := &l.res.Findings[NoFinding]
	nf.Status = Positive
	for _, s := range l.sents {
		if !use[s.sec] {
			continue
		}
		st := l.toks[s.first:s.last]
		for i := range st {
			found := false
			lex.nfCues.each(st, i, func(_ struct{}, end int) {
				if !found {
					found = true
					nf.Phrase = Span{st[i].start, st[end-1].end}
				}
			})
			if found {
				nf.Sentence = Span{s.start, s.end}
				return
			}
		}
	}
}
